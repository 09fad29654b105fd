"""The utterance life cycle (docs/architecture.md): speculative revision 0, then confirm or Reset + revision 1.

The decoder runs the shipped recogniser on a real recording; end-points come back to it on a feedback
edge as the end-pointers send them, and the node host delivers each once the audio has reached it.
The sink gets revisions, confirmations and resets in the order the cloud nodes pass them on.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from audio.files import load
from audio.logmel import LogMel, frame_end, frame_start
from nodes.decoder.node import RNNTDecoder
from nodes.messages import (
    Confirm,
    Context,
    EndPoint,
    LatticeMessage,
    Lost,
    Transcript,
    UtteranceFeatures,
    Wake,
)
from nodes.sink import EventSink
from pipeline import Error, Event, Message, Reset
from pipeline.testing import run_node
from tests.conftest import DEMO


@pytest.fixture(scope="module")
def decoder() -> RNNTDecoder:
    return RNNTDecoder(beam=4)


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return LogMel().frames(load(DEMO / "alexa_call_meg_bauer.wav"))


def features(frames: np.ndarray, utterance: int = 0, begin: int = 0, upto: int | None = None, offset: int = 0):
    """The gate's messages for frames [begin, upto) of `frames`, placed `offset` frames into the stream."""
    out = []
    for i in range(begin, len(frames) if upto is None else upto, 20):
        f = frames[i : i + 20]
        k = i + offset
        out.append(
            UtteranceFeatures(
                stream="s", start=frame_start(k), end=frame_end(k + len(f) - 1), utterance=utterance, frames=f,
                first_frame=k,
            )
        )  # fmt: skip
    return out


def endpoint(kind: str, t: int, utterance: int = 0) -> EndPoint:
    return EndPoint(
        stream="s", start=t, end=t, utterance=utterance, kind=kind, reason="silence", trailing_silence_s=0.0
    )


def wake(utterance: int, t: int) -> Wake:
    return Wake(stream="s", start=t, end=t, utterance=utterance, start_s=0.0, end_s=0.9, stage1=1.0, stage2=1.0)


def decode(dec: RNNTDecoder, gate: list[Message], endpoints: list[Message], restarted: bool = False) -> list[Message]:
    """What the decoder emits: the gate's messages on its data edge, the end-points on a feedback edge."""
    inputs = {"gate": gate, "endpointers": endpoints}
    return run_node(dec, inputs, feedback=("endpointers",), restarted=restarted, name="decoder")


def revisions(out: list[Message]) -> list[Message]:
    """The decoder's word on each utterance: lattices, confirmations and resets, in order."""
    return [m for m in out if isinstance(m, LatticeMessage | Confirm | Reset)]


def test_speculative_then_agreeing_final_confirms_revision_0(decoder, frames):
    t = frame_end(len(frames) - 1)
    spec, confirm = revisions(decode(decoder, features(frames), [endpoint("speculative", t), endpoint("final", t)]))
    assert isinstance(spec, LatticeMessage)  # nothing else: the end of the stream adds nothing
    assert spec.revision == 0 and not spec.final and spec.endpoint == "speculative"
    assert isinstance(confirm, Confirm) and (confirm.utterance, confirm.revision) == (0, 0)


def test_a_final_end_point_after_silence_confirms_without_decoding_again(decoder, frames, monkeypatch):
    """Nothing new was heard between the speculative end-point (in the trailing silence) and the final one:
    the speculative revision is confirmed, and its lattice is not decoded a second time."""
    t = frame_end(len(frames) - 1)
    decoded = []
    lattice = decoder.search.lattice
    monkeypatch.setattr(decoder.search, "lattice", lambda *a, **k: decoded.append(1) or lattice(*a, **k))
    spec, confirm = revisions(
        decode(decoder, features(frames), [endpoint("speculative", t - 2400), endpoint("final", t)])
    )
    assert isinstance(spec, LatticeMessage) and "call meg" in spec.text  # no context: the surname spelt as heard
    assert isinstance(confirm, Confirm) and (confirm.utterance, confirm.revision) == (0, 0)
    assert len(decoded) == 1  # the speculative revision's lattice only


