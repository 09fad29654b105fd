"""`speechgraph live`: the microphone through the whole graph, with a terminal view.

The view (rich) shows, per stream, the gate (listening or open on utterance n),
the partial hypothesis as it grows, the end-points as they fire, resets, and the
committed results with their latencies. Every event is also written as a JSON
line when `--out` is given. Ctrl-C ends the stream; the graph drains and stops.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import deque
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import IO, Any

from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text


@dataclass
class LiveView:
    """What the terminal shows; `update` takes one event record at a time."""

    gate: str = "listening for the wake word"
    partial: str = ""
    endpoints: list[str] = field(default_factory=list)
    results: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=6))
    log: deque[str] = field(default_factory=lambda: deque(maxlen=8))
    wake_s: float | None = None

    def update(self, r: dict[str, Any]) -> None:
        name = r["event"]
        if name == "wake":
            self.gate = f"open: utterance {r['utterance']} (stage 1 {r['stage1']:.2f}, stage 2 {r['stage2']:.2f})"
            self.partial, self.endpoints, self.wake_s = "", [], r["audio_s"]
            self.log.append(f"{r['audio_s']:7.2f}s  wake word")
        elif name == "wake_rejected":
            self.log.append(f"{r['audio_s']:7.2f}s  wake word rejected by stage 2 ({r['stage2']:.2f})")
        elif name == "partial":
            self.partial = r["text"]
        elif name == "endpoint":
            self.endpoints.append(f"{r['kind']} at {r['at_s']:.2f}s ({r.get('reason', '')})")
            self.log.append(f"{r['audio_s']:7.2f}s  {r['kind']} end-point ({r.get('reason', '')})")
        elif name == "reset":
            self.log.append(f"{r['audio_s']:7.2f}s  reset: utterance {r['utterance']} -> revision {r['revision']}")
        elif name == "result":
            self.results.appendleft(r)
            self.gate = "listening for the wake word"
            self.log.append(f"{r['audio_s']:7.2f}s  committed: {r['text']!r}")
        elif name == "error":
            self.log.append(f"error: {r['error']}")

    def render(self) -> Group:
        head = Table.grid(padding=(0, 2))
        head.add_row(Text("gate", style="bold"), Text(self.gate))
        head.add_row(Text("hearing", style="bold"), Text(self.partial or "…", style="cyan"))
        head.add_row(Text("end-points", style="bold"), Text(", ".join(self.endpoints) or "-"))
        results = Table(title="committed", expand=True)
        for col in ("text", "intent", "slots", "rev", "rescored", "after end-point"):
            results.add_column(col)
        for r in self.results:
            after = r.get("since_audio_ms")
            results.add_row(
                r["text"],
                str(r.get("intent")),
                ", ".join(f"{k}={v}" for k, v in (r.get("slots") or {}).items()),
                str(r["revision"]),
                "yes" if r.get("rescored") else f"no ({r.get('rescore_note', '')})",
                f"{after:.0f} ms" if after is not None else "-",
            )
        return Group(Panel(head, title="speechgraph live"), results, Panel(Text("\n".join(self.log)), title="events"))


def run(args: argparse.Namespace) -> int:
    from nodes.mic_source import MicrophoneError, MicrophoneSource, resolve_device

    try:  # before the models load: a wrong device is told in a second or two, not after them
        resolve_device(args.device)
    except MicrophoneError as exc:
        print(f"speechgraph live: {exc}", file=sys.stderr)
        return 1
    import graphs
    from pipeline import Event, make_runtime
    from speechgraph.cli import runtime_options
    from speechgraph.replay import graceful_stop

    options: dict[str, Any] = {}
    if args.context:
        from speechgraph.inputs import read_context

        options["context"] = read_context(args.context)
    source = {"device": args.device, "max_seconds": args.seconds or None}
    graph = graphs.build("assistant", MicrophoneSource, source, **options)
    out: IO[str] | None = args.out
    view = LiveView()
    committed = 0
    with (
        make_runtime(graph, args.runtime, **runtime_options(args)) as runtime,
        graceful_stop(runtime.stop),
        nullcontext() if args.quiet else Live(view.render(), refresh_per_second=10) as screen,
    ):
        for msg in runtime.run():
            if not isinstance(msg, Event):
                continue
            record = msg.record(runtime.t0_ns)
            view.update(record)
            committed += record["event"] == "result"
            if out:
                out.write(json.dumps(record) + "\n")
                out.flush()
            if screen is not None:
                screen.update(view.render())
    print(f"{committed} results committed", file=sys.stderr)
    return 0
