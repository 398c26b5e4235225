"""The ASGI adapter: moves bytes between HTTP and the protocol core."""
