"""Messages and media."""
