"""The VAD node on synthetic speech: right answers, and the same answers however the audio is cut."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from audio import SAMPLE_RATE
from corpus.tts import Prosody, Voice, synthesize
from nodes.messages import AudioChunk, UtteranceFeatures, VoiceActivity
from nodes.vad import WINDOW, VADConfig, VoiceActivityDetector, speech_probs
from pipeline import Error, Event, Message, Watermark
from pipeline.testing import run_node
from tests.batching import batched, deliveries, demo_audio, one_by_one

LEAD_S, TAIL_S = 1.0, 1.2


@pytest.fixture(scope="module")
def recording() -> tuple[np.ndarray, float, float]:
    """(samples, speech start s, speech end s): a request between stretches of faint noise."""
    speech = synthesize("turn on the kitchen lights", Voice("espeak", "en-us"), Prosody(rate_wpm=160))
    rng = np.random.default_rng(0)
    x = np.concatenate([np.zeros(round(LEAD_S * SAMPLE_RATE)), speech, np.zeros(round(TAIL_S * SAMPLE_RATE))]).astype(
        np.float32
    )
    x += rng.normal(0, 1e-3, len(x)).astype(np.float32)
    return x, LEAD_S, LEAD_S + len(speech) / SAMPLE_RATE


@pytest.fixture(scope="module")
def vad() -> VoiceActivityDetector:
    return VoiceActivityDetector()


def feed(node: VoiceActivityDetector, x: np.ndarray, sizes: list[int], stream: str = "s") -> list[VoiceActivity]:
    """The node's output for `x` cut into chunks of `sizes` (in turn), through the node host."""
    chunks, pos, i = [], 0, 0
    while pos < len(x):
        n = sizes[i % len(sizes)]
        chunks.append(
            AudioChunk(stream=stream, start=pos, end=pos + len(x[pos : pos + n]), samples=x[pos : pos + n].copy())
        )
        pos += n
        i += 1
    return [m for m in run_node(node, chunks) if isinstance(m, VoiceActivity)]


def test_probabilities_are_high_in_speech_and_low_in_silence(vad, recording):
    x, start, end = recording
    msgs = feed(vad, x, [160])
    probs = np.concatenate([m.probs for m in msgs])
    centres = (np.arange(len(probs)) + 0.5) * WINDOW / SAMPLE_RATE
    before = probs[centres < start - 0.1]
    inside = probs[(centres > start + 0.1) & (centres < end - 0.1)]
    after = probs[centres > end + 0.3]
    assert before.max() < 0.2 and after.max() < 0.2
    assert (inside > 0.5).mean() > 0.7
    assert len(probs) == len(x) // WINDOW  # every complete window, and only those


def test_chunking_does_not_change_the_probabilities(vad, recording):
    x = recording[0]
    whole = speech_probs(x, vad.vad)
    for sizes in ([160], [512], [37, 1000, 513, 4096, 1], [len(x)]):
        msgs = feed(vad, x, sizes)
        assert np.array_equal(np.concatenate([m.probs for m in msgs]), whole), sizes
        assert [m.start for m in msgs[1:]] == [m.end for m in msgs[:-1]]  # contiguous windows
        assert all(m.end - m.start == len(m.probs) * WINDOW for m in msgs)


def test_one_message_per_chunk_that_completes_a_window(vad, recording):
    x = recording[0][: 5 * WINDOW]
    sizes = [300, 300, 1000, 100, 860]  # completes windows at the 2nd, 3rd and 5th chunk
    cuts = itertools.accumulate(sizes, initial=0)
    chunks = [AudioChunk(stream="s", start=a, end=b, samples=x[a:b]) for a, b in itertools.pairwise(cuts)]
    stream_opened = Event.make("stream", stream="s")
    out = run_node(vad, [stream_opened, *chunks])
    msgs = [m for m in out if isinstance(m, VoiceActivity)]
    assert [len(m.probs) for m in msgs] == [1, 2, 2]
    assert [m.end for m in msgs] == [WINDOW, 3 * WINDOW, 5 * WINDOW]  # in the 2nd, 3rd and 5th chunk
    assert stream_opened in [m.replace(trace=()) for m in out]  # only audio makes probabilities: events pass


