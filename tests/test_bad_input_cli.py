"""Bad input as users meet it on the command line: one replay of every kind of odd or broken file beside a
good recording, and a microphone that is not there."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio import SAMPLE_RATE
from speechgraph.cli import main
from tests.conftest import DEMO

GOOD = str(DEMO / "alexa_call_meg_bauer.wav")


def noise(rate: int, seconds: float, channels: int = 1, level: float = 0.05, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(0, level, (round(rate * seconds), channels)).astype(np.float32)
    return x[:, 0] if channels == 1 else x


def make_files(tmp: Path) -> tuple[dict[str, dict], dict[str, str]]:
    """Files that replay (with what their `stream` event must say) and files that cannot (with their error)."""
    sf.write(tmp / "phone_8k.wav", noise(8000, 1.0), 8000, subtype="PCM_16")
    sf.write(tmp / "studio_48k.ogg", noise(48000, 1.0), 48000)
    sf.write(tmp / "stereo_44k.flac", noise(44100, 1.0, channels=2), 44100)
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    sf.write(tmp / "saturated.wav", np.clip(3 * np.sin(2 * np.pi * 300 * t), -1, 1), SAMPLE_RATE, subtype="PCM_16")
    sf.write(tmp / "too_loud.wav", (3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), SAMPLE_RATE, subtype="FLOAT")
    nan = noise(SAMPLE_RATE, 1.0)
    nan[SAMPLE_RATE // 2] = np.nan
    sf.write(tmp / "nan.wav", nan, SAMPLE_RATE, subtype="FLOAT")
    (tmp / "notes.wav").write_text("these are my notes, not a recording\n" * 40)
    (tmp / "empty.flac").write_bytes(b"")
    sf.write(tmp / "whole.wav", noise(SAMPLE_RATE, 1.0), SAMPLE_RATE, subtype="PCM_16")
    whole = (tmp / "whole.wav").read_bytes()
    (tmp / "truncated.wav").write_bytes(whole[: len(whole) // 3])
    (tmp / "whole.wav").unlink()
    sf.write(tmp / "whole.flac", noise(SAMPLE_RATE, 1.0), SAMPLE_RATE)
    whole = (tmp / "whole.flac").read_bytes()
    (tmp / "truncated.flac").write_bytes(whole[: len(whole) // 2])
    (tmp / "whole.flac").unlink()
    ok = {
        "phone_8k.wav": {"sample_rate": 8000, "channels": 1, "format": "WAV"},
        "studio_48k.ogg": {"sample_rate": 48000, "channels": 1, "format": "OGG"},
        "stereo_44k.flac": {"sample_rate": 44100, "channels": 2, "format": "FLAC"},
        "saturated.wav": {"sample_rate": SAMPLE_RATE, "channels": 1, "format": "WAV"},
        "too_loud.wav": {"sample_rate": SAMPLE_RATE, "channels": 1, "format": "WAV"},
    }
    bad = {
        "nan.wav": "holds NaN or infinite samples (first at 0.50 s)",
        "notes.wav": "not a readable audio file",
        "empty.flac": "empty file",
        "truncated.wav": "truncated: its header promises",
        "truncated.flac": "truncated",
    }
    return {str(tmp / k): v for k, v in ok.items()}, {str(tmp / k): v for k, v in bad.items()}


def test_one_replay_of_odd_and_broken_files_beside_a_good_recording(tmp_path, capsys):
    ok, bad = make_files(tmp_path)
    out = tmp_path / "events.jsonl"
    paths = [*ok, GOOD, *bad]
    assert main(["replay", *paths, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    events = [json.loads(line) for line in out.read_text().splitlines()]
    lines = err.splitlines()
    assert "Traceback" not in err, err
    for path, reason in bad.items():  # one clear line on stderr, naming the file and saying what is wrong
        mine = [line for line in lines if path in line]
        assert len(mine) == 1, (path, err)
        assert mine[0].startswith(f"error: {path}: ") and reason in mine[0], mine[0]
        errors = [e for e in events if e["stream"] == path and e["event"] == "error"]
        assert len(errors) == 1 and reason in errors[0]["error"], errors
    for path in [*ok, GOOD]:  # the files that can be replayed say nothing on stderr and give no error event
        assert not [line for line in lines if path in line], (path, err)
        assert not [e for e in events if e["stream"] == path and e["event"] == "error"]
    for path, expected in ok.items():
        (stream,) = [e for e in events if e["stream"] == path and e["event"] == "stream"]
        assert {k: stream[k] for k in expected} == expected
        (end,) = [e for e in events if e["stream"] == path and e["event"] == "end"]
        assert end["audio_s"] == pytest.approx(1.0, abs=0.01), path
    (warning,) = [e for e in events if e["event"] == "warning"]
    assert warning["stream"].endswith("too_loud.wav") and "beyond full scale were clipped" in warning["warning"]
    assert {e["stream"] for e in events if e["event"] == "end"} == set(paths)
    (result,) = [e for e in events if e["event"] == "result"]
    assert result["stream"] == GOOD and result["text"].startswith("call"), result
    assert f"{len(paths)} streams" in lines[-1]


def live(argv: list[str], timeout: float = 60.0) -> int | None:
    """`speechgraph ...` in a thread: its exit code, or None if it is still running after `timeout`."""
    code: list[int] = []
    worker = threading.Thread(target=lambda: code.append(main(argv)), daemon=True)
    worker.start()
    worker.join(timeout)
    return code[0] if code else None


@pytest.mark.parametrize("device", ["99", "no-such-microphone"])
def test_live_with_a_missing_microphone_says_so_in_one_line(device, capfd):
    code = live(["live", "--device", device, "--quiet", "--seconds", "2"])
    assert code is not None, "speechgraph live hung on a missing device"
    assert code != 0
    captured = capfd.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1, captured.err
    named = device if device.isdigit() else repr(device)
    assert lines[0].startswith(f"speechgraph live: no input device {named}: "), lines
    assert "speechgraph devices" in lines[0] and not captured.out
