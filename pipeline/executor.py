"""Runs a set of nodes in one process: the whole graph, or one fused group of it.

Batches move through a FIFO work list, so the order of processing is fully
determined by the input: the in-process runtime is deterministic, and a Ray
actor that hosts several nodes (fusion by placement) reuses the same code.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable

from pipeline.graph import Graph
from pipeline.host import NodeHost
from pipeline.messages import Message

log = logging.getLogger(__name__)


class Executor:
    def __init__(self, graph: Graph, names: Iterable[str]) -> None:
        self.graph = graph
        self.names = [n for n in graph.topological_order() if n in set(names)]
        self.hosts: dict[str, NodeHost] = {}
        for name in self.names:
            spec = graph.nodes[name]
            if spec.is_source:
                raise ValueError(f"source {name!r} cannot run inside an executor")
            node = spec.build()
            self.hosts[name] = NodeHost(node, {i: graph.edges[i] for i in graph.inputs(name)})
        self.out_edges = {n: graph.outputs(n) for n in self.names}
        self.is_sink = {n: n in graph.sinks for n in self.names}

    def push(self, edge: int, batch: list[Message]) -> tuple[dict[int, list[Message]], list[Message]]:
        """Deliver `batch` on `edge` and run to quiescence.

        Returns the batches for edges that leave this executor, and what its
        sink nodes emitted (the graph's results).
        """
        leaving: dict[int, list[Message]] = {}
        results: list[Message] = []
        work: deque[tuple[int, list[Message]]] = deque([(edge, batch)])
        while work:
            e, msgs = work.popleft()
            dst = self.graph.edges[e].dst
            out = self.hosts[dst].deliver(e, msgs)
            if not out:
                continue
            if self.is_sink[dst]:
                results.extend(out)
            for oe in self.out_edges[dst]:
                sel = self.graph.edges[oe].select(out)
                if not sel:
                    continue
                if self.graph.edges[oe].dst in self.hosts:
                    work.append((oe, sel))
                else:
                    leaving.setdefault(oe, []).extend(sel)
        return leaving, results

    def ahead(self, edge: int, batch: list[Message]) -> None:
        """Let the node at the end of `edge` hear of the messages it wants early (`Node.ahead`); the batch
        itself follows through `push`."""
        node = self.hosts[self.graph.edges[edge].dst].node
        for msg in batch:
            if isinstance(msg, node.ahead):
                try:
                    node.on_ahead(msg)
                except Exception:  # a hint only: the message still arrives in its turn
                    log.exception("%s: on_ahead failed", node.name)

    def restarted(self) -> None:
        """This process replaces one that crashed: every node reports its lost state per stream."""
        for host in self.hosts.values():
            host.lost_state = True

    def stats(self) -> dict[str, dict[str, float]]:
        """Per node: wall time inside it, its CPU time, and how many batches it took."""
        return {name: host.stats() for name, host in self.hosts.items()}

    def close(self) -> None:
        for host in self.hosts.values():
            host.close()
