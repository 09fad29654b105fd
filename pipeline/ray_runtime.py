"""The Ray runtime: every node (or every fused group of nodes) is an actor.

Transport: an actor calls `push(batches)` on the next actor, one call carrying
the batch of every edge between the two (a source feeds the features and the VAD
of one fused actor in one call, not two). Calls from one caller to one actor run
in the order they were made, so order is kept per edge. Each receiving actor
allows at most `max_inflight` unfinished data calls from one sender; a sender
that reaches the bound waits, so an overloaded graph slows its sources instead
of growing queues. Feedback edges carry a few control events upstream, in calls
of their own, and never wait (waiting on a cycle could deadlock).

A batch holds the messages of many streams, so a hop costs one actor call for
all of them; with `fuse=True`, connected nodes that share a placement run in one
actor and only edges between placements pay a hop.

Faults: a node actor that crashes is restarted by Ray (`max_restarts`), and the
calls it had not finished are retried on the new actor, so no batch is lost;
what the node held per stream is, and the stream hears so in an `Error`. The
driver's polls of a restarting sink are simply made again. A source actor that
dies cannot be replayed from where it was: the driver ends each of its streams
that had not ended (and each it had yet to open) with an `Error` and an
`EndOfStream`, so the graph drains them. A stream that still does not drain (its
end was lost with a sink's unread results) is ended by the driver after
`drain_timeout_s`, with an `Error` from node "runtime".

Replicas: with `replicas=N`, every device-side actor runs as N actors, each serving
the streams that `pipeline.replicas.replica_of` assigns to it (a stable hash of the stream id), so
the device side of many streams spreads over cores and cluster nodes while each
stream's messages, feedback included, always reach the same replica; the cloud
side stays one actor per group.

Sources: each runs in an actor of its own, or (`host_sources=True`, with `fuse`) inside the
fused actor its every edge leads to, so audio never leaves the process that captures it: only
what that actor sends on (events, lattices) pays a hop. With replicas, each replica runs its
share of the source's streams (`Source.shard`). That actor's crash then ends the streams of its
share as a source's own crash does (a source is never restarted).

Placement: `device` and `cloud` are Ray custom resources. A local cluster is
started with both; on a cluster that lacks one, the requirement is dropped with
a warning, so a plain cluster still runs the graph.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

# Bind every Ray service to loopback (see `_loopback_only`, which holds whatever imported Ray first), and send
# no usage data.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import ray

from pipeline.executor import Executor
from pipeline.graph import PLACEMENTS, Graph
from pipeline.messages import EndOfStream, Error, Message, now_ns
from pipeline.node import Source
from pipeline.replicas import by_replica
from pipeline.runtime import DrainTracker, RunStats, Runtime, shown, stamp_source

log = logging.getLogger(__name__)
NAMESPACE = "speechgraph"
_CLUSTER_VAR = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def init_ray(address: str | None = None) -> bool:
    """Join the cluster at `address`, or start a private local one on loopback.

    Returns True if this call started Ray (and so should shut it down).
    """
    if ray.is_initialized():
        return False
    common: dict[str, Any] = dict(namespace=NAMESPACE, logging_level=logging.WARNING, log_to_driver=True)
    if address:
        ray.init(address=address, **common)
    else:
        _loopback_only()
        ray.init(
            address="local",  # a cluster of our own, even if another runs on this machine
            num_cpus=os.cpu_count(),
            resources={p: 10_000 for p in PLACEMENTS},
            include_dashboard=False,
            **common,
        )
    return True


def _loopback_only() -> None:
    """Bind the local cluster to loopback whoever imported Ray first.

    Ray reads RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER once, when it is first imported: if anything imported it
    before this module set the variable (a test's conftest, a user's script), the driver picked the
    machine's external address and every service listened on all interfaces. The processes Ray starts
    read the variable again, so it is set for them, and this process's reading is corrected in place.
    """
    os.environ.setdefault(_CLUSTER_VAR, "0")
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = os.environ[_CLUSTER_VAR].lower() in ("1", "true")


_Receiver = tuple[Any, bool]
"""Where a call goes: the receiving actor (its name or handle, as the targets give it) and whether it carries
feedback."""


class Outbox:
    """The sending side of an actor: one call per receiving actor for all the edges to it, and one bounded
    window of calls per receiving actor.

    Targets are, per edge, the receiver's replicas (one actor unless it is replicated): actor
    handles, or actor names looked up on first use (a restarted actor finds the others by name)."""

    def __init__(self, graph: Graph, targets: dict[int, list[Any]], max_inflight: int, batch: bool) -> None:
        self.graph = graph
        self.targets = {e: list(t) for e, t in targets.items()}
        self.max_inflight = max_inflight
        self.batch = batch
        self.receiver: dict[tuple[int, int], _Receiver] = {
            (e, r): (actor, graph.edges[e].feedback) for e, t in targets.items() for r, actor in enumerate(t)
        }
        """Per edge and replica, the receiver its calls go to: edges to one actor share its calls."""
        self.handles: dict[_Receiver, Any] = {}
        reached: dict[_Receiver, dict[str, None]] = {}
        for (e, _), receiver in self.receiver.items():
            reached.setdefault(receiver, {})[graph.edges[e].dst] = None
        self.nodes = {receiver: "+".join(names) for receiver, names in reached.items()}
        """Per receiver, the nodes it runs that these edges reach (for errors)."""
        self.inflight: dict[_Receiver, deque] = {k: deque() for k in self.receiver.values()}
        self.ahead = {e: graph.nodes[graph.edges[e].dst].factory.ahead for e in targets}
        """Per edge, the control types its receiver wants to hear of ahead of their turn (`Node.ahead`)."""

    def send(self, leaving: dict[int, list[Message]]) -> None:
        calls: dict[_Receiver, dict[int, list[Message]]] = {}
        for edge, msgs in leaving.items():
            for replica, mine in by_replica(msgs, len(self.targets[edge])).items():
                if self.batch:
                    calls.setdefault(self.receiver[edge, replica], {})[edge] = mine
                else:
                    for m in mine:
                        self._send(self.receiver[edge, replica], {edge: [m]})
        for receiver, batches in calls.items():
            self._send(receiver, batches)

    def _send(self, receiver: _Receiver, batches: dict[int, list[Message]]) -> None:
        window = self.inflight[receiver]
        feedback = receiver[1]
        limit = 256 if feedback else self.max_inflight
        if len(window) >= limit:
            self._settle(receiver, len(window) - limit + 1, timeout=0 if feedback else None)
        target = self.handles.get(receiver)
        if target is None:
            actor = receiver[0]
            target = self.handles[receiver] = (
                ray.get_actor(actor, namespace=NAMESPACE) if isinstance(actor, str) else actor
            )
        for edge, msgs in batches.items():
            wanted = self.ahead[edge]
            if wanted and (early := [m for m in msgs if isinstance(m, wanted)]):
                target.ahead.remote(edge, early)  # runs beside the queued pushes; nothing waits for it
        window.append(target.push.remote(batches))

    def _settle(self, receiver: _Receiver, n: int, timeout: float | None) -> None:
        window = self.inflight[receiver]
        ready, _ = ray.wait(
            list(window), num_returns=n if timeout is None else len(window), timeout=timeout, fetch_local=False
        )
        done = set(ready)
        for ref in ready:
            try:
                ray.get(ref)
            except ray.exceptions.RayError as exc:
                raise RuntimeError(f"node {self.nodes[receiver]!r} failed: {exc}") from exc
        self.inflight[receiver] = deque(r for r in window if r not in done)

    def flush(self) -> None:
        for key, window in self.inflight.items():
            if window:
                self._settle(key, len(window), timeout=None)


def _was_restarted() -> bool:
    with warnings.catch_warnings():  # Ray's property reads a deprecated field internally
        warnings.simplefilter("ignore")
        return bool(ray.get_runtime_context().was_current_actor_reconstructed)


@ray.remote(num_cpus=0, concurrency_groups={"results": 1, "ahead": 1, "sources": 1})
class GroupActor:
    """Hosts one node, or several fused ones, behind an in-process executor, and the sources that feed only
    them (`host_sources`: its share of their streams, each source in a thread of its own).

    `push` runs in the default group (one thread, calls in submission order);
    `take` runs in a group of its own so the driver can long-poll for results
    without holding up the data, and `ahead` in another, so a node hears of the
    messages it wants early (`Node.ahead`) while earlier pushes are still queued.

    When Ray restarts a crashed actor, the constructor runs again: the nodes
    start empty, and each stream they hear of again first gets an `Error` that
    says its state was lost, so the sink reports the utterances in flight.
    """

    def __init__(
        self,
        graph: Graph,
        names: list[str],
        max_inflight: int,
        batch: bool,
        targets: dict[int, list[str]],
        sources: tuple[str, ...] = (),
        replica: tuple[int, int] = (0, 1),
    ) -> None:
        logging.basicConfig(level=logging.WARNING)
        self.graph = graph
        self.executor = Executor(graph, names)
        restarted = _was_restarted()
        if restarted:
            log.warning("%s restarted after a crash: its per-stream state is lost", "+".join(names))
            self.executor.restarted()
        self.outbox = Outbox(graph, targets, max_inflight, batch)
        self.results: list[Message] = []
        self.ready = threading.Condition()
        self.working = threading.Lock()
        """Held while the executor works: Ray's pushes and the hosted sources' batches take turns."""
        shares = {n: source_share(graph, n, *replica) for n in sources}
        self.shares = {n: src for n, src in shares.items() if src is not None}
        """Hosted sources (`host_sources`) that open streams this replica serves: their share of them."""
        self.sources = {} if restarted else {n: SourceRunner(graph, n, src) for n, src in self.shares.items()}
        """Those running; none after a crash: a source is never replayed."""

    def push(self, batches: dict[int, list[Message]]) -> None:
        """Deliver each edge's batch, in order; what leaves goes on in one call per receiving actor."""
        with self.working:
            leaving: dict[int, list[Message]] = {}
            results: list[Message] = []
            for edge, batch in batches.items():
                out, done = self.executor.push(edge, batch)
                results += done
                for e, msgs in out.items():
                    leaving.setdefault(e, []).extend(msgs)
            if results:
                with self.ready:
                    self.results.extend(results)
                    self.ready.notify_all()
            if leaving:
                self.outbox.send(leaving)

    @ray.method(concurrency_group="sources")
    def start_source(self, name: str, t0_ns: int, targets: dict[int, list[Any]]) -> None:
        if name in self.shares:
            self._source(name).start(self.push, t0_ns)

    @ray.method(concurrency_group="sources")
    def poll_source(self, name: str) -> SourceStatus:
        if name in self.sources:
            return self.sources[name].status()
        return SourceStatus(done=True, lost=name in self.shares)  # lost in a crash, or no streams here

    @ray.method(concurrency_group="sources")
    def planned_source(self, name: str) -> list[str] | None:
        return self.shares[name].planned_streams() if name in self.shares else []

    @ray.method(concurrency_group="sources")
    def stop_source(self, name: str) -> None:
        if name in self.sources:
            self.sources[name].source.stop()

    def _source(self, name: str) -> SourceRunner:
        if name not in self.sources:
            raise RuntimeError(f"source {name!r} was lost when its actor crashed")
        return self.sources[name]

    @ray.method(concurrency_group="ahead", max_task_retries=0)  # a hint: the push carries the same messages
    def ahead(self, edge: int, batch: list[Message]) -> None:
        self.executor.ahead(edge, batch)

    @ray.method(concurrency_group="results", max_task_retries=0)  # a poll is not worth retrying
    def take(self, timeout_s: float) -> list[Message]:
        """What the sink nodes emitted, waiting up to `timeout_s` for something."""
        with self.ready:
            if not self.results:
                self.ready.wait(timeout_s)
            out, self.results = self.results, []
        return out

    def stats(self) -> dict[str, dict[str, float]]:
        return self.executor.stats()

    def node_id(self) -> str:
        return ray.get_runtime_context().get_node_id()

    def shutdown(self) -> None:
        for runner in self.sources.values():
            runner.close()
        self.executor.close()


