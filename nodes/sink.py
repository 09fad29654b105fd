"""The result sink: what leaves the graph, as events for people and log files."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from nodes.messages import AudioChunk, FeatureFrames
from pipeline import EndOfStream, Error, Event, Message, Node


@dataclass
class _Tally:
    frames: int = 0
    audio_end: int = 0
    errors: int = 0


class EventSink(Node):
    """Turns events and errors into `Event`s; closes each stream with an `end` event."""

    def new_state(self, stream: str) -> _Tally:
        return _Tally()

    def on_message(self, msg: Message, state: _Tally) -> Iterable[Message]:
        if isinstance(msg, FeatureFrames):
            state.frames += len(msg.frames)
        if isinstance(msg, (FeatureFrames, AudioChunk)):
            state.audio_end = max(state.audio_end, msg.end)
        return ()

    def on_control(self, msg: Message, state: _Tally) -> Iterable[Message]:
        if isinstance(msg, Event):
            return (msg,)
        if isinstance(msg, Error):
            state.errors += 1
            return (
                Event.make("error", stream=msg.stream, start=msg.start, end=msg.end, node=msg.node, error=msg.error),
            )
        return ()

    def on_end_of_stream(self, msg: EndOfStream, state: _Tally) -> Iterable[Message]:
        end = max(msg.end, state.audio_end)
        return (
            Event.make(
                "end",
                stream=msg.stream,
                start=end,
                end=end,
                frames=state.frames,
                errors=state.errors,
            ),
        )
