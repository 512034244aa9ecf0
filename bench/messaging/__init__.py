"""Messaging benchmark: accept throughput of sends, and end-to-end send throughput through the sandbox."""