@dataclass
class SourceStatus:
    """What the driver learns of a source when it polls."""

    done: bool = False
    streams: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    error: str | None = None
    lost: bool = False
    """Its actor crashed and was restarted without it: its streams must be ended by the driver."""


def source_share(graph: Graph, name: str, index: int, count: int) -> Source | None:
    """Source `name` as replica `index` of `count` runs it: whole, or its share of the streams (None: none)."""
    source = graph.nodes[name].build()
    assert isinstance(source, Source)
    return source if count == 1 else source.shard(index, count)


class SourceRunner:
    """A source read in a thread of its own, its batches stamped and handed to `send` per edge; what it has
    opened and ended, for the driver's polls."""

    def __init__(self, graph: Graph, name: str, source: Source) -> None:
        self.graph = graph
        self.name = name
        self.source = source
        self.streams: set[str] = set()
        self.ended: set[str] = set()
        self.error: str | None = None
        self.done = threading.Event()

    def start(
        self, send: Callable[[dict[int, list[Message]]], None], t0_ns: int, finish: Callable[[], None] = lambda: None
    ) -> None:
        threading.Thread(target=self._run, args=(send, finish, t0_ns), daemon=True).start()

    def _run(self, send: Callable[[dict[int, list[Message]]], None], finish: Callable[[], None], t0_ns: int) -> None:
        edges = self.graph.outputs(self.name)
        try:
            for batch in self.source.batches(t0_ns):
                if not batch:
                    continue
                self.streams.update(m.stream for m in batch)
                self.ended.update(m.stream for m in batch if isinstance(m, EndOfStream))
                stamped = stamp_source(self.name, batch)
                send({e: sel for e in edges if (sel := self.graph.edges[e].select(stamped))})
            finish()
        except BaseException as exc:
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.done.set()

    def status(self) -> SourceStatus:
        return SourceStatus(self.done.is_set(), sorted(self.streams), sorted(self.ended), self.error)

    def close(self) -> None:
        self.source.stop()
        self.done.wait(5)
        self.source.close()


