"""Small generic nodes for testing the runtime (no speech): ticks, relays, probes.

They live in an importable module so Ray workers can build them too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pipeline import EndOfStream, Event, Message, Node, Notice, Reset, Source, now_ns
from pipeline.pacing import interleave


@dataclass(frozen=True, slots=True, kw_only=True)
class Tick(Message):
    value: int


class TickSource(Source):
    """`streams` streams of `count` ticks each; tick i spans [i*step, (i+1)*step)."""

    def __init__(self, *, streams: int = 2, count: int = 20, step: int = 160, realtime: bool = False) -> None:
        super().__init__()
        self.streams, self.count, self.step, self.realtime = streams, count, step, realtime

    def _one(self, s: int) -> Iterator[Message]:
        for i in range(self.count):
            yield Tick(stream=f"s{s}", start=i * self.step, end=(i + 1) * self.step, value=i)
        yield EndOfStream(stream=f"s{s}", end=self.count * self.step)

    def batches(self, t0_ns: int) -> Iterator[list[Message]]:
        return interleave([self._one(s) for s in range(self.streams)], t0_ns, realtime=self.realtime)


class Relay(Node):
    def on_message(self, msg: Message, state: None) -> Iterable[Message]:
        return (msg,)


class Scale(Node):
    """Multiplies tick values: tells fan-out branches apart."""

    def __init__(self, *, factor: int) -> None:
        super().__init__()
        self.factor = factor

    def on_message(self, msg: Message, state: None) -> Iterable[Message]:
        assert isinstance(msg, Tick)
        return (msg.replace(value=msg.value * self.factor, trace=()),)


class HoldOne(Node):
    """Emits each tick one tick late: its output lags its input in audio time."""

    def new_state(self, stream: str) -> list[Message]:
        return []

    def on_message(self, msg: Message, state: list[Message]) -> Iterable[Message]:
        state.append(msg)
        return (state.pop(0),) if len(state) > 1 else ()

    def on_end_of_stream(self, msg: EndOfStream, state: list[Message]) -> Iterable[Message]:
        return tuple(state)


class TickEvents(Node):
    """An event at the audio time of every tick (a sparse control input elsewhere)."""

    def on_message(self, msg: Message, state: None) -> Iterable[Message]:
        return (Event.make("mark", stream=msg.stream, start=msg.end, end=msg.end, value=msg.value),)

    def on_control(self, msg: Message, state: None) -> Iterable[Message]:
        return () if isinstance(msg, Event) else (msg,)  # consume marks: on a feedback loop they must not circle


@dataclass(frozen=True, slots=True, kw_only=True)
class Flag(Notice):
    """A notice; users see it as a `flag` event when `shown`."""

    value: int
    shown: bool = True

    def event(self) -> Event | None:
        return self.as_event("flag", value=self.value) if self.shown else None


class TickNotices(Node):
    """A `Flag` at the audio time of every tick; those of odd ticks are not for users."""

    def on_message(self, msg: Message, state: None) -> Iterable[Message]:
        value = msg.value  # type: ignore[attr-defined]
        return (Flag(stream=msg.stream, start=msg.end, end=msg.end, value=value, shown=value % 2 == 0),)


class Recorder(Node):
    """Reports everything it is handed, in the order it was handed over."""

    def on_message(self, msg: Message, state: None) -> Iterable[Message]:
        return (
            Event.make(
                "seen", stream=msg.stream, end=msg.end, kind=type(msg).__name__, value=getattr(msg, "value", None)
            ),
        )

    def on_control(self, msg: Message, state: None) -> Iterable[Message]:
        fields = msg.data if isinstance(msg, Event) else {}
        return (Event.make("seen", stream=msg.stream, end=msg.end, kind=type(msg).__name__, value=fields.get("value")),)

    def on_end_of_stream(self, msg: EndOfStream, state: None) -> Iterable[Message]:
        return (Event.make("seen", stream=msg.stream, end=msg.end, kind="EndOfStream", value=None),)


class Summer(Node):
    """Sums tick values per stream and emits the total only at EndOfStream (a flush)."""

    def new_state(self, stream: str) -> list[int]:
        return [0, 0]

    def on_message(self, msg: Message, state: list[int]) -> Iterable[Message]:
        state[0] += msg.value  # type: ignore[attr-defined]
        state[1] += 1
        return ()

    def on_end_of_stream(self, msg: EndOfStream, state: list[int]) -> Iterable[Message]:
        return (Event.make("sum", stream=msg.stream, end=msg.end, total=state[0], count=state[1]),)


class FailOn(Node):
    """Raises on one stream's ticks at or after `at`, passes everything else."""

    def __init__(self, *, stream: str, at: int = 3) -> None:
        super().__init__()
        self.stream, self.at = stream, at

    def on_message(self, msg: Message, state: None) -> Iterable[Message]:
        if msg.stream == self.stream and msg.value >= self.at:  # type: ignore[attr-defined]
            raise ValueError(f"tick {msg.value} is bad")  # type: ignore[attr-defined]
        return (msg,)


