"""The end-pointers: the rule on hand-made inputs, order independence, and a real recording through VAD and decoder."""

from __future__ import annotations

from dataclasses import asdict, replace

import numpy as np
import pytest

from audio import SAMPLE_RATE
from nodes.endpointer import DEFAULTS, LEARNED, EndPointer
from nodes.messages import DecoderSignal, EndPoint, GateClosed, VoiceActivity, Wake
from pipeline.testing import run_node

W = 512
COMPLETE = {"call meg bauer", "what time is it"}


def node(kind: str = "final", **options) -> EndPointer:
    n = EndPointer(kind=kind, **options)
    n.complete = lambda text: text in COMPLETE  # the grammar is another node's business: fixed here
    return n


def wake(stream: str, at: int, utterance: int, end_s: float) -> Wake:
    """The gate's `Wake` at tick `at` for a wake word that ended at `end_s`."""
    return Wake(stream=stream, start=0, end=at, utterance=utterance, start_s=0.0, end_s=end_s, stage1=1.0, stage2=1.0)


def scenario(
    speech: list[tuple[float, float]],
    words: list[tuple[float, str]],
    total_s: float,
    wake_end: float = 0.5,
    utterance: int = 1,
    vad_chunk: int = 5,
    stream: str = "s",
) -> tuple[list, list]:
    """(VAD messages, decoder-edge messages): speech in `speech`; `words` = (time, hypothesis so far)."""
    n = int(total_s * SAMPLE_RATE) // W
    centres = (np.arange(n) + 0.5) * W / SAMPLE_RATE
    probs = np.where([any(a <= c < b for a, b in speech) for c in centres], 0.9, 0.05).astype(np.float32)
    vad = [
        VoiceActivity(
            stream=stream, start=i * W, end=(i + len(probs[i : i + vad_chunk])) * W, probs=probs[i : i + vad_chunk]
        )
        for i in range(0, n, vad_chunk)
    ]
    dec: list = [wake(stream, round(wake_end * SAMPLE_RATE), utterance, wake_end)]
    prev = round(wake_end * SAMPLE_RATE)
    for t in np.arange(wake_end + 0.04, total_s + 1e-9, 0.04):
        heard = [(w_t, text) for w_t, text in words if w_t <= t]
        text, last = (heard[-1][1], heard[-1][0]) if heard else ("", prev / SAMPLE_RATE)
        end = round(t * SAMPLE_RATE)
        dec.append(DecoderSignal(stream=stream, start=prev, end=end, utterance=utterance, text=text, last_token_s=last))
        prev = end
    return vad, dec


def run(ep: EndPointer, vad: list, dec: list, seed: int | None = None) -> list[EndPoint]:
    """The node's end-points for its two inputs, delivered by the node host (merged by audio time, or at
    random with `seed`), then the end of the stream."""
    out = run_node(ep, {"vad": vad, "decoder": dec}, seed=seed)
    return [e for e in out if isinstance(e, EndPoint)]


RULE = dict(threshold=0.5, complete_silence_s=0.4, silence_s=1.0, blank_s=0.2, no_speech_s=3.0, max_length_s=6.0)


def test_fires_after_a_complete_request_once_silence_is_long_enough():
    vad, dec = scenario([(0.8, 2.0)], [(1.2, "call"), (1.6, "call meg"), (1.95, "call meg bauer")], 5.0)
    (ep,) = run(node(**RULE), vad, dec)
    assert ep.reason == "silence" and ep.complete is True and ep.kind == "final" and ep.utterance == 1
    assert 2.0 + 0.4 <= ep.at_s <= 2.0 + 0.4 + W / SAMPLE_RATE + 0.02  # the first window end with 0.4 s of silence
    assert ep.start == ep.end == round(ep.at_s * SAMPLE_RATE)
    assert ep.trailing_silence_s >= 0.4 and ep.trailing_blank_s >= 0.2


