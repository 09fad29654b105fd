"""speechgraph: a streaming speech pipeline on a dataflow graph."""

__version__ = "0.1.0"
