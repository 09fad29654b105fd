"""Messages that travel on the graph's edges.

Every message is an immutable dataclass that names its stream and the span of
audio time it speaks for. Audio time is counted in ticks; one tick is one sample
at `audio.SAMPLE_RATE`, so spans stay exact integers on every node.

Data messages are defined by the nodes that produce them (subclass `Message`), and
so are the notices by which nodes coordinate (subclass `Notice`: typed, such as a
wake word heard or an end-point decided). Control messages (`EndOfStream`,
`Reset`, `Error`, `Watermark`) belong to the runtime, and `Event` is what users
read: one JSON line. Control messages, notices and events travel in band, in
order with the data, and a node that does not handle them forwards them unchanged.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, TypeVar

from audio.clock import SAMPLE_RATE

Stamp = tuple[str, int, int]
"""(node name, monotonic ns when the node took the input, ns when it emitted)."""

M = TypeVar("M", bound="Message")


def now_ns() -> int:
    """The monotonic clock shared by every process on one machine."""
    return time.monotonic_ns()


_FIELDS: dict[type, tuple[str, ...]] = {}
"""Per message class, its fields but the trace's: what `Message.traced` copies."""
_TRACE_FIELDS = ("trace", "captured_ns")
_set = object.__setattr__


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """Base of every message: stream id, audio-time span, and the trace."""

    stream: str
    start: int = 0
    end: int = 0
    captured_ns: int = 0
    """Monotonic ns when the newest audio this message depends on was captured."""
    trace: tuple[Stamp, ...] = ()
    """One stamp per node the message (or what it was derived from) went through."""

    @property
    def audio_s(self) -> float:
        return self.end / SAMPLE_RATE

    def replace(self: M, **changes: Any) -> M:
        return dataclasses.replace(self, **changes)

    def traced(self: M, trace: tuple[Stamp, ...], captured_ns: int) -> M:
        """A copy with a new trace and capture time: `replace` for what every node does to every message,
        without running the class's `__init__` again (the other fields are the same objects)."""
        cls = type(self)
        names = _FIELDS.get(cls)
        if names is None:
            names = _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls) if f.name not in _TRACE_FIELDS)
        new = object.__new__(cls)
        for name in names:
            _set(new, name, getattr(self, name))
        _set(new, "trace", trace)
        _set(new, "captured_ns", captured_ns)
        return new


@dataclass(frozen=True, slots=True, kw_only=True)
class UtteranceMessage(Message):
    """A message that belongs to one revision of one utterance of a stream."""

    utterance: int
    revision: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Control(Message):
    """In-band control: handled by the runtime, forwarded unless a node consumes it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EndOfStream(Control):
    """No more messages for this stream will follow on this edge."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Watermark(Control):
    """The sender has consumed its input up to audio time `end` and has nothing for it.

    Nodes that drop data (a gate that is closed) send watermarks so that
    multi-input nodes downstream are not kept waiting for audio that never comes.
    """


@dataclass(frozen=True, slots=True, kw_only=True)
class Reset(Control):
    """Drop everything held or computed for revisions of `utterance` below `revision`."""

    utterance: int
    revision: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Error(Control):
    """A node failed on this stream; later nodes forward it to the sink."""

    node: str
    error: str
    lost: bool = True
    """Whether the failure cost the stream what it had in flight. False for a restarted node that held
    nothing its work needs (`Node.recoverable`): Ray retried its unfinished calls, so nothing is missing."""
    utterances: tuple[int, ...] = ()
    """Utterances the failure is known to have cost, besides those in flight where the error is reported
    (after a crash, messages of the old and the new actor can arrive in either order)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Event(Message):
    """Something users should see (a wake word, a result): becomes one line of JSON.

    `fields` holds JSON-able values; it is a tuple of pairs so the message stays
    immutable. Use `Event.make(...)` and `.data`.
    """

    name: str
    fields: tuple[tuple[str, Any], ...] = field(default=())

    @classmethod
    def make(cls, name: str, *, stream: str, start: int = 0, end: int = 0, **fields: Any) -> Event:
        return cls(name=name, stream=stream, start=start, end=end, fields=tuple(fields.items()))

    @property
    def data(self) -> dict[str, Any]:
        return dict(self.fields)

    def record(self, t0_ns: int) -> dict[str, Any]:
        """One JSON-able line: event, stream, audio_s, wall_ms (since `t0_ns`), then the fields.

        wall_ms is when the last node on the trace emitted the event.
        """
        emitted = self.trace[-1][2] if self.trace else now_ns()
        return {
            "event": self.name,
            "stream": self.stream,
            "audio_s": round(self.end / SAMPLE_RATE, 4),
            "wall_ms": round((emitted - t0_ns) / 1e6, 3),
            **self.data,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Notice(Message):
    """What one node tells others so they act together (a wake word heard, an end-point decided).

    Subclasses carry typed fields and receivers dispatch on the class. A notice travels like an
    `Event`: in band, forwarded by nodes that do not handle it, carried by feedback edges. Where it
    leaves the graph, users see it as the `Event` that `event` returns, or not at all.
    """

    def event(self) -> Event | None:
        """How users see this notice in the output (None: they do not)."""
        return None

    def as_event(self, name: str, **fields: Any) -> Event:
        """An `Event` named `name` with `fields`, with this notice's stream, span and trace."""
        return Event(
            name=name,
            stream=self.stream,
            start=self.start,
            end=self.end,
            captured_ns=self.captured_ns,
            trace=self.trace,
            fields=tuple(fields.items()),
        )


PASS_THROUGH = (Control, Event, Notice)
"""Message kinds a node forwards unchanged unless it overrides `on_control`."""