def test_early_speculative_then_final_resets_to_revision_1(decoder, frames, monkeypatch):
    monkeypatch.setattr(decoder, "config", replace(decoder.config, respeculate=0))  # no speculating again
    t = frame_end(len(frames) - 1)
    # the speculative end-point 0.4 s in; the final one at the end; a late final one for the same utterance
    points = [endpoint("speculative", frame_start(40)), endpoint("final", t), endpoint("final", t + 1600)]
    spec, reset, final = revisions(decode(decoder, features(frames), points))  # the late one changes nothing
    assert isinstance(spec, LatticeMessage) and spec.revision == 0 and not spec.final
    assert isinstance(reset, Reset) and (reset.utterance, reset.revision) == (0, 1)
    assert isinstance(final, LatticeMessage) and final.revision == 1 and final.final
    assert len(final.text) > len(spec.text)  # 0.4 s in, the request had only begun


def test_a_hypothesis_that_changes_after_the_speculative_end_point_is_speculated_again(decoder, frames, monkeypatch):
    """The speculative end-point came 0.4 s in: as the next words are decoded, the decoder resets and sends
    the newer lattice as the next speculative revision (twice at most), ahead of the final end-point, which
    then confirms the latest revision or resets it."""
    monkeypatch.setattr(decoder, "config", replace(decoder.config, respeculate=2))
    t = frame_end(len(frames) - 1)
    out = revisions(decode(decoder, features(frames), [endpoint("speculative", frame_start(40)), endpoint("final", t)]))
    spec0, *rest = out
    assert isinstance(spec0, LatticeMessage) and spec0.revision == 0 and not spec0.final
    confirm = rest.pop() if isinstance(rest[-1], Confirm) else None
    pairs = list(zip(rest[0::2], rest[1::2], strict=True))
    for k, (reset, lattice) in enumerate(pairs, start=1):
        assert isinstance(reset, Reset) and reset.revision == lattice.revision == k
        assert isinstance(lattice, LatticeMessage) and lattice.endpoint_s > spec0.endpoint_s
    again = [lattice for _, lattice in pairs if not lattice.final]
    assert 1 <= len(again) <= decoder.config.respeculate and all(m.endpoint == "speculative" for m in again)
    if confirm is not None:  # the final end-point confirms the latest speculative revision
        assert confirm.revision == again[-1].revision == pairs[-1][1].revision
    else:  # it heard more again: Reset and the final revision
        assert pairs[-1][1].final and pairs[-1][1].revision == again[-1].revision + 1
    texts = [m.text for m in out if isinstance(m, LatticeMessage)]
    assert len(texts[-1]) > len(texts[0])


def drive(dec: RNNTDecoder, gate: list[Message], points: list[EndPoint], late: int) -> list[Message]:
    """The decoder's output when each end-point notice reaches it `late` chunks after the chunk that decoded
    its audio time (on Ray the decoder runs ahead of the end-pointers by as much as their timing lets it)."""
    st, out, waiting = dec.new_state("s"), [], []
    for msg in gate:
        out.extend(dec.on_batch([(msg, st)]))
        waiting += [[p, late] for p in points if msg.start <= p.end <= msg.end]
        while waiting and waiting[0][1] == 0:
            out.extend(dec.on_control(waiting.pop(0)[0], st))
        for w in waiting:
            w[1] -= 1
    for p, _ in waiting:
        out.extend(dec.on_control(p, st))
    return out


def test_what_speculating_again_commits_depends_on_the_audio_alone(decoder, frames, monkeypatch):
    """However late the end-point notices reach the decoder, the revision committed is the one a decoder that
    never ran past the final end-point commits, lattice and all (a revision it made past it meanwhile is never
    the one committed)."""
    monkeypatch.setattr(decoder, "config", replace(decoder.config, respeculate=8))  # every change of the word

    def committed(out: list[Message]) -> tuple[str, float, tuple]:
        revs = revisions(out)
        last = revs[-1]
        if isinstance(last, Confirm):
            last = next(m for m in revs if isinstance(m, LatticeMessage) and m.revision == last.revision)
        return last.text, last.endpoint_s, last.nbest

    for final_frame in (50, 60, 70, 90, 140):
        points = [endpoint("speculative", frame_start(40)), endpoint("final", frame_end(final_frame))]
        alone = committed(drive(decoder, features(frames, upto=final_frame + 1), points, late=0))
        for late in (1, 3):
            out = drive(decoder, features(frames), points, late=late)
            assert sum(isinstance(m, Reset) for m in out) >= 2  # it did speculate again
            assert committed(out) == alone, (final_frame, late)