def test_an_incomplete_request_waits_through_a_pause_where_vad_alone_cuts():
    speech = [(0.8, 1.3), (2.1, 3.0)]  # "call ... [0.8 s] ... meg bauer"
    words = [(1.2, "call"), (2.5, "call meg"), (2.95, "call meg bauer")]
    vad, dec = scenario(speech, words, 5.0)
    (ep,) = run(node(**RULE), vad, dec)
    assert ep.at_s >= 3.0 + 0.4 and ep.complete is True
    (vad_only,) = run(node(**{**RULE, "use_decoder": False, "silence_s": 0.5}), vad, dec)
    assert vad_only.at_s < 2.1  # the baseline cuts the speaker off in the pause
    assert vad_only.trailing_blank_s is None


def test_the_decoder_still_emitting_holds_the_end_point_back():
    vad, dec = scenario([(0.8, 2.0)], [(1.95, "call meg"), (2.7, "call meg bauer")], 5.0)  # a late token at 2.7 s
    (ep,) = run(node(**RULE), vad, dec)
    assert ep.at_s >= 2.7 + 0.2


def test_no_speech_after_the_wake_word_times_out():
    vad, dec = scenario([], [], 6.0)
    (ep,) = run(node(**RULE), vad, dec)
    assert ep.reason == "no_speech"
    assert 0.5 + 3.0 <= ep.at_s <= 0.5 + 3.0 + W / SAMPLE_RATE


def test_endless_speech_stops_at_the_maximum_length():
    vad, dec = scenario([(0.6, 20.0)], [(1.0, "what")], 10.0)
    (ep,) = run(node(**RULE, idle_blank_s=None), vad, dec)  # no limit on the decoder's silence
    assert ep.reason == "max_length"
    assert 0.5 + 6.0 <= ep.at_s <= 0.5 + 6.0 + W / SAMPLE_RATE


def test_noise_that_keeps_the_vad_on_ends_once_the_decoder_has_heard_no_word_for_a_while():
    vad, dec = scenario([(0.6, 20.0)], [(1.0, "what")], 10.0)
    (ep,) = run(node(**RULE, idle_blank_s=1.5), vad, dec)
    assert ep.reason == "idle"
    assert 1.0 + 1.5 <= ep.at_s <= 1.0 + 1.5 + 2 * W / SAMPLE_RATE


def test_a_stream_that_ends_mid_utterance_is_flushed():
    vad, dec = scenario([(0.8, 3.0)], [(1.0, "call")], 2.5)
    (ep,) = run(node(**RULE), vad, dec)
    assert ep.reason == "end_of_stream"
    assert ep.at_s >= vad[-1].end / SAMPLE_RATE


def test_after_the_gate_closes_the_vad_alone_decides():
    vad, dec = scenario([(0.8, 4.0)], [(1.95, "call meg")], 7.0)
    dec = [m for m in dec if m.end <= 3.0 * SAMPLE_RATE]  # the decoder stops with the gate
    dec.append(GateClosed(stream="s", start=3 * SAMPLE_RATE, end=3 * SAMPLE_RATE, utterance=1, reason="max_utterance"))
    (ep,) = run(node(**RULE), vad, dec)
    assert ep.reason == "silence" and 4.0 + 1.0 <= ep.at_s <= 4.0 + 1.0 + W / SAMPLE_RATE


def test_exactly_one_end_point_per_utterance():
    vad1, dec1 = scenario([(0.8, 2.0)], [(1.95, "what time is it")], 5.0)
    vad2, dec2 = scenario([(5.8, 7.0)], [(6.9, "call meg bauer")], 10.0, wake_end=5.5, utterance=2)
    late = [
        DecoderSignal(stream="s", start=m.start, end=m.end, utterance=1, text="what time is it", last_token_s=1.9)
        for m in dec2[1:20]
    ]  # the decoder still talking about utterance 1 after its end-point
    vad = vad1 + [m for m in vad2 if m.start >= vad1[-1].end]
    eps = run(node(**RULE), vad, dec1 + late + dec2)
    assert [e.utterance for e in eps] == [1, 2]
    assert all(e.reason == "silence" for e in eps)
    assert 2.4 <= eps[0].at_s < 3.0 and 7.4 <= eps[1].at_s < 8.0


