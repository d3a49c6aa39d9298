"""Request handlers, one module per surface."""
