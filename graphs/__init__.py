"""The graphs users run, by name. Each builder takes the source's class and options."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphs import asr, assistant, frontend
from pipeline import Graph, Source

GraphBuilder = Callable[..., Graph]

GRAPHS: dict[str, GraphBuilder] = {
    "frontend": frontend.build,
    "asr": asr.build,
    "assistant": assistant.build,
}
DEFAULT = "assistant"


def build(name: str, source: type[Source], source_options: dict[str, Any], **options: Any) -> Graph:
    try:
        builder = GRAPHS[name]
    except KeyError:
        raise ValueError(f"unknown graph {name!r}: choose from {', '.join(sorted(GRAPHS))}") from None
    try:
        return builder(source, source_options, **options)
    except TypeError as exc:
        raise ValueError(f"graph {name!r} does not take {', '.join(options)}: {exc}") from None
