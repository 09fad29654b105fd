"""The speech nodes: one module per kind of node."""
