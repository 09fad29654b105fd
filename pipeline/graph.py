"""Graph declaration: named nodes, their configuration, edges and placement.

A graph is data: it holds node classes and their options, not instances, so
each runtime builds the nodes where they will run (in this process, or inside
a Ray actor on a cluster node that has the placement's resource).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pipeline.messages import Control, Event, Message, Notice, Watermark
from pipeline.node import Node, Source

PLACEMENTS = ("device", "cloud")


class GraphError(ValueError):
    """The graph is malformed; raised when it is built, before anything runs."""


@dataclass(frozen=True)
class NodeSpec:
    name: str
    factory: type[Node]
    config: dict[str, Any] = field(default_factory=dict)
    placement: str = "device"

    @property
    def is_source(self) -> bool:
        return issubclass(self.factory, Source)

    def build(self) -> Node:
        try:
            node = self.factory(**self.config)
        except Exception as exc:
            raise GraphError(f"node {self.name!r} ({self.factory.__name__}): {exc}") from exc
        node.name = self.name
        return node


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    feedback: bool = False
    """A feedback edge carries events and notices upstream: left out of the cycle
    check, never holds the receiver's other inputs back, and never blocks its sender."""
    only: tuple[type, ...] = ()
    """Data message types this edge carries (empty: all), so a node can subscribe to
    part of another's output: a cloud node gets the lattices, not per-chunk signals."""
    events: frozenset[str | type[Notice]] | None = None
    """The events and notices this edge carries: `Event` names and `Notice` classes (None: all)."""
    watermarks: bool = True
    """Whether watermarks travel on this edge; a receiver with a single input has no use for them."""

    def carries(self) -> str:
        """What travels on this edge, in words (empty: everything)."""
        parts = [", ".join(t.__name__ for t in self.only)] if self.only else []
        if self.events is not None:
            names = sorted(e if isinstance(e, str) else e.__name__ for e in self.events)
            parts.append(f"events: {', '.join(names) or 'none'}")
        if self.feedback and self.events is None:
            parts.append("events and notices")
        return "; ".join(parts)

    def select(self, msgs: list[Message]) -> list[Message]:
        """What of `msgs` travels on this edge. Feedback edges carry events and notices only."""
        if not self.only and self.events is None and not self.feedback and self.watermarks:
            return msgs
        return [m for m in msgs if self._carries(m)]

    def _carries(self, m: Message) -> bool:
        if isinstance(m, Event):
            return self.events is None or m.name in self.events
        if isinstance(m, Notice):
            return self.events is None or any(isinstance(e, type) and isinstance(m, e) for e in self.events)
        if isinstance(m, Watermark):
            return self.watermarks and not self.feedback
        if isinstance(m, Control):
            return not self.feedback
        return not self.feedback and (not self.only or isinstance(m, self.only))