def test_streams_keep_their_own_recurrent_state(vad, recording):
    x = recording[0]
    silence = np.random.default_rng(1).normal(0, 1e-3, len(x)).astype(np.float32)
    alone = np.concatenate([m.probs for m in feed(vad, x, [160])])
    chunks = [
        AudioChunk(stream=name, start=pos, end=pos + 160, samples=sig[pos : pos + 160].copy())
        for pos in range(0, len(x), 160)
        for name, sig in (("a", x), ("b", silence))
    ]  # the two streams interleaved, chunk by chunk
    out = [m for m in run_node(vad, chunks) if isinstance(m, VoiceActivity)]
    got = {name: np.concatenate([m.probs for m in out if m.stream == name]) for name in "ab"}
    assert np.array_equal(got["a"], alone)
    assert got["b"].max() < 0.2


def test_streams_batched_give_the_probabilities_of_each_stream_alone(vad):
    """The demo recordings as concurrent streams, in ragged chunks: batched across streams, the same
    messages with the same window grid and bit for bit the same probabilities, as the runtimes' equal
    results need."""
    signals = demo_audio()
    batches = deliveries(signals, [160, 320, 512, 1000, 160][: len(signals)])
    together, alone = batched(vad, batches), one_by_one(vad, batches)
    assert together.keys() == alone.keys() and len(together) == len(signals)
    assert max(len(b) for b in batches) > 1
    for stream, msgs in alone.items():
        got = together[stream]
        assert [(type(m), m.start, m.end) for m in got] == [(type(m), m.start, m.end) for m in msgs]
        p, q = np.concatenate([m.probs for m in got]), np.concatenate([m.probs for m in msgs])
        assert np.array_equal(p, q), np.abs(p - q).max()


def test_a_stream_that_fails_in_a_batch_fails_alone(vad):
    """One stream's broken recurrent state makes the batched call fail: that stream gets an `Error` and
    starts afresh, the others in the batch get their probabilities as if alone."""
    signals = demo_audio()[:3]
    batches = deliveries(signals, [1024, 1024, 1024])
    alone = one_by_one(vad, batches)
    states = {f"s{i}": vad.new_state(f"s{i}") for i in range(3)}
    out = vad.on_batch([(m, states[m.stream]) for m in batches[0]])
    states["s1"].state = np.zeros((2, 1, 7), np.float32)  # not silero's state shape
    out += vad.on_batch([(m, states[m.stream]) for m in batches[1]])
    errors = [m for m in out if isinstance(m, Error)]
    assert [(e.stream, e.node) for e in errors] == [("s1", vad.name)]
    for s in ("s0", "s2"):
        got = [m for m in out if m.stream == s and isinstance(m, VoiceActivity)]
        assert len(got) == 2
        assert np.array_equal(np.concatenate([m.probs for m in got]), np.concatenate([m.probs for m in alone[s][:2]]))
    assert states["s1"].errors == 1 and states["s1"].state.shape == (2, 1, 128)
    assert vad.on_batch([(m, states[m.stream]) for m in batches[2]])  # s1 goes on from a fresh state


