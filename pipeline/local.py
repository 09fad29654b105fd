"""The in-process runtime: no Ray, deterministic, the latency floor.

Each source runs in a thread of its own (it may block on a sound card or
sleep to pace a replay) and hands batches over a bounded queue, so a slow graph
slows its sources. Every node runs in the calling thread, in FIFO order.

With `workers=N`, N threads each run a copy of the nodes for their share of the
streams (`pipeline.replicas`): each stream is processed as with one worker, in
FIFO order, while the threads overlap wherever the nodes' numerical work lets go
of the interpreter lock.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

from pipeline.executor import Executor
from pipeline.graph import Graph
from pipeline.messages import Message, now_ns
from pipeline.node import Source
from pipeline.replicas import by_replica
from pipeline.runtime import DrainTracker, RunStats, Runtime, shown, stamp_source

_DONE = object()


class LocalRuntime(Runtime):
    def __init__(self, graph: Graph, *, max_queued: int = 8, workers: int = 1) -> None:
        super().__init__(graph)
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        nodes = [n for n in self.graph.nodes if n not in self.graph.sources]
        self.executors = [Executor(self.graph, nodes) for _ in range(workers)]
        """One copy of the nodes per worker thread, each for the streams `replica_of` gives it."""
        self.executor = self.executors[0]
        self.sources: dict[str, Source] = {n: self.graph.nodes[n].build() for n in self.graph.sources}  # type: ignore[misc]
        self.max_queued = max_queued
        self._closed = False

    def run(self) -> Iterator[Message]:
        if len(self.executors) > 1:
            yield from self._run_workers()
            return
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

    def _run_workers(self) -> Iterator[Message]:
        """`run` with the streams shared among worker threads; this thread routes and gathers."""
        inbox: queue.Queue = queue.Queue(maxsize=self.max_queued)
        done: queue.SimpleQueue = queue.SimpleQueue()  # what the workers' sinks emitted, or their failure
        tracker = DrainTracker(len(self.graph.sinks))
        self.t0_ns = now_ns()
        work = [queue.Queue(maxsize=self.max_queued) for _ in self.executors]
        workers = [
            threading.Thread(target=self._work, args=(ex, q, done), name=f"worker-{i}", daemon=True)
            for i, (ex, q) in enumerate(zip(self.executors, work, strict=True))
        ]
        pumps = [
            threading.Thread(target=self._pump, args=(name, src, inbox), name=f"source-{name}", daemon=True)
            for name, src in self.sources.items()
        ]
        for t in [*workers, *pumps]:
            t.start()

        def gathered(block: bool) -> list[Message]:
            out: list[Message] = []
            while True:
                try:
                    item = done.get(timeout=0.01) if block and not out else done.get_nowait()
                except queue.Empty:
                    return out
                if isinstance(item, BaseException):
                    self.stop()
                    raise RuntimeError(f"a worker failed: {item}") from item
                out.extend(item)

        def handed(q: queue.Queue, item: object) -> list[Message]:
            """Put `item` on a worker's bounded queue, gathering results while it is full."""
            out: list[Message] = []
            while True:
                try:
                    q.put(item, timeout=0.01)
                    return out
                except queue.Full:
                    out += gathered(block=False)

        running = len(pumps)
        while running:
            try:
                item = inbox.get(timeout=0.01)
            except queue.Empty:
                item = None
            ready: list[Message] = []
            if item is _DONE:
                running -= 1
            elif isinstance(item, BaseException):
                self.stop()
                raise RuntimeError(f"source failed: {item}") from item
            elif item is not None:
                name, batch = item
                tracker.opened(batch)
                for edge in self.graph.outputs(name):
                    for r, part in by_replica(self.graph.edges[edge].select(batch), len(work)).items():
                        if part:
                            ready += handed(work[r], (edge, part))
            for msg in shown([*ready, *gathered(block=False)]):
                tracker.saw(msg)
                yield msg
        for q in work:
            q.put(_DONE)
        while any(t.is_alive() for t in workers) or not done.empty():
            for msg in shown(gathered(block=True)):
                tracker.saw(msg)
                yield msg
        for t in pumps:
            t.join()
        if tracker.pending:
            raise RuntimeError(f"graph {self.graph.name!r} did not drain streams {tracker.pending}")

    @staticmethod
    def _work(executor: Executor, work: queue.Queue, done: queue.SimpleQueue) -> None:
        """A worker thread: its copy of the nodes over the batches of its streams, in FIFO order."""
        while (item := work.get()) is not _DONE:
            edge, batch = item
            try:
                leaving, results = executor.push(edge, batch)
            except BaseException as exc:
                done.put(exc)
                return
            assert not leaving, "each worker holds every node"
            if results:
                done.put(results)

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
        out = RunStats()
        for ex in self.executors:
            out.add(ex.stats())
        return out

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
        for ex in self.executors:
            ex.close()
