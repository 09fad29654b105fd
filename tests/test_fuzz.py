"""Fuzzing what comes into the graph: any file the source is asked to replay, any audio chunks the front end is fed.

Nothing escapes the runtime, every stream drains, a bad file or a bad chunk is one `Error` line on its own
stream, and a good stream replayed beside it comes out exactly as it does alone. And a file far longer than
memory should hold is streamed block by block.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from audio import SAMPLE_RATE
from nodes.features import MAX_REPORTS, LogMelFeatures
from nodes.file_source import FileSource
from nodes.messages import AudioChunk, FeatureFrames, UtteranceFeatures, VoiceActivity
from nodes.vad import VoiceActivityDetector
from nodes.wake_gate import WakeWordGate
from pipeline import EndOfStream, Error, Event, Graph, LocalRuntime, Message, Source, Watermark
from pipeline.pacing import interleave
from tests.conftest import DEMO
from tests.graph_nodes import Relay

SPECIALS = [np.nan, np.inf, -np.inf, 3.4e38, -3.4e38, 1e30, 1.0, -1.0, 1.0000001, 0.0]
GAINS = [0.0, 1e-4, 0.1, 0.9, 1.0, 1.5, 1e3, 1e30, 3.4e38]


class Reference:
    """A good input and what the graph makes of it alone (short to print in a falsifying example)."""

    def __init__(self, input: Any, alone: list[tuple]) -> None:
        self.input, self.alone = input, alone

    def __repr__(self) -> str:
        return f"Reference({len(self.alone)} messages)"


def replay(paths: list[str]) -> list[Message]:
    g = Graph("replay")
    g.add("source", FileSource, paths=paths)
    g.add("out", Relay)
    g.connect("source", "out")
    with LocalRuntime(g) as rt:
        return list(rt.run())


class Close:
    """VAD probabilities, equal to others within 1e-4 (the batched VAD's floats depend on the streams beside
    it by about 1e-5: `nodes.vad`)."""

    __hash__ = None  # type: ignore[assignment]

    def __init__(self, values: np.ndarray) -> None:
        self.values = values

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Close)
            and self.values.shape == other.values.shape
            and bool(np.allclose(self.values, other.values, rtol=0, atol=1e-4))
        )

    def __repr__(self) -> str:
        return f"Close({self.values!r})"


def _value(m: Message, v: np.ndarray) -> bytes | Close:
    return Close(v) if isinstance(m, VoiceActivity) else v.tobytes()


def digest(msgs: list[Message], stream: str) -> list[tuple]:
    """What a stream's messages say, without the clocks (VAD probabilities as `Close`)."""
    return [
        (
            type(m).__name__,
            *(
                (f.name, _value(m, v) if isinstance(v, np.ndarray) else v)
                for f in dataclasses.fields(m)
                if f.name not in ("captured_ns", "trace")
                for v in [getattr(m, f.name)]
            ),
        )
        for m in msgs
        if m.stream == stream
    ]


@pytest.fixture(scope="module")
def good_file(tmp_path_factory) -> Reference:
    """A short clean recording and what replaying it alone gives."""
    path = tmp_path_factory.mktemp("good") / "good.wav"
    t = np.arange(SAMPLE_RATE // 4) / SAMPLE_RATE
    sf.write(path, (0.5 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), SAMPLE_RATE, subtype="PCM_16")
    return Reference(str(path), digest(replay([str(path)]), str(path)))


def check_replay(msgs: list[Message], streams: list[str]) -> None:
    """Exactly one EndOfStream per stream, last; at most one Error, one line; only sane audio."""
    for s in streams:
        mine = [m for m in msgs if m.stream == s]
        assert [type(m) for m in mine].count(EndOfStream) == 1, s
        assert isinstance(mine[-1], EndOfStream), s
        errors = [m for m in mine if isinstance(m, Error)]
        assert len(errors) <= 1, [e.error for e in errors]
        for e in errors:
            assert e.error and "\n" not in e.error and "\r" not in e.error, e.error
        chunks = [m for m in mine if isinstance(m, AudioChunk)]
        pos = 0
        for c in chunks:  # the chunks tile the stream from tick 0 with finite samples within full scale
            assert (c.start, c.end) == (pos, pos + len(c.samples))
            assert c.samples.dtype == np.float32 and c.samples.ndim == 1
            assert np.isfinite(c.samples).all() and np.abs(c.samples).max(initial=0) <= 1.0
            pos = c.end
        assert mine[-1].end == pos


# -- the file source: arbitrary bytes ------------------------------------------------------------------------


def _valid_bytes(fmt: str) -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    sf.write(buf, (0.3 * rng.standard_normal(2000)).astype(np.float32), 22050, format=fmt.upper())
    return buf.getvalue()


VALID = {fmt: _valid_bytes(fmt) for fmt in ("wav", "flac", "ogg")}


@st.composite
def file_bytes(draw) -> tuple[str, bytes]:
    """Random bytes, or a real file of the same format with its header or body overwritten and/or cut short."""
    fmt = draw(st.sampled_from(sorted(VALID)))
    if draw(st.booleans()):
        return fmt, draw(st.binary(max_size=4096))
    data = bytearray(VALID[draw(st.sampled_from(sorted(VALID)))] if draw(st.integers(0, 9)) == 0 else VALID[fmt])
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, min(len(data), 256) if draw(st.booleans()) else len(data)))
        patch = draw(st.binary(min_size=1, max_size=16))
        data[at : at + len(patch)] = patch
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return fmt, bytes(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(file_bytes())
def test_any_bytes_replay_as_one_error_or_as_audio_and_the_good_file_is_untouched(good_file, case):
    fmt, data = case
    good, alone = good_file.input, good_file.alone
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / f"fuzz.{fmt}")
        Path(path).write_bytes(data)
        msgs = replay([good, path])
    check_replay(msgs, [good, path])
    assert digest(msgs, good) == alone


