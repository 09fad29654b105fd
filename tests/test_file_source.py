"""File replay: formats, resampling, mixing, pacing, and bad files that lose nothing else."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio import SAMPLE_RATE
from audio.files import AudioFileError, expand, load, probe
from nodes.file_source import FileSource
from nodes.messages import AudioChunk
from pipeline import EndOfStream, Error, Event, Graph, LocalRuntime
from tests.graph_nodes import Relay


def replay(paths, **options) -> list:
    g = Graph("replay")
    g.add("source", FileSource, paths=[str(p) for p in paths], **options)
    g.add("out", Relay)
    g.connect("source", "out")
    with LocalRuntime(g) as rt:
        return list(rt.run())


def tone(freq: float, rate: int, seconds: float, channels: int = 1) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    x = (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


def audio_of(msgs, stream) -> np.ndarray:
    return np.concatenate([m.samples for m in msgs if isinstance(m, AudioChunk) and m.stream == stream])


def peak_hz(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * SAMPLE_RATE / len(x))


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg"])
def test_any_rate_and_format_is_resampled_to_16k(tmp_path, rate, fmt):
    path = tmp_path / f"tone.{fmt}"
    sf.write(path, tone(440.0, rate, 1.0), rate)
    x = audio_of(replay([path]), str(path))
    assert abs(len(x) - SAMPLE_RATE) <= 2
    assert abs(peak_hz(x) - 440.0) < 3.0
    assert 0.3 < np.abs(x[2000:-2000]).max() < 0.6


def test_stereo_is_mixed_to_mono(tmp_path):
    left = tone(300.0, SAMPLE_RATE, 0.5)
    stereo = np.stack([left, np.zeros_like(left)], axis=1)
    sf.write(tmp_path / "st.wav", stereo, SAMPLE_RATE, subtype="FLOAT")
    x = audio_of(replay([tmp_path / "st.wav"]), str(tmp_path / "st.wav"))
    np.testing.assert_allclose(x, left / 2, atol=1e-6)


def test_chunks_tile_the_stream_exactly(tmp_path):
    sf.write(tmp_path / "a.wav", tone(200, SAMPLE_RATE, 0.333), SAMPLE_RATE)
    msgs = [m for m in replay([tmp_path / "a.wav"], chunk_ms=40) if isinstance(m, AudioChunk)]
    assert all(m.end - m.start == 640 for m in msgs[:-1])
    assert [m.start for m in msgs[1:]] == [m.end for m in msgs[:-1]]
    assert msgs[-1].end == int(0.333 * SAMPLE_RATE)


def test_realtime_pacing_takes_as_long_as_the_audio(tmp_path):
    sf.write(tmp_path / "a.wav", tone(200, SAMPLE_RATE, 0.6), SAMPLE_RATE)
    started = time.monotonic()
    msgs = replay([tmp_path / "a.wav"], realtime=True)
    took = time.monotonic() - started
    assert 0.55 < took < 1.2
    chunks = [m for m in msgs if isinstance(m, AudioChunk)]
    t0 = chunks[0].captured_ns - chunks[0].end * 1_000_000_000 // SAMPLE_RATE
    for m in chunks:  # audio time t is captured at t0 + t
        assert m.captured_ns == t0 + m.end * 1_000_000_000 // SAMPLE_RATE


def make_bad_files(tmp: Path) -> dict[str, Path]:
    x = tone(300, SAMPLE_RATE, 1.0)
    sf.write(tmp / "good.wav", x, SAMPLE_RATE, subtype="PCM_16")
    whole = (tmp / "good.wav").read_bytes()
    (tmp / "truncated.wav").write_bytes(whole[: len(whole) // 2])
    sf.write(tmp / "good.flac", x, SAMPLE_RATE)
    flac = (tmp / "good.flac").read_bytes()
    (tmp / "truncated.flac").write_bytes(flac[: len(flac) // 2])
    (tmp / "empty.wav").write_bytes(b"")
    (tmp / "text.wav").write_text("this is not audio\n" * 50)
    sf.write(tmp / "noframes.wav", np.zeros(0, np.float32), SAMPLE_RATE)
    bad = x.copy()
    bad[8000] = np.nan
    sf.write(tmp / "nan.wav", bad, SAMPLE_RATE, subtype="FLOAT")
    return {
        "truncated.wav": tmp / "truncated.wav",
        "truncated.flac": tmp / "truncated.flac",
        "empty.wav": tmp / "empty.wav",
        "text.wav": tmp / "text.wav",
        "noframes.wav": tmp / "noframes.wav",
        "nan.wav": tmp / "nan.wav",
        "missing.wav": tmp / "missing.wav",
    }


EXPECTED = {
    "truncated.wav": "truncated: its header promises 32000 bytes of audio, the file holds",
    "truncated.flac": "truncated",
    "empty.wav": "empty file",
    "text.wav": "not a readable audio file",
    "noframes.wav": "holds no audio frames",
    "nan.wav": "NaN or infinite samples (first at 0.50 s)",
    "missing.wav": "no such file",
}


def test_each_bad_file_gives_one_clear_error_and_the_good_stream_goes_on(tmp_path):
    bad = make_bad_files(tmp_path)
    good = tmp_path / "good.wav"
    msgs = replay([good, *bad.values()])
    for name, path in bad.items():
        errors = [m for m in msgs if isinstance(m, Error) and m.stream == str(path)]
        assert len(errors) == 1, name
        assert EXPECTED[name] in errors[0].error, (name, errors[0].error)
        assert "\n" not in errors[0].error
        assert any(isinstance(m, EndOfStream) and m.stream == str(path) for m in msgs), name
    assert len(audio_of(msgs, str(good))) == SAMPLE_RATE
    assert not any(isinstance(m, Error) and m.stream == str(good) for m in msgs)


def test_probe_accepts_good_files_and_load_reads_them(tmp_path):
    sf.write(tmp_path / "g.flac", tone(300, 22050, 0.5, channels=2), 22050)
    info = probe(tmp_path / "g.flac")
    assert (info.sample_rate, info.channels, info.format) == (22050, 2, "FLAC")
    assert abs(len(load(tmp_path / "g.flac")) - 8000) <= 2
    with pytest.raises(AudioFileError, match="a folder that holds no"):
        probe(tmp_path)


def test_clipped_float_audio_is_clipped_with_a_warning(tmp_path):
    x = tone(300, SAMPLE_RATE, 0.5) * 3
    sf.write(tmp_path / "loud.wav", x, SAMPLE_RATE, subtype="FLOAT")
    msgs = replay([tmp_path / "loud.wav"])
    assert np.abs(audio_of(msgs, str(tmp_path / "loud.wav"))).max() <= 1.0
    warnings = [m for m in msgs if isinstance(m, Event) and m.name == "warning"]
    assert len(warnings) == 1 and "clipped" in warnings[0].data["warning"]


def test_folders_expand_to_their_audio_files(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("b.wav", "a.flac", "sub/c.ogg"):
        sf.write(tmp_path / name, tone(300, SAMPLE_RATE, 0.1), SAMPLE_RATE)
    (tmp_path / "notes.txt").write_text("x")
    assert expand([str(tmp_path)]) == [str(tmp_path / n) for n in ("a.flac", "b.wav", "sub/c.ogg")]
    (tmp_path / "empty").mkdir()
    assert expand([str(tmp_path / "empty")]) == [str(tmp_path / "empty")]  # kept: its stream says what is wrong


def test_many_files_are_concurrent_streams(tmp_path):
    paths = []
    for i in range(6):
        paths.append(tmp_path / f"{i}.wav")
        sf.write(paths[-1], tone(200 + 50 * i, SAMPLE_RATE, 0.2 + 0.1 * i), SAMPLE_RATE)
    msgs = [m for m in replay(paths) if isinstance(m, AudioChunk)]
    # Interleaved: the first chunks of every stream come before the second chunk of any.
    assert {m.stream for m in msgs[:6]} == {str(p) for p in paths}
    for i, p in enumerate(paths):
        assert len(audio_of(msgs, str(p))) == int((0.2 + 0.1 * i) * SAMPLE_RATE)


def test_limited_concurrency_plays_recordings_back_to_back(demo_files):
    src = FileSource(demo_files[:3], concurrency=1, realtime=False)
    batches = list(src.batches(0))
    streams = [m for b in batches for m in b if isinstance(m, Event) and m.name == "stream"]
    offsets = [e.data["start_offset_s"] for e in streams]
    durations = [e.data["duration_s"] for e in streams]
    assert offsets[0] == 0.0
    assert offsets[1] == pytest.approx(durations[0] + 0.1, abs=0.01)
    assert offsets[2] == pytest.approx(durations[0] + durations[1] + 0.2, abs=0.02)
    order = [m.stream for b in batches for m in b if isinstance(m, AudioChunk)]
    first_of_second = order.index(demo_files[1])
    assert demo_files[1] not in order[: order.index(demo_files[0]) + 1]
    assert all(s == demo_files[0] for s in order[:first_of_second])


def test_shards_split_the_streams_and_keep_each_one_as_it_was(demo_files):
    """Replicas each replay their share (`FileSource.shard`): every stream in exactly one share, with the same
    messages and the same place in the schedule as in the whole."""
    from pipeline.replicas import replica_of

    paths = demo_files * 2
    whole = FileSource(paths, concurrency=2, contexts=[["meg bauer"]] * len(paths))
    whole.name = "source"

    def by_stream(source: FileSource) -> dict[str, list]:
        out: dict[str, list] = {}
        for batch in source.batches(0):
            for m in batch:
                out.setdefault(m.stream, []).append(m.replace(captured_ns=0))
        return out

    expected = by_stream(whole)
    shards = [whole.shard(i, 3) for i in range(3)]
    seen: dict[str, list] = {}
    for i, shard in enumerate(shards):
        if shard is None:
            assert not [s for s in whole.stream_ids if replica_of(s, 3) == i]
            continue
        assert shard.name == "source"
        assert all(replica_of(s, 3) == i for s in shard.planned_streams())
        seen.update(by_stream(shard))
    assert seen.keys() == expected.keys()
    for stream, msgs in expected.items():
        assert [repr(m) for m in seen[stream]] == [repr(m) for m in msgs], stream