def test_no_decision_before_the_decoder_covers_the_audio():
    vad, dec = scenario([(0.8, 2.0)], [(1.95, "call meg bauer")], 5.0)
    head = [m for m in dec if m.end <= 2.2 * SAMPLE_RATE]
    waiting = run_node(node(**RULE), {"vad": vad, "decoder": head}, end=False)
    assert not [m for m in waiting if isinstance(m, EndPoint)]  # 3 s of silence heard, the decoder at 2.2 s: wait
    (ep,) = run(node(**RULE), vad, dec)  # the decoder catches up
    assert ep.reason == "silence" and 2.4 <= ep.at_s < 2.45


def test_the_decision_does_not_depend_on_how_the_inputs_interleave():
    speech = [(0.8, 1.3), (2.1, 3.0)]
    words = [(1.2, "call"), (2.5, "call meg"), (2.95, "call meg bauer")]
    for kind in ("final", "speculative"):
        reference = None
        for seed, chunk in [(None, 5), *((s, 1 + s % 9) for s in range(12))]:
            vad, dec = scenario(speech, words, 5.0, vad_chunk=chunk)
            eps = run(node(kind), vad, dec, seed=seed)
            got = [(e.start, e.end, tuple(sorted(e.event().data.items()))) for e in eps]
            assert len(got) == 1
            reference = reference or got
            assert got == reference, (kind, seed, chunk)


def test_the_wake_word_end_starts_the_utterance_whichever_input_arrives_first():
    # Only the wake word's tail is speech; the gate forwards audio from 15 ms before the wake word's end, so
    # the decoder's first signal starts there, and a VAD window straddling the wake word's end is speech.
    vad, dec = scenario([(0.3, 0.51)], [], 5.0)
    wake, first, *rest = dec
    first = replace(first, start=wake.end - 240)
    got = []
    for order in ([wake, first, *rest], [first, wake, *rest]):
        (ep,) = run(node(**RULE), vad, order)
        got.append((ep.end, ep.reason))
    assert got[0] == got[1] and got[0][1] == "no_speech"


def test_the_speculative_kind_fires_before_the_final_one():
    spec, final = DEFAULTS["speculative"], DEFAULTS["final"]
    assert spec.threshold == final.threshold
    assert spec.silence_s <= final.silence_s and spec.complete_silence_s <= final.complete_silence_s
    assert spec.blank_s <= final.blank_s  # so it can never fire after the final one
    incomplete_lead = final.silence_s - spec.silence_s  # both wait out their trailing silence for "call meg"
    for words, lead in (
        ([(1.95, "call meg bauer")], (0.1, 0.3)),
        ([(1.95, "call meg")], (incomplete_lead - 0.1, incomplete_lead + 0.1)),
    ):
        vad, dec = scenario([(0.8, 2.0)], words, 6.0)  # a complete request, then an incomplete one
        (s,) = run(node("speculative"), vad, dec)
        (f,) = run(node("final"), vad, dec)
        assert s.kind == "speculative" and f.kind == "final"
        assert 2.0 <= s.at_s < f.at_s
        assert lead[0] <= f.at_s - s.at_s <= lead[1]


def test_options_are_checked():
    with pytest.raises(ValueError):
        EndPointer(kind="eager")
    with pytest.raises(TypeError):
        EndPointer(kind="final", silence=1.0)
    assert EndPointer(kind="speculative", silence_s=0.9).params.silence_s == 0.9


# -- a real recording: silero-vad and the RNN-T decoder ---------------------------------------------------