class Slow(Node):
    """Takes `seconds` per message and reports how far behind its source it is."""

    def __init__(self, *, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def on_message(self, msg: Message, state: None) -> Iterable[Message]:
        time.sleep(self.seconds)
        return (Event.make("lag", stream=msg.stream, end=msg.end, lag_ms=(now_ns() - msg.captured_ns) / 1e6),)


class Revise(Node):
    """Each tick becomes a new revision of one utterance: a `Reset` to its value, then the tick."""

    def on_message(self, msg: Message, state: None) -> Iterable[Message]:
        assert isinstance(msg, Tick)
        return (Reset(stream=msg.stream, start=msg.start, end=msg.end, utterance=0, revision=msg.value), msg)


class LatestOnly(Node):
    """Takes `seconds` per tick, but skips a tick a `Reset` heard ahead of its turn made stale."""

    ahead = (Reset,)

    def __init__(self, *, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds
        self.announced: dict[str, int] = {}
        self.lock = threading.Lock()

    def on_ahead(self, msg: Message) -> None:
        assert isinstance(msg, Reset)
        with self.lock:
            self.announced[msg.stream] = max(self.announced.get(msg.stream, 0), msg.revision)

    def on_message(self, msg: Message, state: None) -> Iterable[Message]:
        assert isinstance(msg, Tick)
        with self.lock:
            if msg.value < self.announced.get(msg.stream, 0):
                return ()
        time.sleep(self.seconds)
        return (Event.make("worked", stream=msg.stream, end=msg.end, value=msg.value),)


class Tap(Node):
    """Reports, as a `tapped` event, every message it is handed and in that order: what travels on an edge.

    Connect it from a node with the same filters as a real edge to see what that edge carries. A notice
    is reported by its class (`kind`) and as users would see it (`event`, `fields`).
    """

    def _seen(self, msg: Message) -> tuple[Message]:
        shown = msg.event() if isinstance(msg, Notice) else msg
        fields = shown.data if isinstance(shown, Event) else {}
        return (
            Event.make(
                "tapped",
                stream=msg.stream,
                start=msg.start,
                end=msg.end,
                tap=self.name,
                kind=type(msg).__name__,
                event=shown.name if isinstance(shown, Event) else None,
                utterance=getattr(msg, "utterance", fields.get("utterance")),
                fields=fields,
                arrays=sorted(k for k in getattr(msg, "__dataclass_fields__", {}) if _is_array(getattr(msg, k)))
                + sorted(k for k, v in fields.items() if _is_array(v)),
            ),
        )

    def on_message(self, msg: Message, state: None) -> Iterable[Message]:
        return self._seen(msg)

    def on_control(self, msg: Message, state: None) -> Iterable[Message]:
        return self._seen(msg)

    def on_end_of_stream(self, msg: EndOfStream, state: None) -> Iterable[Message]:
        return self._seen(msg)


def _is_array(value: object) -> bool:
    return hasattr(value, "__array__") and not isinstance(value, str | bytes)
