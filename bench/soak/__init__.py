"""The soak: every fault at once, counted to the last message."""
