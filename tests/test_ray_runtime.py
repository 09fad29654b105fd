"""What only the Ray runtime has: equal results to in-process, fusion, clean shutdown, cluster resources."""

from __future__ import annotations

import json

import pytest

from graphs import build
from nodes.file_source import FileSource
from pipeline import Event, Graph, make_runtime
from tests.conftest import DEMO
from tests.graph_nodes import LatestOnly, Recorder, Relay, Revise, TickSource

pytestmark = pytest.mark.ray

TIMING = ("wall_ms", "since_audio_ms", "trace", "rescore_ms", "dropped")
"""Event fields that depend on timing. What a reset found to drop does too: on Ray a revision made stale while
it queued for the cloud is skipped there (`Node.ahead`), so the sink may never have held it."""


def records(graph, kind, **options):
    with make_runtime(graph, kind, **options) as rt:
        out = [m.record(rt.t0_ns) for m in rt.run() if isinstance(m, Event)]
    for r in out:
        r.pop("wall_ms")
    return sorted(out, key=lambda r: (r["stream"], r["event"], r["audio_s"]))


def test_same_graph_gives_the_same_events_on_both_runtimes(ray_cluster, demo_files, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not really")
    graph = build("frontend", FileSource, {"paths": [*demo_files, str(bad)]})
    local = records(graph, "local")
    assert any(r["event"] == "error" for r in local)
    assert sum(r["event"] == "end" for r in local) == len(demo_files) + 1
    assert records(graph, "ray") == local
    assert records(graph, "ray", fuse=True) == local
    assert records(graph, "ray", fuse=True, host_sources=True) == local


def test_a_hosted_source_runs_inside_the_device_actor_and_no_audio_crosses_processes(ray_cluster, demo_files):
    graph = build("frontend", FileSource, {"paths": demo_files})
    with make_runtime(graph, "ray", fuse=True, host_sources=True) as rt:
        assert rt.hosted == {"source": 0}
        assert not [n for n in rt.actor_names if n.endswith("-source")], rt.actor_names
        events = [m for m in rt.run() if isinstance(m, Event)]
    assert sum(m.name == "end" for m in events) == len(demo_files)


def test_device_replicas_each_host_their_share_of_the_source(ray_cluster, demo_files):
    """Two device actors, each replaying the files of the streams it serves: the same events as in process."""
    graph = build("frontend", FileSource, {"paths": demo_files})
    local = records(graph, "local")
    with make_runtime(graph, "ray", fuse=True, replicas=2, host_sources=True) as rt:
        assert rt.hosted == {"source": 0} and len(rt.source_actors["source"]) == 2
        assert not [n for n in rt.actor_names if n.endswith("-source")], rt.actor_names
        hosted = sorted(
            (m.record(rt.t0_ns) for m in rt.run() if isinstance(m, Event)),
            key=lambda r: (r["stream"], r["event"], r["audio_s"]),
        )
    for r in hosted:
        r.pop("wall_ms")
    assert hosted == local


def test_fusion_groups_nodes_by_placement(ray_cluster):
    from pipeline import Graph
    from pipeline.ray_runtime import fuse_by_placement, hosted_sources

    g = Graph("placed")
    g.add("src", TickSource)
    g.add("a", Relay)
    g.add("b", Relay)
    g.add("c", Relay, placement="cloud")
    g.add("d", Recorder)
    g.connect("src", "a").connect("a", "b").connect("b", "c").connect("c", "d")
    assert fuse_by_placement(g.validate()) == [["a", "b"], ["c"], ["d"]]
    assert hosted_sources(g, fuse_by_placement(g)) == {"src": 0}  # its one edge leads into a+b, on the device
    # a -> c(cloud) -> d with a -> d too: fusing a and d would make a cycle between actors.
    g2 = Graph("diamond")
    g2.add("src", TickSource)
    g2.add("a", Relay)
    g2.add("c", Relay, placement="cloud")
    g2.add("d", Recorder)
    g2.connect("src", "a").connect("a", "c").connect("c", "d").connect("a", "d")
    assert fuse_by_placement(g2.validate()) == [["a"], ["c"], ["d"]]
    g3 = Graph("to the cloud")
    g3.add("src", TickSource)
    g3.add("c", Recorder, placement="cloud")
    g3.connect("src", "c")
    assert hosted_sources(g3.validate(), fuse_by_placement(g3)) == {}  # audio does not go to the cloud


def test_a_busy_node_hears_of_a_reset_ahead_of_the_work_queued_before_it(ray_cluster):
    """Twenty revisions sent at once to a node that takes 50 ms on each: it works on the first, and the
    `Reset`s it hears of meanwhile (`Node.ahead`) let it skip the revisions they made stale. In process
    there is no queue, so it works on every one."""
    g = Graph("revisions")
    g.add("source", TickSource, streams=1, count=20)
    g.add("revise", Revise)
    g.add("latest", LatestOnly, seconds=0.05, placement="cloud")
    g.connect("source", "revise").connect("revise", "latest")
    g.validate()

    def worked(kind: str, **options) -> list[int]:
        with make_runtime(g, kind, **options) as rt:
            return [m.data["value"] for m in rt.run() if isinstance(m, Event) and m.name == "worked"]

    assert worked("local") == list(range(20))
    on_ray = worked("ray", max_inflight=32)
    assert on_ray[-1] == 19 and len(on_ray) < 10, on_ray


def test_close_leaves_no_actor_behind(ray_cluster):
    ray = ray_cluster
    g = tiny_chain()
    rt = make_runtime(g, "ray")
    names = list(rt.actor_names)
    assert len(names) == 3
    assert sum(1 for m in rt.run() if isinstance(m, Event)) > 0
    rt.close()
    rt.close()  # twice is fine
    for name in names:
        with pytest.raises(ValueError):
            ray.get_actor(name, namespace="speechgraph")


def test_actors_ask_for_their_placement_resource(ray_cluster):
    g = tiny_chain()
    with make_runtime(g, "ray") as rt:
        assert "device" in ray_cluster.cluster_resources()
        assert rt._options("probe", "n0", ray_cluster.cluster_resources())["resources"] == {"device": 0.001}
        # A cluster without placement resources still runs the graph (the requirement is dropped).
        assert "resources" not in rt._options("probe2", "n0", {"CPU": 2.0})
        list(rt.run())


def tiny_chain():
    from pipeline import Graph

    g = Graph("tiny")
    g.add("src", TickSource, streams=1, count=5)
    g.add("n0", Relay)
    g.add("n1", Recorder)
    g.connect("src", "n0").connect("n0", "n1")
    return g


LISTENING = """
import json, os, sys
from pathlib import Path
import ray  # first, before the runtime could set anything
from pipeline.ray_runtime import init_ray

def children(pid):
    kids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _ppid(p) == pid]
    return [pid] + [k for kid in kids for k in children(kid)]

def _ppid(p):
    try:
        return int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1

init_ray()
inodes = set()
for pid in children(os.getpid()):
    try:
        inodes |= {os.readlink(f) for f in Path(f"/proc/{pid}/fd").iterdir()}
    except OSError:
        pass
listening = set()
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    for line in Path(table).read_text().splitlines()[1:]:
        cols = line.split()
        if cols[3] == "0A" and f"socket:[{cols[9]}]" in inodes:
            listening.add(cols[1].split(":")[0])
ray.shutdown()
print(json.dumps(sorted(listening)))
"""
LOOPBACK = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}