@ray.remote(num_cpus=0, max_concurrency=2)
class SourceActor:
    """Runs a source in a thread of its own, so `stop_source` and `poll_source` can reach it."""

    def __init__(self, graph: Graph, name: str, max_inflight: int, batch: bool) -> None:
        logging.basicConfig(level=logging.WARNING)
        self.graph = graph
        self.runner = SourceRunner(graph, name, source_share(graph, name, 0, 1))  # type: ignore[arg-type]
        self.max_inflight = max_inflight
        self.batch = batch

    def start_source(self, name: str, t0_ns: int, targets: dict[int, list[Any]]) -> None:
        outbox = Outbox(self.graph, targets, self.max_inflight, self.batch)
        self.runner.start(outbox.send, t0_ns, finish=outbox.flush)

    def poll_source(self, name: str) -> SourceStatus:
        return self.runner.status()

    def planned_source(self, name: str) -> list[str] | None:
        return self.runner.source.planned_streams()

    def stop_source(self, name: str) -> None:
        self.runner.source.stop()

    def shutdown(self) -> None:
        self.runner.close()


def fuse_by_placement(graph: Graph) -> list[list[str]]:
    """Connected nodes that share a placement, as groups (sources stay alone).

    Falls back to one node per group if fusing would put a cycle between groups.
    """
    group = {n: n for n in graph.nodes}

    def find(n: str) -> str:
        while group[n] != n:
            n = group[n]
        return n

    for e in graph.edges:
        a, b = graph.nodes[e.src], graph.nodes[e.dst]
        if not e.feedback and a.placement == b.placement and not a.is_source and not b.is_source:
            group[find(e.src)] = find(e.dst)
    order = graph.topological_order()
    groups: dict[str, list[str]] = {}
    for n in order:
        if not graph.nodes[n].is_source:
            groups.setdefault(find(n), []).append(n)
    result = list(groups.values())
    if _groups_acyclic(graph, result):
        return result
    log.warning("fusing graph %s by placement would create a cycle; not fusing", graph.name)
    return [[n] for n in order if not graph.nodes[n].is_source]


