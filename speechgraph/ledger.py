"""The driver's last word on each stream, whatever crashed on the way.

The sink commits each utterance once and names the ones an error cost, but a
sink can itself crash (its table of utterances, or results not yet read, go
with it), and end-pointers are sinks too. What leaves the graph goes through
this ledger, which keeps the promise at the edge: every utterance a `wake`
opened ends in exactly one `result` or one `error` naming it, never both, and a
stream's `end` is its last record, once every sink has ended the stream.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from audio import ticks
from pipeline import EndOfStream, Error, Event, Message
from pipeline.messages import now_ns

log = logging.getLogger(__name__)


@dataclass
class _Stream:
    opened: set[int] = field(default_factory=set)
    committed: set[int] = field(default_factory=set)
    lost: set[int] = field(default_factory=set)
    results: int = 0
    errors: int = 0
    sinks_ended: int = 0
    end: dict[str, Any] | None = None
    audio_s: float = 0.0
    closed: bool = False


class Ledger:
    def __init__(self, sinks: int, t0_ns: int, emit: Callable[[dict[str, Any]], None]) -> None:
        self.sinks = sinks
        self.t0_ns = t0_ns
        self.emit = emit
        self.streams: dict[str, _Stream] = {}

    def take(self, msg: Message) -> None:
        st = self.streams.setdefault(msg.stream, _Stream())
        if isinstance(msg, EndOfStream):
            st.sinks_ended += 1
            if st.sinks_ended >= self.sinks:
                self._close(msg.stream, st)
        elif isinstance(msg, Error):  # a sink that is not the event sink (an end-pointer), or the runtime
            self._record(st, self._error(msg.stream, msg.end, msg.node, msg.error, utterances_in_flight=[]))
        elif isinstance(msg, Event):
            self._event(st, msg.record(self.t0_ns))

    def finish(self) -> None:
        """The run is over: close what is still open (a stream whose sinks never all ended it)."""
        for stream, st in self.streams.items():
            if not st.closed:
                self._close(stream, st)

    def _event(self, st: _Stream, record: dict[str, Any]) -> None:
        name, utterance = record["event"], record.get("utterance")
        if name == "end":  # held: sent when every sink has ended the stream
            st.end = record
            return
        if name == "wake" and utterance is not None:
            st.opened.add(utterance)
        elif name == "result":
            if utterance in st.committed or utterance in st.lost:
                log.warning("%s: dropped a second word on utterance %s (a restarted sink)", record["stream"], utterance)
                return
            st.committed.add(utterance)
            st.results += 1
        elif name == "error":
            named = {*record.get("utterances_in_flight", ()), *([utterance] if utterance is not None else [])}
            st.lost |= named - st.committed
        self._record(st, record)

    def _record(self, st: _Stream, record: dict[str, Any]) -> None:
        if record["event"] == "error":
            st.errors += 1
        st.audio_s = max(st.audio_s, record.get("audio_s", 0.0))
        self.emit(record)

    def _close(self, stream: str, st: _Stream) -> None:
        if st.closed:
            return
        st.closed = True
        at = ticks(st.audio_s)
        for u in sorted(st.opened - st.committed - st.lost):
            self._record(st, self._error(stream, at, "runtime", f"utterance {u} got no result: lost in a crash", u))
            st.lost.add(u)
        end = st.end or {
            "event": "end",
            "stream": stream,
            "audio_s": round(st.audio_s, 4),
            "wall_ms": round((now_ns() - self.t0_ns) / 1e6, 3),
        }
        self.emit(end | {"results": st.results, "errors": st.errors})

    def _error(self, stream: str, at: int, node: str, error: str, utterance: int | None = None, **fields: Any):
        data = {"node": node, "error": error, **fields}
        if utterance is not None:
            data["utterance"] = utterance
        return Event.make("error", stream=stream, start=at, end=at, **data).record(self.t0_ns)
