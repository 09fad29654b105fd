"""Bad input as users meet it on the command line: one replay of every kind of odd or broken file beside a
good recording, and a microphone that is not there."""

from __future__ import annotations

import json
import os
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
    (tmp / "no_audio_here").mkdir()
    (tmp / "no_audio_here" / "readme.txt").write_text("nothing to replay")
    (tmp / "folder.wav").mkdir()
    os.symlink("loop_b.wav", tmp / "loop_a.wav")
    os.symlink("loop_a.wav", tmp / "loop_b.wav")
    os.symlink("gone.wav", tmp / "dangling.wav")
    os.mkfifo(tmp / "pipe.wav")
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
        "no_audio_here": "a folder that holds no .wav, .flac, .ogg file",
        "folder.wav": "a folder that holds no",
        "loop_a.wav": "a loop of symbolic links",
        "dangling.wav": "a symbolic link to gone.wav, which does not exist",
        "pipe.wav": "a FIFO, not a regular file",
    }
    return {str(tmp / k): v for k, v in ok.items()}, {str(tmp / k): v for k, v in bad.items()}


def test_one_replay_of_odd_and_broken_files_beside_a_good_recording(tmp_path, capsys):
    ok, bad = make_files(tmp_path)
    out = tmp_path / "events.jsonl"
    paths = [*ok, GOOD, *bad]
    assert main(["replay", *paths, "--out", str(out)]) == 1  # some streams failed
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
    warned = {"phone_8k.wav": "narrowband audio (8000 Hz", "too_loud.wav": "beyond full scale were clipped"}
    for path in [*ok, GOOD]:  # the files that can be replayed give no error event, and at most one warning line
        name = path.rsplit("/", 1)[-1]
        said = [line for line in lines if path in line]
        assert said == ([f"warning: {path}: " + said[0].split(": ", 2)[2]] if name in warned else []), (path, err)
        assert all(warned[name] in line for line in said), said
        assert not [e for e in events if e["stream"] == path and e["event"] == "error"]
    for path, expected in ok.items():
        (stream,) = [e for e in events if e["stream"] == path and e["event"] == "stream"]
        assert {k: stream[k] for k in expected} == expected
        (end,) = [e for e in events if e["stream"] == path and e["event"] == "end"]
        assert end["audio_s"] == pytest.approx(1.0, abs=0.01), path
    warnings = {e["stream"].rsplit("/", 1)[-1]: e["warning"] for e in events if e["event"] == "warning"}
    assert warnings.keys() == warned.keys() and all(warned[k] in w for k, w in warnings.items()), warnings
    assert {e["stream"] for e in events if e["event"] == "end"} == set(paths)
    (result,) = [e for e in events if e["event"] == "result"]
    assert result["stream"] == GOOD and result["text"].startswith("call"), result
    assert f"{len(paths)} streams" in lines[-1] and f"{len(bad)} of {len(paths)} streams failed" in lines[-1]


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


def test_nan_in_the_middle_of_a_request_loses_that_request_and_nothing_follows_the_end(tmp_path, capsys):
    """The file is cut where the NaN is: the open utterance is named by the error and gets no result (half a
    request is not committed), and the stream's `end` is its last event."""
    from audio.files import load

    audio = load(GOOD).copy()
    audio[int(2.5 * SAMPLE_RATE)] = np.nan  # after the wake word, in "call meg bauer"
    path = str(tmp_path / "nan_mid_request.wav")
    sf.write(path, audio, SAMPLE_RATE, subtype="FLOAT")
    out = tmp_path / "events.jsonl"
    assert main(["replay", path, GOOD, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if path in line] == [
        f"error: {path}: holds NaN or infinite samples (first at 2.50 s)"
    ]
    events = [json.loads(line) for line in out.read_text().splitlines()]
    mine = [e for e in events if e["stream"] == path]
    assert [e["event"] for e in mine][-1] == "end", mine
    (error,) = [e for e in mine if e["event"] == "error"]
    assert error["utterances_in_flight"] == [0], error
    assert not [e for e in mine if e["event"] == "result"], "a lost request was committed anyway"
    assert [e["text"][:8] for e in events if e["event"] == "result"] == ["call meg"]  # the good file beside it
    assert "1 of 2 streams failed" in err


def test_a_manifest_with_bad_rows_replays_the_good_ones_and_names_each_bad_line(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    (corpus / "audio").mkdir(parents=True)
    (corpus / "audio" / "a.wav").write_bytes(Path(GOOD).read_bytes())
    names = {"first_names": ["ann", "bob"], "last_names": ["lee"], "devices": ["lamp"]}
    (corpus / "splits.json").write_text(json.dumps({"test": names}))
    good = {"id": "a", "audio": "audio/a.wav", "split": "test", "slots": {"contact": "Meg Bauer!!"}}
    lines = [
        json.dumps(good),
        "{not json",
        json.dumps({k: v for k, v in good.items() if k != "audio"}),
        json.dumps({k: v for k, v in good.items() if k != "split"}),
        json.dumps(good | {"audio": "../../../etc/passwd"}),
        json.dumps(good | {"audio": "/etc/passwd"}),
        "[1, 2]",
        "",
        json.dumps(good | {"id": "b", "condition": {"device_playing": "music"}}),
    ]
    manifest = corpus / "test.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    out = tmp_path / "events.jsonl"
    assert main(["replay", "--manifest", str(manifest), "--graph", "frontend", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    reasons = {
        2: "not a JSON object (",
        3: "no 'audio' path",
        4: "unknown split None",
        5: "audio path '../../../etc/passwd' leaves the manifest's folder",
        6: "audio path '/etc/passwd' is absolute",
        7: "not a JSON object but list",
    }
    for number, reason in reasons.items():
        said = [line for line in err.splitlines() if line.startswith(f"error: {manifest}:{number}: ")]
        assert len(said) == 1 and reason in said[0], (number, err)
    events = [json.loads(line) for line in out.read_text().splitlines()]
    audio = str(corpus / "audio" / "a.wav")
    assert [e["stream"] for e in events if e["event"] == "end" and e["errors"] == 0] == [audio, f"{audio}#2"]
    contexts = [e["phrases"] for e in events if e["event"] == "context" and e["stream"] == audio]
    assert contexts and "meg bauer" in contexts[0], contexts  # normalised where the context is read
    assert "8 streams, " in err and "6 of 8 streams failed" in err.splitlines()[-1]


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"meg bauer\n\xff\xfe kitchen\n", "not UTF-8 text (byte 0xff at offset 10)"), (None, "no such file")],
)
def test_a_context_file_that_cannot_be_read_is_one_line_naming_it(tmp_path, capsys, content, reason):
    ctx = tmp_path / "contacts.txt"
    if content is not None:
        ctx.write_bytes(content)
    assert main(["replay", GOOD, "--context", str(ctx), "--out", str(tmp_path / "e.jsonl")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"speechgraph: error: context file {ctx}: {reason}", err


def test_punctuation_in_context_phrases_never_reaches_a_transcript(tmp_path):
    ctx = tmp_path / "contacts.txt"
    ctx.write_text("Meg Bauer!!\nKitchen-Lights.\n\n  ...  \n")
    out = tmp_path / "e.jsonl"
    assert main(["replay", GOOD, "--context", str(ctx), "--out", str(out)]) == 0
    (result,) = [json.loads(line) for line in out.read_text().splitlines() if '"result"' in line]
    assert result["text"] == "call meg bauer" and result["context"] == ["meg bauer", "kitchen lights"], result
