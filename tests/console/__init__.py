"""The operator console: admin forms, the dashboard, and the operator scenario in a real browser."""