def gate_output(total: int, spans: list[tuple[int, int]], step: int = 640, stream: str = "s") -> list[Message]:
    """What the wake gate sends for `total` ticks of a stream, a 40 ms chunk at a time: its frames where an
    utterance is open (`spans`, in ticks), a Watermark where it is listening."""
    out: list[Message] = []
    for a in range(0, total - step + 1, step):
        if any(s <= a < e for s, e in spans):
            frames = np.zeros((step // 160, 64), np.float32)
            utterance = dict(utterance=0, revision=0, frames=frames, first_frame=a // 160)
            out.append(UtteranceFeatures(stream=stream, start=a, end=a + step, **utterance))
        else:
            out.append(Watermark(stream=stream, start=a, end=a + step))
    return out


@pytest.fixture(scope="module")
def gated() -> VoiceActivityDetector:
    return VoiceActivityDetector(follow_gate=True)


def audio_chunks(x: np.ndarray) -> list[AudioChunk]:
    return [AudioChunk(stream="s", start=a, end=a + 160, samples=x[a : a + 160].copy()) for a in range(0, len(x), 160)]


def follow(node: VoiceActivityDetector, x: np.ndarray, spans: list[tuple[int, int]], seed: int | None = None):
    """The node's output for `x` (in 10 ms chunks) beside the gate's output for `spans`, merged by audio time
    (or at random with `seed`), as the assistant graph connects them."""
    chunks = [
        AudioChunk(stream="s", start=a, end=a + 160, samples=x[a : a + 160].copy()) for a in range(0, len(x), 160)
    ]
    gate = gate_output(len(x), spans)
    return run_node(node, {"source": chunks, "gate": gate}, seed=seed, edges={"gate": {"only": (UtteranceFeatures,)}})


def test_following_the_gate_it_runs_only_where_an_utterance_is_open(gated, vad, recording):
    """Windows from the preroll before the open span to its end, and none elsewhere; inside the span, once
    silero has warmed up, the probabilities of the VAD that runs all the time."""
    x, start, _ = recording
    span = (round((start + 0.6) * SAMPLE_RATE) // 640 * 640, round((start + 1.4) * SAMPLE_RATE) // 640 * 640)
    out = follow(gated, x, [span])
    msgs = [m for m in out if isinstance(m, VoiceActivity)]
    first = msgs[0].start
    preroll = round(VADConfig.preroll_s * SAMPLE_RATE)
    assert first + WINDOW + preroll > span[0] >= first + preroll  # the first window the preroll reaches
    assert [m.start for m in msgs[1:]] == [m.end for m in msgs[:-1]]  # one run of contiguous windows
    assert span[1] <= msgs[-1].end < span[1] + WINDOW
    probs = np.concatenate([m.probs for m in msgs])
    whole = speech_probs(x, vad.vad)[first // WINDOW : first // WINDOW + len(probs)]
    warm = np.arange(len(probs)) * WINDOW + first >= span[0] - WINDOW
    assert np.abs(probs - whole)[warm].max() < 0.02


def test_following_the_gate_watermarks_stand_for_the_windows_it_skips(gated, recording):
    """Probabilities and watermarks together cover the stream in order, so the end-pointers never wait."""
    x, start, _ = recording
    span = (round((start + 0.6) * SAMPLE_RATE) // 640 * 640, round((start + 1.4) * SAMPLE_RATE) // 640 * 640)
    out = [m for m in follow(gated, x, [span]) if isinstance(m, VoiceActivity | Watermark)]
    assert out[0].start == 0 and [m.start for m in out[1:]] == [m.end for m in out[:-1]]
    assert out[-1].end == len(x) // WINDOW * WINDOW


def test_a_gate_that_never_opens_costs_no_network_call(recording, monkeypatch):
    x = recording[0]
    node = VoiceActivityDetector(follow_gate=True)
    calls = []
    monkeypatch.setattr(node.vad, "net", lambda *a: calls.append(a))
    out = follow(node, x, [])
    assert not calls and not [m for m in out if isinstance(m, VoiceActivity)]
    assert max(m.end for m in out if isinstance(m, Watermark)) == len(x) // WINDOW * WINDOW


def test_following_the_gate_the_output_does_not_depend_on_arrival_order(gated, recording):
    """The gate's verdicts may arrive before or after the audio they judge (Ray): the same probabilities."""
    x, start, _ = recording
    spans = [(6400, 12800), (round((start + 0.6) * SAMPLE_RATE) // 640 * 640, len(x) // 640 * 640)]
    runs = [follow(gated, x, spans, seed) for seed in (None, 1, 2, 3)]
    got = [
        [(m.start + k * WINDOW, p) for m in r if isinstance(m, VoiceActivity) for k, p in enumerate(m.probs.tolist())]
        for r in runs
    ]  # window by window: how they are grouped into messages follows the arrivals
    assert got[0] and all(g == got[0] for g in got[1:])


def test_an_utterance_preroll_is_caught_up_a_few_windows_per_message(gated, recording):
    """When the gate opens, the preroll before the utterance (47 windows) is computed over the next messages, at
    most `max_windows` per message, so the delivery that carries the `Wake` stays short; the windows are the
    same as computed all at once."""
    x, start, _ = recording
    span = (round((start + 0.6) * SAMPLE_RATE) // 640 * 640, len(x) // 640 * 640)
    out = follow(gated, x, [span])
    msgs = [m for m in out if isinstance(m, VoiceActivity)]
    assert max(len(m.probs) for m in msgs) == VADConfig.max_windows
    assert sum(len(m.probs) for m in msgs) > 4 * VADConfig.max_windows
    at_once = follow(VoiceActivityDetector(follow_gate=True, max_windows=10**6), x, [span])
    probs = [np.concatenate([m.probs for m in o if isinstance(m, VoiceActivity)]) for o in (out, at_once)]
    assert max(len(m.probs) for m in at_once if isinstance(m, VoiceActivity)) > 40
    assert np.array_equal(*probs)
