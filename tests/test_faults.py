"""Faults in the running graph: a node actor killed mid-stream, a cloud that stalls or dies.

The rule under test: every utterance a `wake` opened ends in exactly one `result`
or in an `error` that names it, every stream ends, and the run never hangs.
"""

from __future__ import annotations

from collections import Counter

import pytest

from graphs import build
from nodes.file_source import FileSource
from pipeline import Event, make_runtime
from speechgraph.replay import failed_streams, replay
from tests.conftest import DEMO

CALL = str(DEMO / "alexa_call_meg_bauer.wav")
LIGHTS = str(DEMO / "alexa_kitchen_lights_stereo44k.flac")


def accounted_for(events: list[dict], streams: list[str], exactly: bool = False) -> None:
    """Each stream ends once, last; each utterance it opened is committed once or named by an error (with
    `exactly`: never both)."""
    for s in streams:
        mine = [e for e in events if e["stream"] == s]
        assert Counter(e["event"] for e in mine)["end"] == 1, mine
        committed = [e["utterance"] for e in mine if e["event"] == "result"]
        assert len(committed) == len(set(committed)), f"{s}: an utterance was committed twice"
        named = {u for e in mine if e["event"] == "error" for u in e.get("utterances_in_flight", [])}
        named |= {e["utterance"] for e in mine if e["event"] == "error" and "utterance" in e}
        for u in {e["utterance"] for e in mine if e["event"] == "wake"}:
            assert u in committed or u in named, f"{s}: utterance {u} was dropped silently"
        if exactly:
            assert mine[-1]["event"] == "end", mine[-3:]
            assert not set(committed) & named, f"{s}: utterances {set(committed) & named} got a result and an error"


def run_and_kill(node: str, paths: list[str], when: str = "wake", **options) -> list[dict]:
    """Replay at real time on Ray and kill `node`'s actor (Ray restarts it) at the first `when` event."""
    import ray

    graph = build("assistant", FileSource, {"paths": paths, "realtime": True}, **options)
    events: list[dict] = []
    killed = False
    with make_runtime(graph, "ray") as rt:
        name = next(n for n in rt.actor_names if n.endswith(f"-{node}"))
        for msg in rt.run():
            if not isinstance(msg, Event):
                continue
            events.append(msg.record(rt.t0_ns))
            if not killed and msg.name == when:
                ray.kill(ray.get_actor(name, namespace="speechgraph"), no_restart=False)
                killed = True
    assert killed, f"no {when} event to kill {node} at"
    return events


@pytest.mark.ray
def test_a_decoder_killed_mid_utterance_is_restarted_and_the_utterance_is_accounted_for(ray_cluster):
    events = run_and_kill("decoder", [CALL, LIGHTS])
    accounted_for(events, [CALL, LIGHTS])
    lost = [e for e in events if e["event"] == "error" and e["node"] == "decoder"]
    assert lost and all("restarted" in e["error"] for e in lost), [e for e in events if e["event"] == "error"]
    assert any(e["utterances_in_flight"] for e in lost), "the error does not name the utterance in flight"


@pytest.mark.ray
def test_a_rescorer_killed_while_rescoring_still_commits_every_utterance(ray_cluster):
    """The lattice in flight is retried on the restarted rescorer; past its deadline, the first pass goes."""
    events = run_and_kill("rescorer", [CALL, LIGHTS], when="endpoint", rescore_deadline_ms=300)
    accounted_for(events, [CALL, LIGHTS])
    results = [e for e in events if e["event"] == "result"]
    assert {e["stream"] for e in results} == {CALL, LIGHTS}
    assert all(e["rescored"] or e["rescore_note"] == "deadline" for e in results), results


def test_a_stalled_cloud_commits_the_first_pass_within_the_deadline():
    """A device->cloud round trip of 5 s against a 300 ms budget: the device commits its own first pass."""
    graph = build("assistant", FileSource, {"paths": [CALL]}, network_delay_ms=5000, rescore_deadline_ms=300)
    with make_runtime(graph, "local") as rt:
        events = [m.record(rt.t0_ns) for m in rt.run() if isinstance(m, Event)]
    accounted_for(events, [CALL])
    results = [e for e in events if e["event"] == "result"]
    assert results
    for r in results:
        assert not r["rescored"] and r["rescore_note"] == "deadline"
        assert r["text"] == r["first_pass_text"]
        assert r["rescore_ms"] <= 300 + 50


KILLS = [
    ("decoder", ""),
    ("sink", ""),
    ("endpointer_final", ""),
    ("source", ""),
    ("decoder", "fused"),  # the fused device actor: features, gate, decoder, VAD, end-pointers and sink in one
    ("decoder", "hosted"),  # ... with the source inside it: the audio is lost with it
]
OPTIONS = {"": {}, "fused": {"fuse": True}, "hosted": {"fuse": True, "host_sources": True}}


@pytest.mark.ray
@pytest.mark.parametrize(("node", "runtime"), KILLS, ids=[f"{n}-{r}".strip("-") for n, r in KILLS])
def test_any_actor_killed_mid_utterance_leaves_every_request_accounted_for(ray_cluster, multi_request, node, runtime):
    """A three-request stream beside a one-request one, at real time; the actor that runs `node` is killed
    (SIGKILL) at the first `wake`. The run goes on; every request a `wake` opened ends in one result or one
    error naming it, never both; each stream ends, last; the exit status knows which streams lost something;
    and the requests that began after the crash are committed."""
    import ray

    long = str(multi_request)
    graph = build("assistant", FileSource, {"paths": [long, LIGHTS], "realtime": True})
    killed: list[float] = []

    def kill_at_first_wake(record: dict) -> None:
        if killed or record["event"] != "wake":
            return
        names = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)]
        (name,) = [n for n in names if n.startswith("assistant-") and node in n.rsplit("-", 1)[1].split("+")]
        actor = ray.get_actor(name, namespace="speechgraph")
        ray.kill(actor, no_restart=False)
        killed.append(record["audio_s"])

    run = replay(graph, "ray", OPTIONS[runtime], on_record=kill_at_first_wake)
    events = run.records
    assert killed, "nothing was killed"
    accounted_for(events, [long, LIGHTS], exactly=True)
    failed = failed_streams(events)
    mine = [e for e in events if e["stream"] == long]
    if node == "source" or runtime == "hosted":  # a source is not restarted: its streams end there, with an error
        assert set(failed) == {long, LIGHTS}, failed
        return
    later = [e["utterance"] for e in mine if e["event"] == "wake" and e["audio_s"] > killed[0] + 2.0]
    results = {e["utterance"] for e in mine if e["event"] == "result"}
    assert later and set(later) <= results, (later, results, [e for e in mine if e["event"] == "error"])
    assert set(failed) <= {long, LIGHTS}
