"""Date and time formats for the operator console, overriding the locale's (times to the second)."""
