"""The utterance life cycle (docs/architecture.md): speculative revision 0, then confirm or Reset + revision 1.

The decoder runs the shipped recogniser on a real recording; end-point events
are fed to it as the end-pointers would send them (audio-time ordered).
"""

from __future__ import annotations

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
from pipeline import EndOfStream, Error, Event, Reset
from tests.conftest import DEMO


@pytest.fixture(scope="module")
def decoder() -> RNNTDecoder:
    return RNNTDecoder(beam=4)


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return LogMel().frames(load(DEMO / "alexa_call_meg_bauer.wav"))


def feed(dec: RNNTDecoder, st, frames: np.ndarray, utterance: int = 0, begin: int = 0, upto: int | None = None):
    out, chunk = [], 20
    for i in range(begin, len(frames) if upto is None else upto, chunk):
        f = frames[i : i + chunk]
        msg = UtteranceFeatures(
            stream="s",
            start=frame_start(i),
            end=frame_end(i + len(f) - 1),
            utterance=utterance,
            frames=f,
            first_frame=i,
        )
        out.extend(dec.on_message(msg, st))
    return out


def endpoint(kind: str, t: int, utterance: int = 0) -> EndPoint:
    return EndPoint(
        stream="s", start=t, end=t, utterance=utterance, kind=kind, reason="silence", trailing_silence_s=0.0
    )


def test_speculative_then_agreeing_final_confirms_revision_0(decoder, frames):
    st = decoder.new_state("s")
    feed(decoder, st, frames)
    t = frame_end(len(frames) - 1)
    spec = list(decoder.on_control(endpoint("speculative", t), st))
    assert len(spec) == 1 and isinstance(spec[0], LatticeMessage)
    assert spec[0].revision == 0 and not spec[0].final and spec[0].endpoint == "speculative"
    final = list(decoder.on_control(endpoint("final", t), st))
    assert [type(m) for m in final] == [Confirm]
    assert (final[0].utterance, final[0].revision) == (0, 0)
    assert list(decoder.on_end_of_stream(EndOfStream(stream="s", start=t, end=t), st)) == []


def test_early_speculative_then_final_resets_to_revision_1(decoder, frames):
    st = decoder.new_state("s")
    feed(decoder, st, frames, upto=40)
    spec = list(decoder.on_control(endpoint("speculative", frame_start(40)), st))
    assert spec[0].revision == 0
    feed(decoder, st, frames, begin=40)
    t = frame_end(len(frames) - 1)
    final = list(decoder.on_control(endpoint("final", t), st))
    assert isinstance(final[0], Reset) and (final[0].utterance, final[0].revision) == (0, 1), final
    assert isinstance(final[1], LatticeMessage) and final[1].revision == 1 and final[1].final
    assert len(final[1].text) > len(spec[0].text)  # 0.4 s in, the request had only begun
    # a late end-point for the same utterance changes nothing
    assert list(decoder.on_control(endpoint("final", t + 1600), st)) == []


def test_a_new_utterance_restarts_the_search_and_context_events_apply_to_the_next_one(decoder, frames):
    st = decoder.new_state("s")
    feed(decoder, st, frames, utterance=0)
    decoder.on_control(Context(stream="s", phrases=("meg bauer",)), st)
    assert st.utt.phrases == ()
    out = feed(decoder, st, frames, utterance=1)
    first_pass = [m for m in out if isinstance(m, LatticeMessage)]
    assert first_pass and first_pass[0].utterance == 0 and first_pass[0].endpoint == "superseded"
    assert st.utt.id == 1 and st.utt.phrases == ("meg bauer",)


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


def results(out) -> list[dict]:
    return [m.data for m in out if isinstance(m, Event) and m.name == "result"]


def test_sink_commits_a_speculative_revision_on_confirm_exactly_once():
    sink = EventSink()
    st = sink.new_state("s")
    assert results(sink.on_message(transcript(0, final=False), st)) == []
    confirm = Confirm(stream="s", utterance=0, revision=0)
    assert [r["revision"] for r in results(sink.on_control(confirm, st))] == [0]
    assert results(sink.on_control(confirm, st)) == []
    assert results(sink.on_message(transcript(0, final=True), st)) == []


def test_sink_drops_the_stale_revision_after_a_reset():
    sink = EventSink()
    st = sink.new_state("s")
    sink.on_message(transcript(0, final=False), st)
    out = list(sink.on_control(Reset(stream="s", start=0, end=0, utterance=0, revision=1), st))
    assert [m.name for m in out] == ["reset"] and out[0].data["dropped"] == [0]
    assert results(sink.on_message(transcript(0, final=False), st)) == []  # late stale work is ignored
    committed = results(sink.on_message(transcript(1, final=True, text="call meg bauer"), st))
    assert [(r["revision"], r["text"]) for r in committed] == [(1, "call meg bauer")]


def test_sink_commits_what_it_holds_when_the_stream_ends():
    sink = EventSink()
    st = sink.new_state("s")
    sink.on_message(transcript(0, final=False), st)
    out = list(sink.on_end_of_stream(EndOfStream(stream="s", start=0, end=0), st))
    assert [r["revision"] for r in results(out)] == [0]
    assert out[-1].name == "end" and out[-1].data["results"] == 1


def test_a_restarted_decoder_does_not_take_up_an_utterance_half_way(decoder, frames):
    """Frames of an utterance whose `wake` it never saw began before the crash: the decoder names it lost
    (and decodes nothing for it); the next utterance, whose `wake` it sees, is decoded."""
    st = decoder.new_state("s")
    decoder.restored("s", st)
    out = feed(decoder, st, frames, utterance=0, begin=100)
    (error,) = [m for m in out if isinstance(m, Error)]
    assert error.utterances == (0,) and error.node == decoder.name
    assert not [m for m in out if isinstance(m, Event | LatticeMessage)]
    t = (len(frames) - 1) * 160 + 400
    assert list(decoder.on_control(endpoint("final", t), st)) == []
    wake = Wake(stream="s", start=0, end=16_000, utterance=1, start_s=0.0, end_s=0.9, stage1=1.0, stage2=1.0)
    assert list(decoder.on_control(wake, st)) == [wake]
    feed(decoder, st, frames, utterance=1)
    (result,) = decoder.on_control(endpoint("final", t, utterance=1), st)
    assert isinstance(result, LatticeMessage) and result.utterance == 1 and result.text


def test_the_sink_never_commits_an_utterance_an_error_named_even_before_its_wake():
    """After a crash, the new actor's error can overtake the old one's `wake`: the utterance stays lost."""
    sink = EventSink()
    sink.name = "sink"
    st = sink.new_state("s")
    lost = Error(stream="s", node="decoder", error="lost", utterances=(0,))
    event, notice = sink.on_control(lost, st)
    assert event.name == "error" and event.data["utterances_in_flight"] == [0]
    assert isinstance(notice, Lost) and notice.utterances == (0,)  # the gate closes it too
    sink.on_control(Wake(stream="s", utterance=0, start_s=0.0, end_s=0.9, stage1=1.0, stage2=1.0), st)
    lattice = LatticeMessage(stream="s", utterance=0, revision=0, lattice={}, text="call", nbest=(), final=True)
    assert list(sink.on_message(lattice, st)) == []
    names = [e.data for e in sink.on_end_of_stream(EndOfStream(stream="s"), st)]
    assert names == [{"results": 0, "errors": 1}]
