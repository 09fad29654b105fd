"""Character output units of the recogniser: blank, space, a-z and the apostrophe."""

from __future__ import annotations

BLANK = 0
CHARS = " abcdefghijklmnopqrstuvwxyz'"
VOCAB = ["<blank>", *CHARS]
_INDEX = {c: i + 1 for i, c in enumerate(CHARS)}
SPACE = _INDEX[" "]


def encode(text: str) -> list[int]:
    """Text to ids; characters outside the set are dropped, runs of spaces collapsed."""
    return [_INDEX[c] for c in " ".join(text.lower().split()) if c in _INDEX]


def decode(ids: list[int]) -> str:
    return "".join(VOCAB[i] for i in ids if i != BLANK)
