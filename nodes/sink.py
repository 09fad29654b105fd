"""The result sink: commits each utterance exactly once, and turns what leaves the graph into events.

An utterance's revisions arrive as `Transcript`s (rescored, interpreted) or, in
graphs without a rescorer, as `LatticeMessage`s. A revision is committed when
the final end-pointer stands behind it: at once if it is marked final, or when
the decoder's `Confirm` for it arrives (after a speculative end-point).
A `Reset` drops the revisions below the one it announces. The `result` event is
the commit, and a `Committed` notice goes with it back to the gate (a feedback
edge) to close the utterance there. Every utterance a `Wake` opened ends in a
`result` or an `error` that names it, never both: an error that cost the stream
its work in flight (`Error.lost`) names the utterances not yet committed, and
whatever arrives for them later (a lattice decoded from half the audio) is
dropped. A `Lost` notice takes their ids back to the gate, which closes them.
Other notices pass on: users see them as events where they leave the graph.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from nodes.messages import AudioChunk, Committed, Confirm, FeatureFrames, LatticeMessage, Lost, Transcript, Wake
from pipeline import EndOfStream, Error, Event, Message, Node, Notice, Reset
from pipeline.messages import now_ns


@dataclass
class _Utterance:
    pending: dict[int, Transcript | LatticeMessage] = field(default_factory=dict)
    confirmed: set[int] = field(default_factory=set)
    min_revision: int = 0
    committed: bool = False
    lost: bool = False
    """An error named it: it ends there, with no result."""


@dataclass
class _Tally:
    frames: int = 0
    audio_end: int = 0
    errors: int = 0
    results: int = 0
    utterances: dict[int, _Utterance] = field(default_factory=dict)


class EventSink(Node):
    """Events and errors out as `Event`s; results committed once; each stream closed by an `end` event."""

    def new_state(self, stream: str) -> _Tally:
        return _Tally()

    def on_message(self, msg: Message, state: _Tally) -> Iterable[Message]:
        if isinstance(msg, FeatureFrames):
            state.frames += len(msg.frames)
        if isinstance(msg, FeatureFrames | AudioChunk):
            state.audio_end = max(state.audio_end, msg.end)
        if isinstance(msg, Transcript | LatticeMessage):
            u = state.utterances.setdefault(msg.utterance, _Utterance())
            if u.committed or u.lost or msg.revision < u.min_revision:
                return ()
            u.pending[msg.revision] = msg
            if msg.final or msg.revision in u.confirmed:
                return self._commit(msg, u, state)
        return ()

    def on_control(self, msg: Message, state: _Tally) -> Iterable[Message]:
        if isinstance(msg, Reset):
            u = state.utterances.setdefault(msg.utterance, _Utterance())
            if u.committed or u.lost:
                return ()
            u.min_revision = max(u.min_revision, msg.revision)
            dropped = sorted(r for r in u.pending if r < msg.revision)
            for r in dropped:
                del u.pending[r]
            return (
                Event.make(
                    "reset",
                    stream=msg.stream,
                    start=msg.start,
                    end=msg.end,
                    utterance=msg.utterance,
                    revision=msg.revision,
                    dropped=dropped,
                ),
            )
        if isinstance(msg, Confirm):
            u = state.utterances.setdefault(msg.utterance, _Utterance())
            u.confirmed.add(msg.revision)
            held = u.pending.get(msg.revision)
            return self._commit(held, u, state) if held is not None and not (u.committed or u.lost) else ()
        if isinstance(msg, Wake):  # opened: it ends in a result or an error
            state.utterances.setdefault(msg.utterance, _Utterance())
        if isinstance(msg, Event | Notice):
            return (msg,)
        if isinstance(msg, Error):
            state.errors += 1
            in_flight = {uid for uid, u in state.utterances.items() if not (u.committed or u.lost)}
            if not msg.lost:  # redone after a restart: nothing in flight is missing
                in_flight = set()
            for uid in msg.utterances:  # named by the node that lost it, perhaps before its `wake` is here
                u = state.utterances.setdefault(uid, _Utterance())
                if not (u.committed or u.lost):
                    in_flight.add(uid)
            in_flight = sorted(in_flight)
            for uid in in_flight:
                state.utterances[uid].lost = True
                state.utterances[uid].pending.clear()
            error = Event.make(
                "error",
                stream=msg.stream,
                start=msg.start,
                end=msg.end,
                node=msg.node,
                error=msg.error,
                utterances_in_flight=in_flight,
            )
            if not in_flight:
                return (error,)
            return error, Lost(stream=msg.stream, start=msg.start, end=msg.end, utterances=tuple(in_flight))
        return ()

    def on_end_of_stream(self, msg: EndOfStream, state: _Tally) -> Iterable[Message]:
        out: list[Message] = []
        for uid, u in state.utterances.items():
            if u.lost:
                continue
            if not u.committed and u.pending:  # the stream ended before a confirmation: commit the latest
                out.extend(self._commit(u.pending[max(u.pending)], u, state))
            elif not u.committed:
                out.append(
                    Event.make(
                        "error",
                        stream=msg.stream,
                        start=msg.end,
                        end=msg.end,
                        node=self.name,
                        error=f"utterance {uid} ended with no result",
                        utterance=uid,
                    )
                )
                state.errors += 1
        end = max(msg.end, state.audio_end)
        counts = {"frames": state.frames} if state.frames else {}  # graphs whose sink sees the features
        counts |= {"results": state.results, "errors": state.errors}
        out.append(Event.make("end", stream=msg.stream, start=end, end=end, **counts))
        return out

    def _commit(self, msg: Transcript | LatticeMessage, u: _Utterance, state: _Tally) -> list[Message]:
        u.committed = True
        u.pending.clear()
        state.results += 1
        return [
            Event.make("result", stream=msg.stream, start=msg.start, end=msg.end, **result_fields(msg)),
            Committed(stream=msg.stream, start=msg.start, end=msg.end, utterance=msg.utterance),
        ]


def result_fields(msg: Transcript | LatticeMessage) -> dict[str, Any]:
    """What a committed result says: the text and its alternatives, the intent, and where time went."""
    common: dict[str, Any] = {
        "utterance": msg.utterance,
        "revision": msg.revision,
        "endpoint": msg.endpoint,
        "endpoint_s": msg.endpoint_s,
        "context": list(msg.context),
    }
    if isinstance(msg, LatticeMessage):
        fields = {
            "text": msg.text,
            "first_pass_text": msg.text,
            "nbest": [{"text": t, "score": s} for t, s in msg.nbest],
            "rescored": False,
            "rescore_note": "no rescorer in this graph",
            "intent": None,
            "slots": {},
            "lattice": msg.lattice,
        }
    else:
        fields = {
            "text": msg.text,
            "first_pass_text": msg.first_pass_text,
            "nbest": [
                {"text": t, "score": s} | ({"confidence": c} if c is not None else {})
                for (t, s), c in zip(msg.nbest, (*msg.nbest_confidence, *[None] * len(msg.nbest)), strict=False)
            ],
            "confidence": msg.confidence,
            "word_confidence": list(msg.word_confidence),
            "rescored": msg.rescored,
            "rescore_note": msg.rescore_note,
            "rescore_ms": msg.rescore_ms,
            "intent": msg.intent,
            "slots": dict(msg.slots),
        }
    now = now_ns()
    fields["since_audio_ms"] = round((now - msg.captured_ns) / 1e6, 3) if msg.captured_ns else None
    fields["trace"] = (
        [
            [node, round((recv - msg.captured_ns) / 1e6, 3), round((sent - msg.captured_ns) / 1e6, 3)]
            for node, recv, sent in msg.trace
        ]
        if msg.captured_ns
        else []
    )
    return common | fields
