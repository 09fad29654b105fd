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

from pipeline import Graph, make_runtime, now_ns
from pipeline.runtime import RunStats
from pipeline.usage import cpu_since, process_tree_cpu
from speechgraph.ledger import Ledger


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
        from speechgraph.inputs import read_manifest

        rows = read_manifest(manifest, limit)
        source["paths"] = [r.path for r in rows]
        source["contexts"] = [r.context for r in rows]
        source["device_playing"] = [r.device_playing for r in rows]
        if any(r.error for r in rows):
            source["errors"] = [r.error for r in rows]
    if paths:
        extra = expand(paths)
        source["paths"] = source.get("paths", []) + extra
        for key, empty in (("contexts", list), ("device_playing", bool), ("errors", type(None))):
            if key in source:
                source[key] += [empty() for _ in extra]
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


def failed_streams(records: list[dict[str, Any]], sources: frozenset[str] = frozenset({"source"})) -> dict[str, str]:
    """Stream -> why it failed, for the streams that lost something; the exit status of a replay.

    A stream failed when it never ended, its source could not read it, or a request was lost: an
    utterance a `wake` opened, or one an `error` names, got no `result`. In a stream without any
    `wake` (a graph with no gate: the stream is one utterance), every error loses part of it. An
    error that cost nothing (a node restarted between requests) is still an event, not a failure.
    """
    streams: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        streams.setdefault(r["stream"], []).append(r)
    failed: dict[str, str] = {}
    for stream, mine in streams.items():
        errors = [r for r in mine if r["event"] == "error"]
        committed = {r.get("utterance") for r in mine if r["event"] == "result"}
        opened = {r["utterance"] for r in mine if r["event"] == "wake" and "utterance" in r}
        named = {u for r in errors for u in [*r.get("utterances_in_flight", ()), r.get("utterance")] if u is not None}
        lost = sorted((opened | named) - committed)
        if not any(r["event"] == "end" for r in mine):
            failed[stream] = "did not end"
        elif unread := [r for r in errors if r.get("node") in sources]:
            failed[stream] = unread[0]["error"]
        elif lost:
            failed[stream] = f"utterance(s) {', '.join(map(str, lost))} got no result"
        elif errors and not opened:
            failed[stream] = errors[0]["error"]
    return failed


def replay(
    graph: Graph,
    runtime: str = "local",
    runtime_options: dict[str, Any] | None = None,
    *,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    interruptible: bool = False,
) -> Replay:
    """Run `graph` to the end and collect its events as JSON-able records (see `Event.record`).

    With `interruptible`, the first Ctrl-C or SIGTERM ends the streams and drains the graph; a second aborts.
    What leaves the graph goes through a `Ledger`: a stream's `end` is its last record (end-pointers are
    sinks too, and the end of a stream makes them fire), and each utterance ends in one result or one error.
    """
    out = Replay()

    def emit(record: dict[str, Any]) -> None:
        if record["event"] == "end":
            out.audio_s += record["audio_s"]
        out.records.append(record)
        if on_record:
            on_record(record)

    with make_runtime(graph, runtime, **(runtime_options or {})) as rt:
        cpu0 = process_tree_cpu()
        guard = graceful_stop(rt.stop) if interruptible else contextlib.nullcontext()
        with guard:
            ledger: Ledger | None = None
            for msg in rt.run():
                ledger = ledger or Ledger(len(graph.sinks), rt.t0_ns, emit)
                ledger.take(msg)
            if ledger is not None:
                ledger.finish()
        out.wall_s = (now_ns() - rt.t0_ns) / 1e9
        out.run_cpu_s = cpu_since(cpu0)
        out.stats = rt.stats()
        out.placement = rt.placement()
    return out


class graceful_stop:
    """First Ctrl-C or SIGTERM: the sources end their streams and the graph drains, so every stream still
    gets its `end` (a service manager stops a run with SIGTERM; unhandled, it killed the driver mid-stream,
    and Ray's core printed a stack dump). Second: abort."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, stop: Callable[[], None]) -> None:
        self.stop = stop
        self.previous: dict[int, Any] = {}
        self.hits = 0

    def __enter__(self) -> graceful_stop:
        self.previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.hits += 1
        if self.hits > 1:
            raise KeyboardInterrupt
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        print(f"stopping on {name}: draining the graph (once more to abort)", file=sys.stderr)
        self.stop()

    def __exit__(self, *exc: Any) -> None:
        for s, previous in self.previous.items():
            signal.signal(s, previous)