def hosted_sources(graph: Graph, groups: list[list[str]], replicas: int = 1) -> dict[str, int]:
    """Sources whose every edge leads into one group of their own placement -> that group's index: the
    ones that can run inside its actor (with replicas, those that can split their streams among them)."""
    owner = {n: k for k, names in enumerate(groups) for n in names}
    out = {}
    for name in graph.sources:
        into = {owner.get(graph.edges[e].dst) for e in graph.outputs(name)}
        if len(into) == 1 and (k := into.pop()) is not None:
            spec = graph.nodes[name]
            if graph.nodes[groups[k][0]].placement == spec.placement and (replicas == 1 or spec.factory.shardable):
                out[name] = k
    return out


def _groups_acyclic(graph: Graph, groups: list[list[str]]) -> bool:
    owner = {n: i for i, g in enumerate(groups) for n in g}
    edges = {(owner[e.src], owner[e.dst]) for e in graph.edges if not e.feedback and e.src in owner and e.dst in owner}
    edges = {(a, b) for a, b in edges if a != b}
    indeg = {i: 0 for i in range(len(groups))}
    for _, b in edges:
        indeg[b] += 1
    ready = [i for i, d in indeg.items() if d == 0]
    seen = 0
    while ready:
        i = ready.pop()
        seen += 1
        for a, b in edges:
            if a == i:
                indeg[b] -= 1
                if indeg[b] == 0:
                    ready.append(b)
    return seen == len(groups)


