"""Wildcat: a self-hosted WhatsApp HTTP gateway."""

from wildcat.celery import app as celery_app

__all__ = ["celery_app"]
