"""Scale-out: the graph on a two-node Ray cluster on loopback, device and cloud nodes apart.

`ray start --head` offers the `device` resource, a second `ray start` joins with
`cloud`; `speechgraph replay --runtime ray --address` must then place the
rescorer and the NLU on the second node and everything else on the first.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.conftest import DEMO, ROOT

pytestmark = pytest.mark.ray

# As on a real cluster: token authentication, one shared token for every node and the driver.
ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ray_start(*args: str) -> subprocess.Popen:
    """`ray start --block`: the services live as long as this process; SIGTERM stops them all."""
    common = ["--block", "--node-ip-address=127.0.0.1", "--num-cpus=2", "--disable-usage-stats"]
    return subprocess.Popen(
        ["ray", "start", *common, *args], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def wait_for(check, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(1.0)
    raise TimeoutError(f"{what} not up within {timeout_s:.0f} s")


@pytest.fixture
def two_node_cluster() -> Iterator[str]:
    port = free_port()
    address = f"127.0.0.1:{port}"
    procs = [ray_start("--head", f"--port={port}", "--include-dashboard=false", '--resources={"device": 1000}')]
    try:

        def port_open() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                return False

        wait_for(port_open, 60, "the head node")
        procs.append(ray_start(f"--address={address}", '--resources={"cloud": 1000}'))

        def worker_joined() -> bool:
            out = subprocess.run(["ray", "status", f"--address={address}"], env=ENV, capture_output=True, text=True)
            return "cloud" in out.stdout

        wait_for(worker_joined, 120, "the cloud node")
        yield address
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()


def test_cloud_nodes_run_on_the_cloud_node_of_a_loopback_cluster(two_node_cluster, tmp_path):
    events = tmp_path / "events.jsonl"
    # placement is the question here, not the rescorer's deadline (tests/test_faults.py): a loaded machine may not
    # bring the cloud's answer back within 300 ms, and then the first pass ("dostan") would be committed
    command = ["replay", "--runtime", "ray", "--address", two_node_cluster, "--out", str(events)]
    command += ["--rescore-deadline-ms", "60000"]
    run = subprocess.run(
        [sys.executable, "-m", "speechgraph", *command, str(DEMO / "weather_boston_48k.ogg")],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    line = next(x for x in run.stderr.splitlines() if x.startswith("nodes ran on"))
    assert line.startswith("nodes ran on 2 Ray node(s)"), line
    machines = [set(part.split(": ", 1)[1].split(", ")) for part in line.split("node(s): ", 1)[1].split("; ")]
    assert {"rescorer", "nlu"} in machines, machines
    assert any({"features", "gate", "decoder", "sink"} <= m for m in machines), machines
    results = [json.loads(x) for x in events.read_text().splitlines() if '"result"' in x]
    assert [r["intent"] for r in results] == ["weather"], [(r["text"], r["rescore_note"]) for r in results]