def test_a_local_cluster_listens_on_loopback_only_even_when_ray_was_imported_first():
    """Ray reads its cluster switch when first imported; a script that imports it before the runtime must not
    get services listening on every interface."""
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"}
    done = subprocess.run([sys.executable, "-c", LISTENING], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    listening = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert listening and listening <= LOOPBACK, listening


def test_the_whole_graph_gives_the_same_events_n_best_included_on_both_runtimes(ray_cluster, demo_files):
    """Scores too, exactly: how many frames a message holds, which streams share an encoder call, which
    hypotheses share a round of the prediction and joint networks and when their outputs were cached all
    depend on timing, and the int8 recogniser quantises each row alone (`models.rnnt.quantize_int8`), so none
    of it moves a score; each end-point is decoded from the search as it stood at that audio time (on Ray
    the end-point arrives after the decoder ran further)."""
    context = [line for line in (DEMO / "contacts.txt").read_text().splitlines() if line]
    graph = build("assistant", FileSource, {"paths": demo_files}, context=context, rescore_deadline_ms=60_000)

    def events(kind: str, **options) -> list[str]:
        with make_runtime(graph, kind, **options) as rt:
            out = [m.record(rt.t0_ns) for m in rt.run() if isinstance(m, Event)]
        return sorted(json.dumps({k: v for k, v in r.items() if k not in TIMING}, sort_keys=True) for r in out)

    local = events("local")
    assert sum('"event": "result"' in e for e in local) == len(demo_files)
    assert events("ray") == local


def test_device_replicas_each_serve_their_share_of_the_streams_with_the_same_events(ray_cluster, demo_files):
    """Two device-side actors, each with its share of the streams (the cloud's answers and every feedback
    event routed back to the replica that holds the stream): the same events as in process."""
    from pipeline.replicas import replica_of

    graph = build("assistant", FileSource, {"paths": demo_files}, rescore_deadline_ms=60_000)
    with make_runtime(graph, "local") as rt:
        local = [m.record(rt.t0_ns) for m in rt.run() if isinstance(m, Event)]
    streams = {r["stream"] for r in local}
    assert {replica_of(s, 2) for s in streams} == {0, 1}  # the demo streams land on both replicas
    assert sum(r["event"] == "result" for r in local) == len(demo_files)
    with make_runtime(graph, "ray", fuse=True, replicas=2) as rt:
        replicated = [m.record(rt.t0_ns) for m in rt.run() if isinstance(m, Event)]
        placed = rt.placement()
        calls = rt.stats().nodes["decoder"]["calls"]
    assert {"decoder#0", "decoder#1", "rescorer"} <= placed.keys()
    assert calls > 0

    def key(r: dict) -> str:
        return json.dumps({k: v for k, v in r.items() if k not in TIMING}, sort_keys=True)

    assert sorted(map(key, replicated)) == sorted(map(key, local))
