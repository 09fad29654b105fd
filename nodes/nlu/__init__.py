"""The NLU node: intent and slots of each transcript, and whether a partial one is a complete request."""

from nodes.nlu.parser import Interpretation, is_complete, parse

__all__ = ["Interpretation", "is_complete", "parse"]
