"""Running a node, or a small graph, on given inputs through the runtime's own delivery.

A test that calls `on_message` itself decides the order the node hears things in; in a graph the
node host decides (an event at audio time t waits until every other data input has reached t, a
feedback input never holds the others back, failures become `Error`s). `run_node` and `run_graph`
push the given messages through that host, as the in-process runtime does, and return what came
out, so a node test sees what the node would see in a real graph.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

from pipeline.executor import Executor
from pipeline.graph import Graph
from pipeline.messages import EndOfStream, Message
from pipeline.node import Node, Source

Inputs = Sequence[Message] | Mapping[str, Sequence[Message]]


class Given(Source):
    """Stands for whatever feeds a node in a test: `run_graph` pushes its messages."""

    def batches(self, t0_ns: int) -> Iterator[list[Message]]:
        return iter(())


def run_node(
    node: type[Node] | Node,
    inputs: Inputs,
    *,
    feedback: Collection[str] = (),
    edges: Mapping[str, Mapping[str, Any]] | None = None,
    end: bool = True,
    seed: int | None = None,
    restarted: bool = False,
    name: str = "node",
    **options: Any,
) -> list[Message]:
    """What `node` (a class built with `options`, or an instance) emits for `inputs`.

    `inputs` is one list of messages, or lists by input name; the inputs named in `feedback` come in
    on feedback edges, and `edges` gives other inputs' edge options (`only`, `events`, ...). With
    `restarted`, the node stands in for one that crashed (see `run_graph`).
    """
    named = dict(inputs) if isinstance(inputs, Mapping) else {"input": list(inputs)}
    g = Graph(f"test of {name}")
    for src in named:
        g.add(src, Given)
    g.add(name, ready(node) if isinstance(node, Node) else node, **options)
    for src in named:
        g.connect(src, name, feedback=src in feedback, **(edges or {}).get(src, {}))
    return run_graph(g.validate(), named, end=end, seed=seed, restarted=restarted)


def ready(node: Node) -> type[Node]:
    """A node class whose every construction returns `node`: for a test that set an instance up itself."""

    def new(cls: type, **_: Any) -> Node:
        return node

    return type(type(node).__name__, (type(node),), {"__new__": new})


def run_graph(
    graph: Graph,
    inputs: Mapping[str, Sequence[Message]],
    *,
    end: bool = True,
    seed: int | None = None,
    restarted: bool = False,
) -> list[Message]:
    """What the sinks of `graph` emit when its `Given` sources send `inputs` (lists by source name).

    Each source's messages keep their order; across sources they are merged by audio time (or, with
    `seed`, at random), one message per batch, as sources paced at real time would send them. With
    `end`, every stream a source spoke of and did not end gets its EndOfStream after everything else.
    With `restarted`, the nodes stand in for ones that crashed, as after a restart on Ray: a stream
    first heard of mid-way (not at audio time 0) gets an `Error` saying its state was lost, and the
    node's `restored`.
    """
    executor = Executor(graph, [n for n in graph.nodes if n not in graph.sources])
    if restarted:
        executor.restarted()
    out: list[Message] = []
    try:
        for src, msg in _merged(inputs, seed):
            _push(executor, graph, src, msg, out)
        if end:
            for src, msgs in inputs.items():
                ended = {m.stream for m in msgs if isinstance(m, EndOfStream)}
                last: dict[str, int] = {}
                for m in msgs:
                    last[m.stream] = max(last.get(m.stream, 0), m.end)
                for stream, t in last.items():
                    if stream not in ended:
                        _push(executor, graph, src, EndOfStream(stream=stream, start=t, end=t), out)
    finally:
        executor.close()
    return out


def _merged(inputs: Mapping[str, Sequence[Message]], seed: int | None) -> Iterator[tuple[str, Message]]:
    if seed is None:
        lanes = [[(m.end, i, k, src, m) for k, m in enumerate(msgs)] for i, (src, msgs) in enumerate(inputs.items())]
        for *_, src, m in heapq.merge(*lanes, key=lambda x: x[:3]):
            yield src, m
        return
    rng = random.Random(seed)
    queues = [(src, list(msgs)) for src, msgs in inputs.items()]
    while live := [q for q in queues if q[1]]:
        src, q = rng.choice(live)
        yield src, q.pop(0)


def _push(executor: Executor, graph: Graph, src: str, msg: Message, out: list[Message]) -> None:
    for edge in graph.outputs(src):
        sel = graph.edges[edge].select([msg])
        if sel:
            out.extend(executor.push(edge, sel)[1])
