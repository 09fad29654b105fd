"""The `speechgraph` command as users run it."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from speechgraph.cli import main
from speechgraph.replay import failed_streams


def test_replay_writes_one_json_event_per_line(demo_files, tmp_path, capsys):
    out = tmp_path / "events.jsonl"
    missing = tmp_path / "missing.wav"
    folder = str(demo_files[0]).rsplit("/", 1)[0]
    assert main(["replay", folder, str(missing), "--graph", "frontend", "--out", str(out)]) == 1  # one stream failed
    events = [json.loads(line) for line in out.read_text().splitlines()]
    for e in events:
        assert {"event", "stream", "audio_s", "wall_ms"} <= e.keys()
    ends = {e["stream"]: e for e in events if e["event"] == "end"}
    assert set(ends) == {*demo_files, str(missing)}
    for f in demo_files:
        assert ends[f]["audio_s"] > 2.5 and ends[f]["frames"] > 250 and ends[f]["errors"] == 0
    errors = [e for e in events if e["event"] == "error"]
    assert len(errors) == 1 and errors[0]["stream"] == str(missing) and "no such file" in errors[0]["error"]
    err = capsys.readouterr().err
    assert "no such file" in err and f"{len(demo_files) + 1} streams" in err
    assert f"1 of {len(demo_files) + 1} streams failed" in err


def test_the_exit_status_counts_streams_that_lost_something_not_error_events():
    def stream(name: str, *events: dict) -> list[dict]:
        return [{"stream": name, **e} for e in (*events, {"event": "end"})]

    restarted = {"event": "error", "node": "decoder", "error": "node restarted after a crash"}
    records = [
        # a node restarted between two requests, both committed: nothing lost
        *stream(
            "ok",
            {"event": "wake", "utterance": 0},
            {"event": "result", "utterance": 0},
            restarted | {"utterances_in_flight": []},
            {"event": "wake", "utterance": 1},
            {"event": "result", "utterance": 1},
        ),
        *stream("unreadable", {"event": "error", "node": "source", "error": "empty file"}),
        *stream("lost", {"event": "wake", "utterance": 0}, restarted | {"utterances_in_flight": [0]}),
        *stream("silent", {"event": "wake", "utterance": 0}),
        {"stream": "cut", "event": "wake", "utterance": 0},
        *stream("ungated", restarted | {"utterances_in_flight": []}, {"event": "result", "utterance": 0}),
    ]
    failed = failed_streams(records)
    assert set(failed) == {"unreadable", "lost", "silent", "cut", "ungated"}
    assert failed["unreadable"] == "empty file" and failed["cut"] == "did not end"
    assert failed["lost"] == failed["silent"] == "utterance(s) 0 got no result"


def test_replay_of_nothing_readable_fails(tmp_path, capsys):
    assert main(["replay", str(tmp_path / "nope.wav"), "--out", str(tmp_path / "e.jsonl")]) == 1
    assert "1 streams" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["replay", "--help"],
        ["live", "--help"],
        ["bench", "hop", "--help"],
        ["bench", "wakeword", "--help"],
        ["bench", "rescore", "--help"],
        ["train", "lm", "--help"],
        ["graphs", "--help"],
    ],
)
def test_help_is_there(args):
    result = subprocess.run([sys.executable, "-m", "speechgraph", *args], capture_output=True, text=True)
    assert result.returncode == 0
    assert "usage: speechgraph" in result.stdout


def test_graphs_lists_nodes_and_edges(capsys):
    assert main(["graphs"]) == 0
    out = capsys.readouterr().out
    assert "graph frontend" in out and re.search(r"\n  source +--> features\n", out)
    assert "graph assistant" in out and "rescorer" in out
    assert re.search(r"\n  sink +~~> gate +events: Committed, Lost\n", out)
    assert "a ~~> b   feedback edge" in out


def test_every_command_line_option_has_help():
    """Every `add_argument` of the commands and recipes says what it does (read with `ast`, so the
    options of delegated commands and of `python3 -m` entry points count too)."""
    import ast

    from tests.conftest import ROOT

    missing = []
    for folder in ("speechgraph", "bench", "training", "corpus"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument":
                    if not any(k.arg == "help" for k in node.keywords) and "argv" not in ast.unparse(node):
                        missing.append(f"{path.relative_to(ROOT)}:{node.lineno} {ast.unparse(node)}")
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("command", [["bench", "scale"], ["bench", "endpoint"], ["train", "eoq"]])
def test_a_command_without_a_corpus_says_so_in_one_line(command, tmp_path, capsys):
    assert main([*command, "--corpus", str(tmp_path / "none")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Errno" not in err
    assert err.startswith("speechgraph: error: no corpus manifest at") and "speechgraph corpus" in err


@pytest.mark.parametrize("runtime", ["local", pytest.param("ray", marks=pytest.mark.ray)])
def test_sigterm_drains_the_graph_like_ctrl_c(tmp_path, demo_files, runtime):
    """A service manager stops a run with SIGTERM: the streams end where they are and every one still gets
    its `end`, with no traceback (nor Ray's stack dump)."""
    import signal
    import time

    out = tmp_path / "events.jsonl"
    command = [sys.executable, "-m", "speechgraph", "replay", *demo_files, "--realtime", "--out", str(out)]
    proc = subprocess.Popen([*command, "--runtime", runtime], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if out.exists() and '"wake"' in out.read_text():
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the replay ended before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "*** SIG" not in err, err
    assert "stopping on SIGTERM: draining the graph" in err
    opened = {e["stream"] for e in events if e["event"] == "stream"}
    assert opened and {e["stream"] for e in events if e["event"] == "end"} == opened
    ends = [e for e in events if e["event"] == "end"]
    assert all(e["audio_s"] < 3.6 for e in ends), ends  # stopped early, not played to the end (3.8-4.9 s)


def test_a_corpus_whose_voices_are_missing_is_one_line_naming_the_install(tmp_path, monkeypatch, capsys):
    import corpus.tts

    monkeypatch.setattr(corpus.tts.shutil, "which", lambda name: None)  # as on a machine without pico2wave
    assert main(["corpus", "--set", "speech", "--size", "tiny", "--out", str(tmp_path / "set")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "SVOX Pico" in err and ".ci/install --corpus" in err