class Graph:
    """A validated dataflow graph. Build it with `add` and `connect`, then `validate`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.nodes: dict[str, NodeSpec] = {}
        self.edges: list[Edge] = []

    def add(self, name: str, factory: type[Node], *, placement: str = "device", **config: Any) -> Graph:
        if name in self.nodes:
            raise GraphError(f"graph {self.name!r}: node {name!r} is declared twice")
        if placement not in PLACEMENTS:
            raise GraphError(f"node {name!r}: placement must be one of {PLACEMENTS}, not {placement!r}")
        if not (isinstance(factory, type) and issubclass(factory, Node)):
            raise GraphError(f"node {name!r}: {factory!r} is not a Node class")
        self.nodes[name] = NodeSpec(name, factory, dict(config), placement)
        return self

    def connect(
        self,
        src: str,
        dst: str,
        *,
        feedback: bool = False,
        only: tuple[type, ...] = (),
        events: Iterable[str | type[Notice]] | None = None,
        watermarks: bool = True,
    ) -> Graph:
        """Add an edge; `only`, `events` and `watermarks` narrow what it carries (see `Edge`)."""
        chosen = None if events is None else frozenset(events)
        self.edges.append(Edge(src, dst, feedback, tuple(only), chosen, watermarks))
        return self

    # -- queries ---------------------------------------------------------------

    def inputs(self, name: str) -> list[int]:
        """Indices of the edges that end at `name`."""
        return [i for i, e in enumerate(self.edges) if e.dst == name]

    def outputs(self, name: str) -> list[int]:
        return [i for i, e in enumerate(self.edges) if e.src == name]

    @property
    def sources(self) -> list[str]:
        return [n for n, spec in self.nodes.items() if spec.is_source]

    @property
    def sinks(self) -> list[str]:
        """Nodes whose outputs leave the graph (no outgoing data edge)."""
        return [n for n in self.nodes if not any(e.src == n and not e.feedback for e in self.edges)]

    # -- validation --------------------------------------------------------------

    def validate(self) -> Graph:
        """Check names, sources, dangling inputs and cycles; return self."""
        for e in self.edges:
            for end in (e.src, e.dst):
                if end not in self.nodes:
                    raise GraphError(f"graph {self.name!r}: edge {e.src}->{e.dst} names unknown node {end!r}")
            if e.src == e.dst:
                raise GraphError(f"graph {self.name!r}: node {e.src!r} is connected to itself")
        if len(set(self.edges)) != len(self.edges):
            raise GraphError(f"graph {self.name!r}: an edge is declared twice")
        if not self.sources:
            raise GraphError(f"graph {self.name!r} has no source node")
        for name, spec in self.nodes.items():
            data_in = [e for e in self.edges if e.dst == name and not e.feedback]
            if spec.is_source and any(e.dst == name for e in self.edges):
                raise GraphError(f"graph {self.name!r}: source {name!r} cannot have inputs")
            if not spec.is_source and not data_in:
                raise GraphError(f"graph {self.name!r}: node {name!r} has no data input (dangling)")
        self._check_acyclic()
        return self

    def _check_acyclic(self) -> None:
        children: dict[str, list[str]] = {n: [] for n in self.nodes}
        for e in self.edges:
            if not e.feedback:
                children[e.src].append(e.dst)
        state: dict[str, int] = {}  # 1 visiting, 2 done

        def visit(n: str, path: list[str]) -> None:
            state[n] = 1
            for c in children[n]:
                if state.get(c) == 1:
                    cycle = [*path[path.index(c) :], c] if c in path else [n, c]
                    raise GraphError(
                        f"graph {self.name!r} has a cycle: {' -> '.join(cycle)} "
                        "(declare upstream control edges with feedback=True)"
                    )
                if c not in state:
                    visit(c, [*path, c])
            state[n] = 2

        for n in self.nodes:
            if n not in state:
                visit(n, [n])

    def topological_order(self) -> list[str]:
        order: list[str] = []
        indeg = {n: 0 for n in self.nodes}
        for e in self.edges:
            if not e.feedback:
                indeg[e.dst] += 1
        ready = [n for n in self.nodes if indeg[n] == 0]
        while ready:
            n = ready.pop(0)
            order.append(n)
            for e in self.edges:
                if e.src == n and not e.feedback:
                    indeg[e.dst] -= 1
                    if indeg[e.dst] == 0:
                        ready.append(e.dst)
        return order

    def describe(self) -> str:
        """The nodes (name, class, placement) and the edges (what each carries), in aligned columns."""
        lines = [f"graph {self.name}"]
        width = max(map(len, self.nodes), default=0)
        cls = max((len(spec.factory.__name__) for spec in self.nodes.values()), default=0)
        for name, spec in self.nodes.items():
            lines.append(f"  {name:<{width}}  {spec.factory.__name__:<{cls}}  [{spec.placement}]")
        src = max((len(e.src) for e in self.edges), default=0)
        dst = max((len(e.dst) for e in self.edges), default=0)
        for e in self.edges:
            arrow = "~~>" if e.feedback else "-->"
            lines.append(f"  {e.src:<{src}} {arrow} {e.dst:<{dst}}  {e.carries()}".rstrip())
        return "\n".join(lines)
