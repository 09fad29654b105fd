"""What every runtime offers: run a validated graph, yield what its sinks emit."""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pipeline.graph import Graph
from pipeline.messages import EndOfStream, Message, Notice, now_ns


class Runtime(abc.ABC):
    """Runs one graph once. Use as a context manager so everything is released."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph.validate()
        self.t0_ns = 0
        """Monotonic ns when the sources started: the origin of audio time in a paced run."""

    @abc.abstractmethod
    def run(self) -> Iterator[Message]:
        """Start the sources and yield the sinks' outputs until every stream has drained (see `shown`)."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Ask the sources to end their streams; `run` then drains and returns."""

    def close(self) -> None:
        """Release nodes and workers; safe to call twice."""

    def stats(self) -> RunStats:
        """What each node and each process cost so far (call before `close`)."""
        return RunStats()

    def placement(self) -> dict[str, str]:
        """Node name -> the machine it runs on (a Ray node id); empty when all run in this process."""
        return {}

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


@dataclass
class RunStats:
    """Per node: wall time inside it, its CPU time and batches taken (what each node costs; the whole
    process tree's cost, transport included, is `pipeline.usage`'s to measure)."""

    nodes: dict[str, dict[str, float]] = field(default_factory=dict)

    def add(self, nodes: dict[str, dict[str, float]]) -> None:
        """Count `nodes`' figures in, summed with those of the same node run elsewhere (a replica)."""
        for name, figures in nodes.items():
            into = self.nodes.setdefault(name, dict.fromkeys(figures, 0))
            for k, v in figures.items():
                into[k] += v


def shown(msgs: Iterable[Message]) -> Iterator[Message]:
    """What the sinks emitted, as it leaves the graph: each notice as the event users see (see `Notice.event`)."""
    for msg in msgs:
        if not isinstance(msg, Notice):
            yield msg
        elif (event := msg.event()) is not None:
            yield event


def stamp_source(name: str, batch: list[Message]) -> list[Message]:
    """Start each message's trace at its source."""
    sent = now_ns()
    return [m.replace(trace=((name, m.captured_ns or sent, sent),)) for m in batch]


class DrainTracker:
    """Knows when every stream a source opened has reached every sink."""

    def __init__(self, n_sinks: int) -> None:
        self.n_sinks = n_sinks
        self.streams: set[str] = set()
        self.ended: dict[str, int] = {}

    def opened(self, batch: list[Message]) -> None:
        self.streams.update(m.stream for m in batch)

    def saw(self, msg: Message) -> None:
        if isinstance(msg, EndOfStream):
            self.ended[msg.stream] = self.ended.get(msg.stream, 0) + 1

    @property
    def pending(self) -> list[str]:
        return sorted(s for s in self.streams if self.ended.get(s, 0) < self.n_sinks)
