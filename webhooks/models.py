"""Webhook endpoints, events, deliveries and attempts."""
