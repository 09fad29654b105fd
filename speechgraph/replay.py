"""Replaying recordings through a graph: what the source reads, and the events the run writes.

Shared by `speechgraph replay` and by the benchmarks that replay a split
(latency, scale), so they all measure the same thing the user runs.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipeline import Event, Graph, make_runtime, now_ns
from pipeline.runtime import RunStats
from pipeline.usage import process_tree_cpu_s


def source_options(
    paths: list[str] | None = None,
    *,
    manifest: str | None = None,
    limit: int = 0,
    realtime: bool = False,
    chunk_ms: int = 10,
    concurrency: int = 0,
) -> dict[str, Any]:
    """FileSource options for files and folders, and/or the rows of a corpus manifest (each with
    its own context: the contacts and devices of its speaker, plus distractors)."""
    from audio.files import expand

    source: dict[str, Any] = {"realtime": realtime, "chunk_ms": chunk_ms, "concurrency": concurrency}
    if manifest:
        from corpus.contexts import manifest_contexts

        rows = manifest_contexts(manifest)
        rows = rows[:limit] if limit else rows
        source["paths"] = [str(p) for p, _, _ in rows]
        source["contexts"] = [c for _, c, _ in rows]
        source["device_playing"] = [playing for _, _, playing in rows]
    if paths:
        extra = expand(paths)
        source["paths"] = source.get("paths", []) + extra
        if "contexts" in source:
            source["contexts"] += [[] for _ in extra]
            source["device_playing"] += [False for _ in extra]
    if not source.get("paths"):
        raise ValueError("nothing to replay: give audio files or folders, or --manifest")
    return source


@dataclass
class Replay:
    """Everything a replay wrote, and what it cost."""

    records: list[dict[str, Any]] = field(default_factory=list)
    stats: RunStats = field(default_factory=RunStats)
    wall_s: float = 0.0
    audio_s: float = 0.0
    placement: dict[str, str] = field(default_factory=dict)
    """Node name -> Ray node id it ran on (empty in process)."""
    run_cpu_s: float = 0.0
    """CPU of this process and its descendants (a local Ray cluster too) while the streams ran,
    after the nodes were built: what the audio cost, without loading the models."""

    def count(self, name: str) -> int:
        return sum(r["event"] == name for r in self.records)


def replay(
    graph: Graph,
    runtime: str = "local",
    runtime_options: dict[str, Any] | None = None,
    *,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    interruptible: bool = False,
) -> Replay:
    """Run `graph` to the end and collect its events as JSON-able records (see `Event.record`).

    With `interruptible`, the first Ctrl-C ends the streams and drains the graph; a second aborts.
    """
    out = Replay()
    with make_runtime(graph, runtime, **(runtime_options or {})) as rt:
        cpu0 = process_tree_cpu_s()
        guard = graceful_stop(rt.stop) if interruptible else contextlib.nullcontext()
        with guard:
            for msg in rt.run():
                if not isinstance(msg, Event):
                    continue
                record = msg.record(rt.t0_ns)
                if msg.name == "end":
                    out.audio_s += record["audio_s"]
                out.records.append(record)
                if on_record:
                    on_record(record)
        out.wall_s = (now_ns() - rt.t0_ns) / 1e9
        out.run_cpu_s = process_tree_cpu_s() - cpu0
        out.stats = rt.stats()
        out.placement = rt.placement()
    return out


class graceful_stop:
    """First Ctrl-C: the sources end their streams and the graph drains. Second: abort."""

    def __init__(self, stop: Callable[[], None]) -> None:
        self.stop = stop
        self.previous: Any = None
        self.hits = 0

    def __enter__(self) -> graceful_stop:
        self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.hits += 1
        if self.hits > 1:
            raise KeyboardInterrupt
        print("stopping: draining the graph (Ctrl-C again to abort)", file=sys.stderr)
        self.stop()

    def __exit__(self, *exc: Any) -> None:
        signal.signal(signal.SIGINT, self.previous)