def test_the_device_playing_flag_reaches_its_stream(good_file):
    """Regression: FileSource took `device_playing` (from a manifest) but never sent the event."""
    g = Graph("replay")
    g.add("source", FileSource, paths=[good_file.input, good_file.input], device_playing=[False, True])
    g.add("out", Relay)
    g.connect("source", "out")
    with LocalRuntime(g) as rt:
        msgs = list(rt.run())
    flagged = [m.stream for m in msgs if isinstance(m, Event) and m.name == "device_playing"]
    assert flagged == [f"{good_file.input}#2"]


# -- the file source: arbitrary samples written by soundfile ---------------------------------------------------

SUBTYPES = {"wav": ["PCM_16", "FLOAT", "DOUBLE"], "flac": ["PCM_16", "PCM_24"], "ogg": ["VORBIS"]}


@st.composite
def recordings(draw) -> tuple[str, str, int, np.ndarray]:
    """(format, subtype, rate, samples frames x channels): noise at any gain with special values sprinkled in."""
    fmt = draw(st.sampled_from(sorted(SUBTYPES)))
    subtype = draw(st.sampled_from(SUBTYPES[fmt]))
    rate = draw(st.sampled_from([8000, 16000, 44100, 48000]))
    channels = draw(st.integers(1, 2))
    frames = draw(st.one_of(st.integers(0, 3), st.integers(0, 6000)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.uniform(-1, 1, (frames, channels)) * draw(st.sampled_from(GAINS))
    for value, frame, channel in draw(
        st.lists(st.tuples(st.sampled_from(SPECIALS), st.integers(0, 10**6), st.integers(0, 1)), max_size=5)
    ):
        if frames:
            x[frame % frames, channel % channels] = value
    if draw(st.booleans()):
        x = np.clip(x, -1.0, 1.0)  # a clipped recording: long runs at full scale
    return fmt, subtype, rate, x.astype(np.float32 if subtype != "DOUBLE" else np.float64)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(recordings())
@example(("wav", "FLOAT", 8000, np.array([[1.0, 1.0000001]], np.float32)))  # mixes to exactly full scale
def test_any_samples_replay_as_clean_audio_or_one_error(good_file, rec):
    fmt, subtype, rate, x = rec
    good, alone = good_file.input, good_file.alone
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / f"fuzz.{fmt}")
        try:
            sf.write(path, x, rate, subtype=subtype)
        except Exception:  # libsndfile or its encoders refuse some input (FLAC and NaN): nothing to replay
            assume(False)
        msgs = replay([good, path])
    check_replay(msgs, [good, path])
    assert digest(msgs, good) == alone
    errors = [m.error for m in msgs if isinstance(m, Error)]
    if len(x) == 0:
        assert len(errors) == 1 and ("no audio frames" in errors[0] or "empty file" in errors[0]), errors
    elif subtype in ("FLOAT", "DOUBLE"):  # the file holds exactly these values
        finite = np.isfinite(x.mean(axis=1, dtype=np.float64)).all()
        if finite:
            assert not errors
            warned = any(isinstance(m, Event) and m.name == "warning" and "clipped" in m.data["warning"] for m in msgs)
            mono = x.astype(np.float32).mean(axis=1, dtype=np.float64).astype(np.float32)  # as the source mixes
            assert warned == bool((np.abs(mono) > 1).any())
        else:
            assert len(errors) == 1 and "NaN or infinite" in errors[0], errors
    elif subtype.startswith("PCM"):  # integers: always readable
        assert not errors, errors
    if len(x) and not errors:
        narrow = [m for m in msgs if isinstance(m, Event) and m.name == "warning" and "narrowband" in m.data["warning"]]
        assert len(narrow) == (rate < 16_000), narrow


# -- the front end (features, VAD, wake gate) on arbitrary audio chunks ----------------------------------------


class ChunkSource(Source):
    """Replays given messages, stream by stream, interleaved in audio-time order (a test double for audio input)."""

    def __init__(self, *, streams: dict[str, list[Message]]) -> None:
        super().__init__()
        self.streams = streams

    def batches(self, t0_ns: int) -> Iterator[list[Message]]:
        return interleave([iter(v) for v in self.streams.values()], t0_ns, realtime=False)


def front(streams: dict[str, list[Message]]) -> list[Message]:
    """The front of the assistant graph (source -> features -> gate, source -> vad) with the features tapped."""
    g = Graph("front")
    g.add("source", ChunkSource, streams=streams)
    g.add("features", LogMelFeatures)
    g.add("gate", WakeWordGate)
    g.add("vad", VoiceActivityDetector)
    g.add("frames", Relay)
    g.connect("source", "features").connect("features", "gate").connect("source", "vad", events=())
    g.connect("features", "frames", only=(FeatureFrames,))
    with LocalRuntime(g) as rt:
        return list(rt.run())


SINKS = 3  # gate, vad, frames


def chunked(x: np.ndarray, stream: str, size: int) -> list[Message]:
    msgs: list[Message] = [
        AudioChunk(stream=stream, start=p, end=p + len(x[p : p + size]), samples=x[p : p + size].copy())
        for p in range(0, len(x), size)
    ]
    return [*msgs, EndOfStream(stream=stream, start=len(x), end=len(x))]


@pytest.fixture(scope="module")
def good_stream() -> Reference:
    """The first 1.2 s of a demo recording ("alexa, ..."), in 20 ms chunks, and what the front end makes of it alone."""
    from audio.files import load

    msgs = chunked(load(DEMO / "alexa_call_meg_bauer.wav")[: SAMPLE_RATE * 6 // 5], "good", 320)
    return Reference(msgs, digest(front({"good": msgs}), "good"))


@st.composite
def chunk_streams(draw) -> tuple[list[Message], bool]:
    """A stream of AudioChunks that may break every rule of the message contract, ended by an EndOfStream;
    and whether it broke any (non-finite or loud samples, a malformed array, a gap or an overlap)."""
    with np.errstate(all="ignore"):  # float16 overflows to inf: that is the point
        return _chunk_stream(draw)


def _chunk_stream(draw) -> tuple[list[Message], bool]:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    msgs: list[Message] = []
    broken = False
    pos = draw(st.sampled_from([0, 0, 0, 160, 1000, -100]))  # the first chunk may start anywhere from tick 0
    for _ in range(draw(st.integers(0, 25))):
        n = draw(st.one_of(st.sampled_from([0, 1, 160, 512]), st.integers(0, 4000)))
        shift = draw(st.one_of(st.just(0), st.just(0), st.integers(-3000, 3000), st.sampled_from([40_000, -n])))
        start = pos + shift if msgs else pos
        broken |= start != pos or start < 0
        x = rng.uniform(-1, 1, n) * draw(st.sampled_from(GAINS))
        for value, i in draw(st.lists(st.tuples(st.sampled_from(SPECIALS), st.integers(0, 10**6)), max_size=3)):
            if n:
                x[i % n] = value
        samples = x.astype(draw(st.sampled_from([np.float32, np.float32, np.float64, np.float16])))
        end = start + n
        shape = draw(st.sampled_from(["ok"] * 8 + ["2d", "short", "long", "int", "backwards"]))
        if shape == "2d":
            samples = np.stack([samples, samples], axis=1)
        elif shape == "short":
            end += 7
        elif shape == "long":
            samples = np.concatenate([samples, np.zeros(5, samples.dtype)])
        elif shape == "int":
            samples = (np.nan_to_num(samples) * 100).astype(np.int16)
        elif shape == "backwards":
            end = start - 10
        wide = samples.astype(np.float64)
        loud = not np.isfinite(wide).all() or np.abs(wide).max(initial=0) > 1.0
        broken |= shape != "ok" or loud
        msgs.append(AudioChunk(stream="fuzz", start=start, end=end, samples=samples))
        pos = end
    msgs.append(EndOfStream(stream="fuzz", start=max(pos, 0), end=max(pos, 0)))
    return msgs, broken


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(chunk_streams())
def test_front_end_survives_any_chunks_and_other_streams_carry_on(good_stream, case):
    fuzz, broken = case
    good, alone = good_stream.input, good_stream.alone
    msgs = front({"good": good, "fuzz": fuzz})
    ends = Counter(m.stream for m in msgs if isinstance(m, EndOfStream))
    assert ends == {"good": SINKS, "fuzz": SINKS}, ends  # every stream drained through every sink
    assert digest(msgs, "good") == alone
    errors = [m for m in msgs if isinstance(m, Error) and m.trace[-1][0] != "frames"]  # once, not via the tap too
    for e in errors:
        assert e.stream == "fuzz" and e.node in ("features", "vad"), e
        assert e.error.startswith("bad audio at ") and "\n" not in e.error, e.error
    by_node = Counter(e.node for e in errors)
    if broken:
        assert by_node["features"] >= 1 and by_node["vad"] >= 1, [m.start for m in fuzz]
    else:
        assert not errors, [e.error for e in errors]
    assert max(by_node.values(), default=0) <= MAX_REPORTS
    # what the nodes send on is sane: finite, and at audio times that only move forward
    frames = [m for m in msgs if isinstance(m, FeatureFrames) and m.stream == "fuzz"]
    for a, b in itertools.pairwise(frames):
        assert b.first_frame >= a.first_frame + len(a.frames)
    for m in frames:
        assert np.isfinite(m.frames).all() and m.start == m.first_frame * 160
    vad = [m for m in msgs if isinstance(m, VoiceActivity) and m.stream == "fuzz"]
    for a, b in itertools.pairwise(vad):
        assert b.start >= a.end
    for m in vad:
        assert ((m.probs >= 0) & (m.probs <= 1)).all() and m.end - m.start == len(m.probs) * m.window
    for m in msgs:
        if isinstance(m, UtteranceFeatures):
            assert np.isfinite(m.frames).all()
        assert isinstance(
            m, FeatureFrames | VoiceActivity | UtteranceFeatures | Watermark | Event | Error | EndOfStream
        )


@pytest.mark.parametrize(
    ("value", "repaired", "says"),
    [
        (np.nan, 0.0, "1 NaN or infinite sample: replaced by silence"),
        (1e30, 1.0, "1 sample beyond full scale: clipped"),
    ],
)
def test_one_bad_sample_is_one_error_per_node_and_does_not_poison_the_stream(good_stream, value, repaired, says):
    """Before the check, one NaN (or one huge sample) made every later VAD probability NaN: silero is recurrent."""
    x = np.concatenate([m.samples for m in good_stream.input if isinstance(m, AudioChunk)])
    bad, fixed = x.copy(), x.copy()
    bad[4000], fixed[4000] = value, repaired
    msgs = front({"bad": chunked(bad, "bad", 320), "fixed": chunked(fixed, "fixed", 320)})
    errors = [m for m in msgs if isinstance(m, Error) and m.trace[-1][0] != "frames"]
    assert sorted(e.node for e in errors) == ["features", "vad"] and {e.stream for e in errors} == {"bad"}
    assert all(e.error == f"bad audio at 0.240-0.260 s: {says}" for e in errors), errors
    # apart from the errors, the stream goes on exactly as if the sample had been silence (or full scale)
    assert [d for d in digest(msgs, "bad") if d[0] != "Error"] == [
        tuple(("stream", "bad") if f == ("stream", "fixed") else f for f in d) for d in digest(msgs, "fixed")
    ]
    probs = np.concatenate([m.probs for m in msgs if isinstance(m, VoiceActivity) and m.stream == "bad"])
    assert np.isfinite(probs).all() and len(probs) == len(x) // 512


# -- long streams -------------------------------------------------------------------------------------------


def test_a_twenty_minute_file_streams_through_in_bounded_memory(tmp_path):
    path = tmp_path / "long.wav"
    seconds = 20 * 60
    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", samplerate=SAMPLE_RATE, channels=1, subtype="PCM_16") as f:
        for _ in range(seconds // 10):  # written 10 s at a time: the test holds no more than the source may
            f.write((0.01 * rng.standard_normal(10 * SAMPLE_RATE)).astype(np.float32))
    size = path.stat().st_size
    assert size > 38_000_000
    g = Graph("long")
    g.add("source", FileSource, paths=[str(path)], chunk_ms=500, realtime=False)  # big chunks: tracemalloc is slow
    g.add("out", Relay)
    g.connect("source", "out")
    samples, ends, started = 0, 0, time.monotonic()
    tracemalloc.start()
    try:
        with LocalRuntime(g) as rt:
            for m in rt.run():  # counted, not kept
                if isinstance(m, AudioChunk):
                    samples += len(m.samples)
                    assert m.start == samples - len(m.samples)
                ends += isinstance(m, EndOfStream)
                assert not isinstance(m, Error), m
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert samples == seconds * SAMPLE_RATE and ends == 1
    # the file is 38 MB of 16-bit samples (77 MB as float32); a few 16k-sample blocks and chunks are in flight
    assert peak < size / 10, f"peak {peak / 1e6:.1f} MB of Python memory for a {size / 1e6:.0f} MB file"
    assert time.monotonic() - started < 30
