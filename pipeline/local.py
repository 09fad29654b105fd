"""The in-process runtime: no Ray, deterministic, the latency floor.

Each source runs in a thread of its own (it may block on a sound card or
sleep to pace a replay) and hands batches over a bounded queue, so a slow graph
slows its sources. Every node runs in the calling thread, in FIFO order.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

from pipeline.executor import Executor
from pipeline.graph import Graph
from pipeline.messages import Message, now_ns
from pipeline.node import Source
from pipeline.runtime import DrainTracker, RunStats, Runtime, shown, stamp_source

_DONE = object()


class LocalRuntime(Runtime):
    def __init__(self, graph: Graph, *, max_queued: int = 8) -> None:
        super().__init__(graph)
        self.executor = Executor(self.graph, [n for n in self.graph.nodes if n not in self.graph.sources])
        self.sources: dict[str, Source] = {n: self.graph.nodes[n].build() for n in self.graph.sources}  # type: ignore[misc]
        self.max_queued = max_queued
        self._closed = False

    def run(self) -> Iterator[Message]:
        inbox: queue.Queue = queue.Queue(maxsize=self.max_queued)
        tracker = DrainTracker(len(self.graph.sinks))
        self.t0_ns = now_ns()
        threads = [
            threading.Thread(target=self._pump, args=(name, src, inbox), name=f"source-{name}", daemon=True)
            for name, src in self.sources.items()
        ]
        for t in threads:
            t.start()
        running = len(threads)
        while running:
            item = inbox.get()
            if item is _DONE:
                running -= 1
                continue
            if isinstance(item, BaseException):
                self.stop()
                raise RuntimeError(f"source failed: {item}") from item
            name, batch = item
            tracker.opened(batch)
            for edge in self.graph.outputs(name):
                sel = self.graph.edges[edge].select(batch)
                if not sel:
                    continue
                leaving, results = self.executor.push(edge, sel)
                assert not leaving, "the in-process executor holds every node"
                for msg in shown(results):
                    tracker.saw(msg)
                    yield msg
        for t in threads:
            t.join()
        if tracker.pending:
            raise RuntimeError(f"graph {self.graph.name!r} did not drain streams {tracker.pending}")

    def _pump(self, name: str, source: Source, inbox: queue.Queue) -> None:
        try:
            for batch in source.batches(self.t0_ns):
                if batch:
                    self._put(inbox, (name, stamp_source(name, batch)))
        except BaseException as exc:
            self._put(inbox, RuntimeError(f"{name}: {type(exc).__name__}: {exc}"))
        finally:
            self._put(inbox, _DONE)

    def _put(self, inbox: queue.Queue, item: object) -> None:
        """Block while the graph is busy (backpressure), but never after close."""
        while not self._closed:
            try:
                inbox.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def stats(self) -> RunStats:
        return RunStats(self.executor.stats())

    def stop(self) -> None:
        for src in self.sources.values():
            src.stop()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.stop()
        for src in self.sources.values():
            src.close()
        self.executor.close()