def test_a_new_utterance_restarts_the_search_and_context_notices_apply_to_the_next_one(decoder, frames):
    n = len(frames)
    context = Context(stream="s", start=frame_end(n - 1), end=frame_end(n - 1), phrases=("meg bauer",))
    gate = [*features(frames, utterance=0), context, *features(frames, utterance=1, offset=n)]
    first, second = revisions(decode(decoder, gate, []))
    assert isinstance(first, LatticeMessage) and first.utterance == 0 and first.endpoint == "superseded"
    assert first.context == ()  # it began before the context came
    assert isinstance(second, LatticeMessage) and second.utterance == 1 and second.endpoint == "end_of_stream"
    assert second.context == ("meg bauer",)


def test_a_restarted_decoder_does_not_take_up_an_utterance_half_way(decoder, frames):
    """Frames of an utterance whose `Wake` it never saw began before the crash: the decoder names it lost
    (and decodes nothing for it); the next utterance, whose `Wake` it sees, is decoded."""
    n = len(frames)
    t0, t1 = frame_end(n - 1), frame_end(2 * n - 1)
    gate = [*features(frames, utterance=0, begin=100), wake(1, t0), *features(frames, utterance=1, offset=n)]
    out = decode(decoder, gate, [endpoint("final", t0), endpoint("final", t1, utterance=1)], restarted=True)
    errors = [m for m in out if isinstance(m, Error)]
    assert any("restarted after a crash" in e.error for e in errors)  # the host says the state was lost
    (lost,) = [e for e in errors if e.utterances]
    assert lost.utterances == (0,) and lost.node == "decoder"
    assert not [m for m in out if isinstance(m, LatticeMessage) and m.utterance == 0]
    assert not [m for m in out if isinstance(m, Event) and m.data.get("utterance") == 0]  # not even a partial
    assert [m.replace(trace=()) for m in out if isinstance(m, Wake)] == [wake(1, t0)]  # passed on
    (result,) = [m for m in out if isinstance(m, LatticeMessage)]
    assert result.utterance == 1 and result.text and result.endpoint == "final"


# -- the sink -----------------------------------------------------------------------------------------------


def transcript(rev: int, final: bool, text: str = "call meg") -> Transcript:
    return Transcript(
        stream="s",
        start=0,
        end=0,
        utterance=0,
        revision=rev,
        text=text,
        first_pass_text=text,
        nbest=((text, -1.0),),
        final=final,
    )


def sink(msgs: list[Message], end: bool = True) -> list[Message]:
    return run_node(EventSink, msgs, end=end, name="sink")


def results(out) -> list[dict]:
    return [m.data for m in out if isinstance(m, Event) and m.name == "result"]


def test_sink_commits_a_speculative_revision_on_confirm_exactly_once():
    assert results(sink([transcript(0, final=False)], end=False)) == []  # not before the final end-point agrees
    confirm = Confirm(stream="s", utterance=0, revision=0)
    out = sink([transcript(0, final=False), confirm, confirm, transcript(0, final=True)])
    assert [r["revision"] for r in results(out)] == [0]
    assert [m.data["results"] for m in out if isinstance(m, Event) and m.name == "end"] == [1]


def test_sink_drops_the_stale_revision_after_a_reset():
    reset = Reset(stream="s", start=0, end=0, utterance=0, revision=1)
    out = sink([transcript(0, final=False), reset, transcript(0, final=False), transcript(1, True, "call meg bauer")])
    events = [m for m in out if isinstance(m, Event)]
    assert [e.name for e in events] == ["reset", "result", "end"]  # late stale work is ignored
    assert events[0].data["dropped"] == [0]
    assert [(r["revision"], r["text"]) for r in results(out)] == [(1, "call meg bauer")]


def test_sink_commits_what_it_holds_when_the_stream_ends():
    events = [m for m in sink([transcript(0, final=False)]) if isinstance(m, Event)]
    assert [r["revision"] for r in results(events)] == [0]
    assert events[-1].name == "end" and events[-1].data["results"] == 1


def test_the_sink_never_commits_an_utterance_an_error_named_even_before_its_wake():
    """After a crash, the new actor's error can overtake the old one's `Wake`: the utterance stays lost."""
    lost = Error(stream="s", node="decoder", error="lost", utterances=(0,))
    lattice = LatticeMessage(stream="s", utterance=0, revision=0, lattice={}, text="call", nbest=(), final=True)
    out = sink([lost, wake(0, 0), lattice])
    error, end = [m for m in out if isinstance(m, Event) and m.name in ("error", "end")]
    assert error.data["utterances_in_flight"] == [0]
    assert [m.utterances for m in out if isinstance(m, Lost)] == [(0,)]  # the gate closes it too
    assert results(out) == []
    assert end.data == {"results": 0, "errors": 1}