class RayRuntime(Runtime):
    """One actor per node (or per fused group), several streams per actor; `replicas` actors per device-side
    node or group, each serving its share of the streams (`pipeline.replicas`)."""

    def __init__(
        self,
        graph: Graph,
        *,
        address: str | None = None,
        max_inflight: int = 8,
        fuse: bool = False,
        batch: bool = True,
        poll_s: float = 0.2,
        check_s: float = 0.05,
        drain_timeout_s: float = 60.0,
        max_restarts: int = 3,
        replicas: int = 1,
        host_sources: bool = False,
    ) -> None:
        super().__init__(graph)
        if replicas < 1:
            raise ValueError(f"replicas must be at least 1, not {replicas}")
        self._closed = False
        self.group_actors: list[Any] = []
        self.source_actors: dict[str, list[Any]] = {}
        self.started_ray = init_ray(address)
        self.poll_s = poll_s
        self.check_s = check_s
        self.drain_timeout_s = drain_timeout_s
        self.run_id = uuid.uuid4().hex[:8]
        self.groups = (
            fuse_by_placement(self.graph)
            if fuse
            else [[n] for n in self.graph.topological_order() if not self.graph.nodes[n].is_source]
        )
        available = ray.cluster_resources()
        self.max_restarts = max_restarts
        self.actor_names: list[str] = []
        group_names: dict[str, list[str]] = {}  # per node, the names of the actors that run it (its replicas)
        for names in self.groups:
            label = "+".join(names)
            count = replicas if self.graph.nodes[names[0]].placement == "device" else 1
            replica_names = [self._name(label if count == 1 else f"{label}#{r}") for r in range(count)]
            for n in names:
                group_names[n] = replica_names
        if host_sources and not fuse:
            log.warning("sources are hosted only in fused actors (--fuse): each runs in an actor of its own")
        self.hosted = hosted_sources(self.graph, self.groups, replicas) if host_sources and fuse else {}
        """Source -> the group whose actors run it (each replica its share of the streams)."""
        self.owner: dict[str, list[Any]] = {}
        for k, names in enumerate(self.groups):
            targets = {i: group_names[self.graph.edges[i].dst] for i in self._leaving(names)}
            sources = tuple(n for n, g in self.hosted.items() if g == k)
            count = len(group_names[names[0]])
            actors = [
                GroupActor.options(
                    **self._options(name, names[0], available),
                    max_restarts=max_restarts,
                    max_task_retries=-1 if max_restarts else 0,
                ).remote(self.graph, names, max_inflight, batch, targets, sources, (r, count))
                for r, name in enumerate(group_names[names[0]])
            ]
            self.group_actors += actors
            for n in [*names, *sources]:
                self.owner[n] = actors
        self.source_actors: dict[str, list[Any]] = {
            n: self.owner[n]
            if n in self.hosted
            else [
                SourceActor.options(**self._options(self._name(n), n, available)).remote(
                    self.graph, n, max_inflight, batch
                )
            ]
            for n in self.graph.sources
        }
        """Per source, the actors that run it: its own, or the replicas of the group it is hosted in."""
        self.sink_actors = list({id(a): a for n in self.graph.sinks for a in self.owner[n]}.values())
        try:
            ray.get([a.__ray_ready__.remote() for a in self.group_actors])
        except ray.exceptions.RayActorError as exc:
            self.close()
            raise RuntimeError(f"graph {self.graph.name!r}: a node failed to start: {exc}") from exc

    def _name(self, label: str) -> str:
        name = f"{self.graph.name}-{self.run_id}-{label}"
        self.actor_names.append(name)
        return name

    def _leaving(self, names: list[str]) -> list[int]:
        return [i for n in names for i in self.graph.outputs(n) if self.graph.edges[i].dst not in names]

    def _options(self, name: str, node: str, available: dict[str, float]) -> dict[str, Any]:
        placement = self.graph.nodes[node].placement
        opts: dict[str, Any] = {"name": name, "namespace": NAMESPACE}
        if placement in available:
            opts["resources"] = {placement: 0.001}
        else:
            log.warning("cluster has no %r resource: node %s may run anywhere", placement, node)
        return opts

    def _targets(self, names: list[str]) -> dict[int, list[Any]]:
        return {i: self.owner[self.graph.edges[i].dst] for i in self._leaving(names)}

    def run(self) -> Iterator[Message]:
        tracker = DrainTracker(len(self.graph.sinks))
        self.t0_ns = now_ns()
        slots = [(n, a) for n, actors in self.source_actors.items() for a in actors]
        """A source as one actor runs it (hosted in replicas: each replica's share)."""
        ray.get([a.start_source.remote(n, self.t0_ns, self._targets([n])) for n, a in slots])
        planned = ray.get([a.planned_source.remote(n) for n, a in slots])
        known = [SourceStatus() for _ in slots]
        dead: set[int] = set()
        polls = {a.take.remote(self.poll_s): a for a in self.sink_actors}
        failures = {id(a): 0 for a in self.sink_actors}
        last_progress = last_check = time.monotonic()
        while True:
            ready, _ = ray.wait(list(polls), num_returns=1, timeout=self.poll_s)
            for ref in ready:
                actor = polls.pop(ref)
                try:
                    batch = ray.get(ref)
                    failures[id(actor)] = 0
                except ray.exceptions.RayActorError as exc:  # restarting (a crash): poll it again
                    failures[id(actor)] += 1
                    if failures[id(actor)] * self.poll_s > self.drain_timeout_s:
                        raise RuntimeError(f"graph {self.graph.name!r}: a sink node died: {exc}") from exc
                    log.warning("graph %s: a sink actor did not answer (%s); polling it again", self.graph.name, exc)
                    time.sleep(self.poll_s)
                    batch = []
                except ray.exceptions.RayError as exc:
                    raise RuntimeError(f"graph {self.graph.name!r}: a node failed: {exc}") from exc
                polls[actor.take.remote(self.poll_s)] = actor
                for msg in shown(batch):
                    tracker.saw(msg)
                    yield msg
                if batch:
                    last_progress = time.monotonic()
            now = time.monotonic()
            if now - last_check < self.check_s:
                continue
            last_check = now
            for k, (name, actor) in enumerate(slots):
                if k in dead:
                    continue
                try:
                    status = ray.get(actor.poll_source.remote(name))
                    if status.lost:
                        raise RuntimeError("its actor crashed and was restarted without it")
                except (ray.exceptions.RayActorError, RuntimeError) as exc:
                    dead.add(k)
                    self._end_streams_of_dead_source(name, known[k], planned[k], exc)
                    last_progress = now
                    continue
                known[k] = status
                tracker.streams.update(status.streams)
                if status.error:
                    raise RuntimeError(f"source {name!r} failed: {status.error}")
            for k in dead:
                tracker.streams.update(planned[k] or known[k].streams)
            if all(status.done or k in dead for k, status in enumerate(known)):
                if not tracker.pending:
                    return
                if now - last_progress > self.drain_timeout_s:
                    log.error("graph %s: streams %s did not drain", self.graph.name, tracker.pending)
                    for msg in self._undrained(tracker):
                        tracker.saw(msg)
                        yield msg

    def _end_streams_of_dead_source(
        self, name: str, last: SourceStatus, planned: list[str] | None, exc: Exception
    ) -> None:
        """A source is not restarted (it would replay its streams from the start): the driver ends every
        stream it had not ended (and every one it had yet to open) with an Error and an EndOfStream."""
        opened, ended = last.streams, set(last.ended)
        streams = [s for s in dict.fromkeys([*opened, *(planned or [])]) if s not in ended]
        log.error("source %s died (%s): ending %d streams", name, " ".join(str(exc).split())[:200], len(streams))
        msgs: list[Message] = []
        for s in streams:
            began = s in opened
            text = "source died mid-stream: the rest of it was lost" if began else "source died before the stream began"
            msgs += [Error(stream=s, node=name, error=text), EndOfStream(stream=s)]
        stamped = stamp_source(name, msgs)
        for e in self.graph.outputs(name):
            actors = self.owner[self.graph.edges[e].dst]
            for replica, sel in by_replica(self.graph.edges[e].select(stamped), len(actors)).items():
                if sel:
                    actors[replica].push.remote({e: sel})

    def _undrained(self, tracker: DrainTracker) -> list[Message]:
        """What the sinks would have said last for streams that never drained (their end was lost in a crash)."""
        out: list[Message] = []
        for s in tracker.pending:
            error = f"did not drain within {self.drain_timeout_s:.0f} s (its end was lost in a crash)"
            out.append(Error(stream=s, node="runtime", error=error))
            out += [EndOfStream(stream=s)] * (tracker.n_sinks - tracker.ended.get(s, 0))
        return out

    def stats(self) -> RunStats:
        """Per node, its figures summed over its replicas."""
        out = RunStats()
        for nodes in ray.get([a.stats.remote() for a in self.group_actors], timeout=30):
            out.add(nodes)
        return out

    def placement(self) -> dict[str, str]:
        """Per node, the cluster node its actor runs on (a replicated one's: `node#replica`, each replica's)."""
        out: dict[str, str] = {}
        for names in self.groups:
            actors = self.owner[names[0]]
            ids = ray.get([a.node_id.remote() for a in actors], timeout=30)
            for n in names:
                out.update({n: ids[0]} if len(ids) == 1 else {f"{n}#{r}": i for r, i in enumerate(ids)})
        return out

    def stop(self) -> None:
        for n, actors in self.source_actors.items():
            for a in actors:
                a.stop_source.remote(n)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        mine = [*(a for actors in self.source_actors.values() for a in actors), *self.group_actors]
        actors = list({id(a): a for a in mine}.values())
        try:
            ray.get([a.shutdown.remote() for a in actors], timeout=10)
        except Exception as exc:
            log.warning("graph %s: shutdown was not clean: %s", self.graph.name, exc)
        for a in actors:
            ray.kill(a, no_restart=True)
        if self.started_ray:
            ray.shutdown()
