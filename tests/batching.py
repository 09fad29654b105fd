"""Helpers for the batched-equals-one-by-one tests: several demo recordings as concurrent streams."""

from __future__ import annotations

from typing import Any

import numpy as np

from audio.files import load
from nodes.messages import AudioChunk
from pipeline import Message, Node
from tests.conftest import DEMO


def demo_audio() -> list[np.ndarray]:
    """Every demo recording at 16 kHz, mono."""
    return [load(p) for p in sorted(DEMO.iterdir()) if p.suffix in (".wav", ".flac", ".ogg")]


def deliveries(signals: list[np.ndarray], sizes: list[int]) -> list[list[AudioChunk]]:
    """Stream i (`s{i}`) cut into chunks of `sizes[i]` samples; delivery k holds chunk k of every stream that
    still has one, as the runtime hands a node the streams of one moment. Streams of different lengths and
    chunk sizes make the batches ragged (a stream ends, another completes no window)."""
    chunks = [
        [
            AudioChunk(stream=f"s{i}", start=a, end=min(a + n, len(x)), samples=x[a : a + n].copy())
            for a in range(0, len(x), n)
        ]
        for i, (x, n) in enumerate(zip(signals, sizes, strict=True))
    ]
    return [[c[k] for c in chunks if k < len(c)] for k in range(max(len(c) for c in chunks))]


def batched(node: Node, batches: list[list[Message]], states: dict[str, Any] | None = None) -> dict[str, list[Message]]:
    """The node's output per stream, each delivery handed to `on_batch` whole (`states`: filled with the
    streams' states)."""
    states = {} if states is None else states
    out: dict[str, list[Message]] = {}
    for batch in batches:
        items = [(m, states.setdefault(m.stream, node.new_state(m.stream))) for m in batch]
        for m in node.on_batch(items):
            out.setdefault(m.stream, []).append(m)
    return out


def one_by_one(
    node: Node, batches: list[list[Message]], states: dict[str, Any] | None = None
) -> dict[str, list[Message]]:
    """The node's output per stream, each stream alone, message by message (`states`: filled with the
    streams' states)."""
    states = {} if states is None else states
    out: dict[str, list[Message]] = {}
    for stream in dict.fromkeys(m.stream for b in batches for m in b):
        st = states[stream] = node.new_state(stream)
        out[stream] = [o for b in batches for m in b if m.stream == stream for o in node.on_message(m, st)]
    return out
