"""The end-pointer's rule is written once: the benchmark that fits it and the node that runs it decide alike.

`bench.endpoint` applies `nodes.endpoint_rule` to whole recordings (and grids of settings) from the cached
VAD and decoder signals; the EndPointer node applies it window by window as a graph delivers those signals.
On hand-made streams of each kind (a request, a pause, silence, endless speech, babble, a noisy VAD, a
stream that ends first) both must end each utterance at the same tick for the same reason.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from audio import SAMPLE_RATE
from audio.logmel import frame_end
from bench.endpoint import GRID, confirmed, fire, fires, grid, hypothesis_at, node_fire
from models.eoq import SPEECH, EndOfQuery
from nodes.endpoint_rule import EndpointParams, Situation, decide
from nodes.endpointer import DEFAULTS, FINAL, LEARNED
from training.endpoint_signals import WINDOW, Utterance, eoq_inputs, steps

WAKE_END = 0.5


def utterance(
    name: str,
    speech: list[tuple[float, float]],
    words: list[tuple[float, str]],
    total_s: float,
    noise: float = 0.0,
) -> Utterance:
    """A cached recording as `training.endpoint_signals.collect` gives it: VAD probabilities from tick 0 and
    the decoder's signals every 40 ms from the wake word's end; `words` = (time, hypothesis so far)."""
    n = int(total_s * SAMPLE_RATE) // WINDOW
    centres = (np.arange(n) + 0.5) * WINDOW / SAMPLE_RATE
    probs = np.where([any(a <= c < b for a, b in speech) for c in centres], 0.9, 0.05)
    if noise:
        probs = np.clip(probs + np.random.default_rng(len(name)).normal(0, noise, n), 0, 1)
    first = round(WAKE_END / 0.01)
    ends, lasts, texts = [], [], []
    for k in range(first, round(total_s / 0.01) - 4, 4):
        end = frame_end(k + 3)
        heard = [(t, text) for t, text in words if t <= end / SAMPLE_RATE]
        ends.append(end)
        lasts.append(round(heard[-1][0] * SAMPLE_RATE) if heard else -1)
        texts.append(heard[-1][1] if heard else "")
    return Utterance(
        id=name,
        start=round(WAKE_END * SAMPLE_RATE),
        speech_end=max((b for _, b in speech), default=WAKE_END),
        duration=total_s,
        pauses=[],
        text=words[-1][1] if words else "",
        condition="clean",
        probs=probs.astype(np.float32),
        sig_end=np.array(ends, np.int64),
        sig_last=np.array(lasts, np.int64),
        sig_text=texts,
    )


REQUEST = [(1.2, "call"), (1.6, "call meg"), (1.95, "call meg bauer")]
STREAMS = [
    utterance("request", [(0.8, 2.0)], REQUEST, 5.0),
    utterance("pause", [(0.8, 1.3), (2.1, 3.0)], [(1.2, "call"), (2.5, "call meg"), (2.95, "call meg bauer")], 6.0),
    utterance("incomplete", [(0.8, 1.6)], [(1.2, "set a"), (1.5, "set a timer for")], 6.0),
    utterance("silence", [], [], 7.0),
    utterance("endless", [(0.6, 20.0)], [(1.0, "what"), (2.0, "what is the")], 10.0),
    utterance("babble after it", [(0.8, 6.0)], REQUEST, 7.0),  # the VAD hears background speech on
    utterance("noisy", [(0.8, 2.4)], [(1.1, "what"), (1.6, "what time"), (2.3, "what time is it")], 6.0, noise=0.25),
    utterance("cut short", [(0.8, 3.0)], [(1.0, "call")], 2.5),
]
SETTINGS = {
    "final": ("final", DEFAULTS["final"]),
    "speculative": ("speculative", DEFAULTS["speculative"]),
    "vad only": ("final", replace(FINAL, use_decoder=False, silence_s=0.5)),
    "decoder": ("final", replace(FINAL, complete_blank_s=0.6, silence_s=2.0)),
    "eoq final": ("final", LEARNED["final"]),
    "eoq speculative": ("speculative", LEARNED["speculative"]),
}


@pytest.fixture(scope="module")
def laid_out():
    """Each stream laid out at its VAD windows, with the end-of-query model's probabilities, as the bench does."""
    model = EndOfQuery.load()
    out = []
    for u in STREAMS:
        s = steps(u, GRID["threshold"])
        s.eoq = model.prob(eoq_inputs(s, u))
        out.append((s, u))
    return out


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_the_node_and_the_benchmark_end_each_stream_alike(laid_out, setting):
    kind, p = SETTINGS[setting]
    reasons = set()
    for s, u in laid_out:
        expected = fire(s, u, p)
        assert node_fire(u, kind, p) == expected, u.id
        assert node_fire(u, kind, p, vad_chunk=3, seed=len(u.id)) == expected, u.id  # arrival order is no matter
        reasons.add(expected[1])
    assert len(reasons) >= 2, reasons  # the streams do not all end the same way


def test_the_streams_reach_every_reason(laid_out):
    seen = {fire(s, u, p)[1] for s, u in laid_out for _, p in SETTINGS.values()}
    assert seen == {"eoq", "silence", "decoder", "idle", "no_speech", "max_length"}