@pytest.fixture(scope="module")
def recording():
    """Synthetic "alexa, call meg bauer" with 1.7 s of faint noise after it, its messages and its truth."""
    from audio.logmel import LogMel, frame_end, frame_start
    from corpus.tts import Prosody, Voice, synthesize
    from nodes.decoder.node import RNNTDecoder
    from nodes.messages import AudioChunk, UtteranceFeatures
    from nodes.vad import VoiceActivityDetector

    voice, prosody = Voice("espeak", "en-us"), Prosody(rate_wpm=165)
    wake, request = synthesize("alexa", voice, prosody), synthesize("call meg bauer", voice, prosody)
    gap = np.zeros(round(0.3 * SAMPLE_RATE), np.float32)
    x = np.concatenate([gap, wake, gap, request, np.zeros(round(1.7 * SAMPLE_RATE), np.float32)])
    x += np.random.default_rng(0).normal(0, 1e-3, len(x)).astype(np.float32)
    wake_end = (len(gap) + len(wake)) / SAMPLE_RATE
    speech_end = (2 * len(gap) + len(wake) + len(request)) / SAMPLE_RATE

    chunks = [AudioChunk(stream="r", start=p, end=p + 160, samples=x[p : p + 160]) for p in range(0, len(x), 160)]
    vad = [m for m in run_node(VoiceActivityDetector, chunks) if isinstance(m, VoiceActivity)]
    frames = LogMel().frames(x)
    dec: list = [
        Wake(
            stream="r",
            start=0,
            end=round(wake_end * SAMPLE_RATE) + 1600,
            utterance=1,
            start_s=0.3,
            end_s=round(wake_end, 3),
            stage1=1.0,
            stage2=1.0,
        )
    ]
    utterance = [
        UtteranceFeatures(
            stream="r", start=frame_start(k), end=frame_end(k + len(f) - 1), utterance=1, frames=f, first_frame=k
        )
        for k in range(round(wake_end * 100) + 1, len(frames), 4)
        for f in [frames[k : k + 4]]
    ]
    dec.extend(m for m in run_node(RNNTDecoder, utterance, beam=4) if isinstance(m, DecoderSignal))
    return vad, dec, speech_end


@pytest.mark.parametrize("order", ["by_audio_time", "mixed", "mixed_again"])
def test_real_recording_end_points_after_the_speech(recording, order):
    vad, dec, speech_end = recording
    assert len(dec) > 20 and any(isinstance(m, DecoderSignal) for m in dec)
    seed = {"by_audio_time": None, "mixed": 7, "mixed_again": 3}[order]
    got = {}
    for kind in ("speculative", "final"):
        ep = EndPointer(kind=kind)  # the real grammar check on the real hypotheses
        eps = run(ep, vad, dec, seed=seed)
        assert len(eps) == 1
        got[kind] = eps[0]
    assert got["final"].reason == "silence"
    assert speech_end <= got["final"].at_s <= speech_end + 1.6
    assert got["speculative"].at_s <= got["final"].at_s


def test_the_end_of_query_model_waits_through_a_pause_and_ends_a_complete_request():
    """The shipped model at its dev-fitted final setting: "call [0.8 s pause] meg bauer" is not cut at the pause."""
    eoq = {**asdict(LEARNED["final"]), "no_speech_s": 3.0, "max_length_s": 6.0}
    speech = [(0.8, 1.3), (2.1, 3.0)]
    words = [(1.2, "call"), (2.5, "call meg"), (2.95, "call meg bauer")]
    vad, dec = scenario(speech, words, 6.0)
    (ep,) = run(node(**eoq), vad, dec)
    assert ep.reason == "eoq" and ep.complete is True
    assert 3.0 <= ep.at_s <= 3.0 + 1.5  # after the request, well before the length limit


def test_the_end_of_query_model_needs_the_vad_threshold_it_was_trained_with():
    with pytest.raises(ValueError, match="end-of-query"):
        EndPointer(kind="final", threshold=0.7, eoq_threshold=0.5)
