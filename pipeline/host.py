"""NodeHost: the runtime's side of one node, the same on every runtime.

It owns what a node should not have to think about: per-stream state, the
audio-time merge of several inputs, EndOfStream draining, trace stamps, and
isolating a failure to the stream that caused it.

Merge rule: data messages go straight through; an event, notice or control
message at audio time t from one input is handed to the node only once every
other data input of that stream has reached t (by data or by a Watermark) or
has ended.
Feedback inputs never hold the others back, and the order of messages on one
edge is always kept.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pipeline.graph import Edge
from pipeline.messages import PASS_THROUGH, EndOfStream, Error, Message, Watermark, now_ns
from pipeline.node import MAX_ERRORS_PER_STREAM, Node, one_line

log = logging.getLogger(__name__)


@dataclass
class _Stream:
    state: Any
    watermark: dict[int, int] = field(default_factory=dict)
    ended: set[int] = field(default_factory=set)
    queues: dict[int, deque[Message]] = field(default_factory=dict)
    errors: int = 0
    dead: bool = False


class NodeHost:
    def __init__(self, node: Node, in_edges: dict[int, Edge]) -> None:
        self.node = node
        self.name = node.name
        self.data_edges = [i for i, e in in_edges.items() if not e.feedback]
        self.feedback_edges = [i for i, e in in_edges.items() if e.feedback]
        self.merging = len(in_edges) > 1
        self.streams: dict[str, _Stream] = {}
        self.finished: set[str] = set()
        self.batched = type(node).on_batch is not Node.on_batch
        self._seq = 0
        self.busy_ns = 0
        """Wall time spent inside `deliver`: what this node adds to a message's way through the graph."""
        self.cpu_ns = 0
        """CPU time of the delivering thread inside `deliver`: the node's compute, for real-time factors."""
        self.calls = 0
        self.lost_state = False
        """Set when this node replaces a crashed one: a stream that began before the crash gets an `Error` first."""
        self.reported_loss: set[str] = set()

    # -- public ------------------------------------------------------------------

    def deliver(self, edge: int, batch: Iterable[Message]) -> list[Message]:
        """Take a batch that arrived on `edge`; return what the node emits."""
        recv = now_ns()
        cpu = time.thread_time_ns()
        try:
            return self._deliver(edge, batch, recv)
        finally:
            self.busy_ns += now_ns() - recv
            self.cpu_ns += time.thread_time_ns() - cpu
            self.calls += 1

    def stats(self) -> dict[str, float]:
        return {"busy_s": self.busy_ns / 1e9, "cpu_s": self.cpu_ns / 1e9, "calls": self.calls}

    def _deliver(self, edge: int, batch: Iterable[Message], recv: int) -> list[Message]:
        out: list[Message] = []
        ready: list[Message] = []
        for msg in batch:
            if msg.stream in self.finished:
                log.debug("%s: dropping %s for finished stream %s", self.name, type(msg).__name__, msg.stream)
                continue
            restored = False
            if self.lost_state and msg.stream not in self.streams and msg.stream not in self.reported_loss:
                self.reported_loss.add(msg.stream)  # judged once, on its first message since the restart
                if msg.start > 0:  # heard of mid-stream: it began before the crash (new streams start at 0)
                    restored = True
                    err = Error(
                        stream=msg.stream,
                        start=msg.start,
                        end=msg.end,
                        node=self.name,
                        error="node restarted after a crash: what it held for this stream was lost"
                        if not self.node.recoverable
                        else "node restarted after a crash: its unfinished work was redone",
                        lost=not self.node.recoverable,
                    )
                    out.append(self._stamp(err, msg, recv, now_ns()))
            st = self._stream(msg.stream)
            if restored and not st.dead:
                self.node.restored(msg.stream, st.state)
            if isinstance(msg, EndOfStream):
                if edge in self.feedback_edges:
                    continue
                st.ended.add(edge)
                if self.merging:
                    ready.extend(self._release(st))
                if st.ended.issuperset(self.data_edges):
                    ready.extend(self._drain(st))
                    self._run(ready, out, recv)
                    ready = []
                    self._end(msg, st, out, recv)
                continue
            if not self.merging:
                ready.append(msg)
                continue
            if not isinstance(msg, PASS_THROUGH) or isinstance(msg, Watermark):
                st.watermark[edge] = max(st.watermark.get(edge, 0), msg.end)
            if not any(st.queues.values()) and self._eligible(st, edge, msg):
                ready.append(msg)  # nothing held: what `_release` would do, without queueing
                continue
            st.queues.setdefault(edge, deque()).append(msg)
            ready.extend(self._release(st))
        self._run(ready, out, recv)
        return out

    def close(self) -> None:
        self.node.close()

    # -- merge ---------------------------------------------------------------------

    def _stream(self, stream: str) -> _Stream:
        st = self.streams.get(stream)
        if st is None:
            st = self.streams[stream] = _Stream(state=None)
            st.state = self._new_state(stream, st)
        return st

    def _eligible(self, st: _Stream, edge: int, msg: Message) -> bool:
        """Data goes straight through; anything else waits for the other data inputs to reach it."""
        if not isinstance(msg, PASS_THROUGH):
            return True
        t = msg.end
        return all(j == edge or j in st.ended or st.watermark.get(j, 0) >= t for j in self.data_edges)

    def _release(self, st: _Stream) -> list[Message]:
        released: list[Message] = []
        while True:
            best: tuple[int, bool, int] | None = None
            for edge, q in st.queues.items():
                if q and self._eligible(st, edge, q[0]):
                    key = (q[0].end, isinstance(q[0], PASS_THROUGH), edge)
                    if best is None or key < best:
                        best = key
            if best is None:
                return released
            released.append(st.queues[best[2]].popleft())

    def _drain(self, st: _Stream) -> list[Message]:
        """Everything still held, in audio-time order, once the data inputs have ended."""
        rest = [m for q in st.queues.values() for m in q]
        st.queues.clear()
        return sorted(rest, key=lambda m: (m.end, isinstance(m, PASS_THROUGH)))

    # -- calling the node ----------------------------------------------------------

    def _run(self, msgs: list[Message], out: list[Message], recv: int) -> None:
        """Hand `msgs` to the node in order per stream. A batching node gets the data of all streams in one
        `on_batch`: a control message waits only for its own stream's data before it, not for the others'."""
        if not msgs:
            return
        data: list[tuple[Message, Any]] = []
        waiting: set[str] = set()  # streams with data in `data`
        for msg in msgs:
            st = self.streams.get(msg.stream)
            if st is None or st.dead:
                continue
            if isinstance(msg, PASS_THROUGH):
                if msg.stream in waiting:
                    self._run_data(data, out, recv)
                    data, waiting = [], set()
                self._call(msg, st, lambda m=msg, s=st: self.node.on_control(m, s.state), out, recv)
            elif self.batched:
                data.append((msg, st.state))
                waiting.add(msg.stream)
            else:
                self._call(msg, st, lambda m=msg, s=st: self.node.on_message(m, s.state), out, recv)
        if data:
            self._run_data(data, out, recv)

    def _run_data(self, items: list[tuple[Message, Any]], out: list[Message], recv: int) -> None:
        try:
            produced = self.node.on_batch(items)
        except Exception as exc:
            for stream in dict.fromkeys(m.stream for m, _ in items):
                self._fail(stream, exc, out, items[-1][0])
            return
        last = {m.stream: m for m, _ in items}
        sent = now_ns()
        for o in produced:
            out.append(self._stamp(o, last.get(o.stream, items[-1][0]), recv, sent))

    def _call(self, trigger: Message, st: _Stream, fn, out: list[Message], recv: int) -> None:
        try:
            produced = list(fn())
        except Exception as exc:
            self._fail(trigger.stream, exc, out, trigger)
            return
        if produced:
            sent = now_ns()
            out.extend(self._stamp(o, trigger, recv, sent) for o in produced)

    def _stamp(self, msg: Message, trigger: Message, recv: int, sent: int) -> Message:
        trace = msg.trace or trigger.trace
        captured = msg.captured_ns or trigger.captured_ns
        return msg.traced((*trace, (self.name, recv, sent)), captured)

    def _new_state(self, stream: str, st: _Stream) -> Any:
        try:
            return self.node.new_state(stream)
        except Exception as exc:
            st.dead = True
            log.error("%s: cannot open stream %s: %s", self.name, stream, exc)
            return None

    def _fail(self, stream: str, exc: BaseException, out: list[Message], trigger: Message) -> None:
        st = self.streams[stream]
        st.errors += 1
        text = one_line(exc)
        log.error("node %s failed on stream %s: %s", self.name, stream, text, exc_info=exc)
        if st.errors >= MAX_ERRORS_PER_STREAM:
            st.dead = True
            text += f" (failed {st.errors} times: stream dropped at this node)"
        else:
            st.state = self._new_state(stream, st)
        err = Error(stream=stream, start=trigger.start, end=trigger.end, node=self.name, error=text)
        out.append(self._stamp(err, trigger, now_ns(), now_ns()))

    def _end(self, eos: EndOfStream, st: _Stream, out: list[Message], recv: int) -> None:
        if not st.dead:
            self._call(eos, st, lambda: self.node.on_end_of_stream(eos, st.state), out, recv)
        out.append(self._stamp(eos, eos, recv, now_ns()))
        del self.streams[eos.stream]
        self.finished.add(eos.stream)