def test_a_grid_of_settings_decides_as_each_setting_alone(laid_out):
    """The fit evaluates GRID at once (arrays on axes of their own); each point is the rule at that setting."""
    g = grid(0.5, FINAL)
    a, b, c, d = np.broadcast_arrays(g.complete_silence_s, g.silence_s, g.blank_s, g.complete_blank_s)
    rng = np.random.default_rng(0)
    points = [tuple(int(rng.integers(n)) for n in a.shape) for _ in range(12)]
    for s, u in laid_out:
        at = fires(s, u, g)
        assert at.shape == a.shape
        for i in points:
            cb = None if np.isinf(d[i]) else float(d[i])
            p = replace(
                FINAL, threshold=0.5, complete_silence_s=a[i], silence_s=b[i], blank_s=c[i], complete_blank_s=cb
            )
            assert at[i] == fire(s, u, p)[0], (u.id, p)


def test_a_grid_of_end_of_query_settings_decides_as_each_setting_alone(laid_out):
    probs, silences = np.array([0.3, 0.9, 0.99]), np.array([0.5, 1.0, 1.5])
    base = replace(FINAL, threshold=SPEECH)
    for s, u in laid_out:
        at = fires(s, u, replace(base, eoq_threshold=probs[:, None], silence_s=silences[None, :]))
        for i, th in enumerate(probs):
            for j, sil in enumerate(silences):
                assert at[i, j] == fire(s, u, replace(base, eoq_threshold=th, silence_s=sil))[0], (u.id, th, sil)


def test_the_rule_checks_its_reasons_in_order():
    p = EndpointParams(complete_silence_s=0.2, silence_s=1.0, blank_s=0.1, complete_blank_s=0.5, max_length_s=3.0)
    tick = SAMPLE_RATE
    done = Situation(elapsed=4 * tick, heard=True, silence=tick, blank=tick, complete=True)
    assert decide(p, done) == "silence"  # silence, decoder and max_length all hold: silence comes first
    assert decide(p, replace(done, silence=0)) == "decoder"
    assert decide(p, replace(done, silence=0, blank=0)) == "max_length"
    quiet = Situation(elapsed=5 * tick, heard=False, silence=5 * tick, blank=5 * tick, complete=False)
    assert decide(p, quiet) == "no_speech"
    assert decide(p, replace(quiet, elapsed=tick, silence=tick)) is None
    stuck = replace(done, elapsed=2 * tick, silence=0, blank=2 * tick, complete=False)  # the VAD on, no words
    assert decide(p, stuck) == "idle" and decide(replace(p, idle_blank_s=None), stuck) is None
    half = replace(done, elapsed=2 * tick, silence=tick // 2)  # complete, but 0.5 s of silence
    assert decide(p, half) == "silence" and decide(replace(p, use_decoder=False), half) is None  # 1 s without it


def test_a_speculative_result_is_reset_when_the_hypothesis_changes_before_the_final_end_point():
    """The bench counts a reset where the decoder's hypothesis at the final end-point differs from the one
    at the speculative end-point, as the decoder node does, not only where the speaker was cut off."""
    u = STREAMS[0]  # "call" at 1.2 s, "call meg" at 1.6 s, "call meg bauer" at 1.95 s
    at = np.array([[round(t * SAMPLE_RATE) for t in (0.5, 0.9, 1.7, 1.9, 2.1, 2.5)]])
    plain, flushed = hypothesis_at([u], at)
    ids = plain[0]
    assert ids[0] == -1 and ids[1] != ids[2]  # no decoder signal yet; then an empty hypothesis, then "call meg"
    assert ids[2] == ids[3] != ids[4]  # "call meg" until the last word is decoded
    assert ids[4] == ids[5]  # "call meg bauer" stands
    assert (flushed == plain).all()  # nothing flushed collected: the hypotheses as they stand
    assert not confirmed((plain[:, 2], flushed[:, 2]), (plain[:, 4], flushed[:, 4]))


def test_a_flushed_speculative_result_is_confirmed_when_the_final_end_point_reaches_it():
    """The decoder node takes a speculative result from the search flushed (the last word's letters the
    encoder has not emitted yet): where that is what the final end-point finds, the bench counts no reset."""
    u = STREAMS[0]  # "call meg" until 1.95 s, "call meg bauer" after; flushed, "call meg bauer" from 1.7 s
    u = replace(
        u, sig_flushed=[t if e < round(1.7 * SAMPLE_RATE) else "call meg bauer" for t, e in zip(u.sig_text, u.sig_end)]
    )
    at = np.array([[round(t * SAMPLE_RATE) for t in (1.2, 1.8, 2.1)]])
    plain, flushed = hypothesis_at([u], at)
    assert flushed[0, 1] != plain[0, 1] and flushed[0, 1] == plain[0, 2]
    assert confirmed((plain[:, 1], flushed[:, 1]), (plain[:, 2], flushed[:, 2]))  # speculative at 1.8, final at 2.1
    assert not confirmed((plain[:, 0], flushed[:, 0]), (plain[:, 2], flushed[:, 2]))  # at 1.2 only "call"
