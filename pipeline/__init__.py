"""A small dataflow runtime: typed messages, nodes, graphs, and two runtimes.

It knows nothing about speech. The Ray runtime lives in `pipeline.ray_runtime`
and is imported only when used, so in-process runs never start Ray.
"""

from pipeline.graph import Edge, Graph, GraphError, NodeSpec
from pipeline.local import LocalRuntime
from pipeline.messages import (
    Control,
    EndOfStream,
    Error,
    Event,
    Message,
    Notice,
    Reset,
    UtteranceMessage,
    Watermark,
    now_ns,
)
from pipeline.node import MAX_ERRORS_PER_STREAM, Node, Source, one_line, rounds
from pipeline.runtime import Runtime

__all__ = [
    "MAX_ERRORS_PER_STREAM",
    "Control",
    "Edge",
    "EndOfStream",
    "Error",
    "Event",
    "Graph",
    "GraphError",
    "LocalRuntime",
    "Message",
    "Node",
    "NodeSpec",
    "Notice",
    "Reset",
    "Runtime",
    "Source",
    "UtteranceMessage",
    "Watermark",
    "make_runtime",
    "now_ns",
    "one_line",
    "rounds",
]


def make_runtime(graph: Graph, kind: str = "local", **options: object) -> Runtime:
    """`local` (in-process; option: max_queued) or `ray` (actors; options: address, fuse, batch, max_inflight,
    replicas)."""
    if kind == "local":
        return LocalRuntime(graph, **options)  # type: ignore[arg-type]
    if kind == "ray":
        from pipeline.ray_runtime import RayRuntime

        return RayRuntime(graph, **options)  # type: ignore[arg-type]
    raise ValueError(f"unknown runtime {kind!r}: use 'local' or 'ray'")
