"""The runtimes' contract, checked on both: order, fan-out/in, draining, failures, backpressure."""

from __future__ import annotations

from pipeline import Event, Graph, Node, Watermark, make_runtime
from pipeline.graph import Edge
from pipeline.host import NodeHost
from tests.graph_nodes import (
    FailOn,
    HoldOne,
    Recorder,
    Relay,
    Scale,
    Slow,
    Summer,
    Tick,
    TickEvents,
    TickNotices,
    TickSource,
)


def run(graph: Graph, kind: str, **options) -> list[Event]:
    with make_runtime(graph, kind, **options) as rt:
        return [m for m in rt.run() if isinstance(m, Event)]


def chain(*nodes, streams=2, count=20) -> Graph:
    g = Graph("chain")
    g.add("src", TickSource, streams=streams, count=count)
    prev = "src"
    for i, (cls, opts) in enumerate(nodes):
        g.add(f"n{i}", cls, **opts)
        g.connect(prev, f"n{i}")
        prev = f"n{i}"
    return g


def seen(events: list[Event], stream: str) -> list[tuple]:
    return [(e.data["kind"], e.end, e.data["value"]) for e in events if e.stream == stream and e.name == "seen"]


def test_order_is_kept_per_stream_through_a_chain(runtime_kind):
    events = run(chain((Relay, {}), (Relay, {}), (Recorder, {}), streams=3, count=50), runtime_kind)
    for s in ("s0", "s1", "s2"):
        ticks = [v for k, _, v in seen(events, s) if k == "Tick"]
        assert ticks == list(range(50))
        assert seen(events, s)[-1][0] == "EndOfStream"


def test_fan_out_and_fan_in(runtime_kind):
    g = Graph("diamond")
    g.add("src", TickSource, streams=2, count=10)
    g.add("x1", Scale, factor=1)
    g.add("x100", Scale, factor=100)
    g.add("sum", Summer)
    g.connect("src", "x1").connect("src", "x100").connect("x1", "sum").connect("x100", "sum")
    events = run(g, runtime_kind)
    sums = {e.stream: e.data for e in events if e.name == "sum"}
    assert sums == {s: {"total": 45 * 101, "count": 20} for s in ("s0", "s1")}


def test_end_of_stream_drains_held_state(runtime_kind):
    # HoldOne keeps one tick back; it only comes out when EndOfStream flushes it.
    events = run(chain((HoldOne, {}), (Recorder, {}), streams=2, count=5), runtime_kind)
    for s in ("s0", "s1"):
        assert [v for k, _, v in seen(events, s) if k == "Tick"] == [0, 1, 2, 3, 4]


def test_a_multi_input_node_sees_an_event_at_t_after_the_data_up_to_t(runtime_kind):
    # Data reaches the recorder one tick late (HoldOne); events at t come at once,
    # so the runtime must hold each event back until the data has caught up with it.
    g = Graph("merge")
    g.add("src", TickSource, streams=2, count=30)
    g.add("late", HoldOne)
    g.add("marks", TickEvents)
    g.add("rec", Recorder)
    g.connect("src", "late").connect("src", "marks").connect("late", "rec").connect("marks", "rec")
    events = run(g, runtime_kind)
    for s in ("s0", "s1"):
        data_end = 0
        marks = 0
        for kind, end, _ in seen(events, s):
            if kind == "Tick":
                data_end = max(data_end, end)
            elif kind == "Event":
                marks += 1
                assert end <= data_end, f"event at {end} delivered before data reached it ({data_end})"
        assert marks == 30


def test_notices_wait_for_the_data_like_events_and_leave_the_graph_as_the_events_users_see(runtime_kind):
    g = Graph("notices")
    g.add("src", TickSource, streams=2, count=10)
    g.add("late", HoldOne)
    g.add("flags", TickNotices)
    g.add("rec", Recorder)
    g.add("out", Relay)
    g.connect("src", "late").connect("src", "flags").connect("late", "rec").connect("flags", "rec")
    g.connect("flags", "out")
    events = run(g, runtime_kind)
    for s in ("s0", "s1"):
        data_end, flags = 0, 0
        for kind, end, _ in seen(events, s):
            if kind == "Tick":
                data_end = max(data_end, end)
            elif kind == "Flag":
                flags += 1
                assert end <= data_end, f"notice at {end} delivered before data reached it ({data_end})"
        assert flags == 10
        shown = [e for e in events if e.stream == s and e.name == "flag"]
        assert [e.data for e in shown] == [{"value": v} for v in range(0, 10, 2)]  # a notice not for users: nothing
        assert [e.end for e in shown] == [(v + 1) * 160 for v in range(0, 10, 2)]
        assert all(e.trace[-1][0] == "out" for e in shown)


def test_feedback_edge_runs_without_deadlock(runtime_kind):
    g = Graph("loop")
    g.add("src", TickSource, streams=2, count=40)
    g.add("work", Relay)
    g.add("marks", TickEvents)
    g.add("rec", Recorder)
    g.connect("src", "work").connect("work", "marks").connect("marks", "work", feedback=True)
    g.connect("work", "rec")
    events = run(g, runtime_kind, **({"max_inflight": 1} if runtime_kind == "ray" else {}))
    for s in ("s0", "s1"):
        kinds = [k for k, _, _ in seen(events, s)]
        assert kinds.count("Tick") == 40
        assert kinds[-1] == "EndOfStream"


def test_an_exception_names_node_and_stream_and_spares_other_streams(runtime_kind):
    events = run(chain((FailOn, {"stream": "s1", "at": 3}), (Recorder, {}), streams=3, count=10), runtime_kind)
    errors = [e for e in events if e.name == "seen" and e.data["kind"] == "Error"]
    assert errors and all(e.stream == "s1" for e in errors)
    assert [v for k, _, v in seen(events, "s0") if k == "Tick"] == list(range(10))
    assert [v for k, _, v in seen(events, "s2") if k == "Tick"] == list(range(10))
    assert [v for k, _, v in seen(events, "s1") if k == "Tick"] == [0, 1, 2]
    assert seen(events, "s1")[-1][0] == "EndOfStream"


def test_error_message_carries_node_and_reason():
    from pipeline import Error, LocalRuntime

    g = chain((FailOn, {"stream": "s0", "at": 0}), (Relay, {}), streams=1, count=1)
    with LocalRuntime(g) as rt:
        errors = [m for m in rt.run() if isinstance(m, Error)]
    assert len(errors) == 1
    assert errors[0].node == "n0" and errors[0].stream == "s0"
    assert "ValueError: tick 0 is bad" in errors[0].error


def test_backpressure_bounds_how_far_the_source_runs_ahead(runtime_kind):
    # 60 ticks, 10 ms of work each. Unbounded, the source would have sent all 60 before the slow
    # node finished the first; with a bound it can only be a few messages ahead (counted from the
    # trace stamps, so machine load does not matter).
    options = {"max_inflight": 2, "batch": False} if runtime_kind == "ray" else {"max_queued": 2}
    events = run(chain((Relay, {}), (Slow, {"seconds": 0.01}), streams=1, count=60), runtime_kind, **options)
    lags = [e for e in events if e.name == "lag"]
    assert len(lags) == 60
    sent_by_source = sorted(e.trace[0][2] for e in lags)
    ahead = [sum(t < e.trace[-1][1] for t in sent_by_source) - (k + 1) for k, e in enumerate(lags)]
    assert max(ahead) <= 8, f"the source ran {max(ahead)} messages ahead of a slow node"


def test_traces_stamp_every_node_in_order(runtime_kind):
    events = run(chain((Relay, {}), (Recorder, {}), streams=1, count=5), runtime_kind)
    ev = next(e for e in events if e.name == "seen")
    assert [s[0] for s in ev.trace] == ["src", "n0", "n1"]
    times = [t for s in ev.trace for t in s[1:]]
    assert times == sorted(times)
    assert ev.captured_ns and ev.captured_ns <= ev.trace[0][2]


def test_stats_count_each_nodes_time_and_batches(runtime_kind):
    """A node that sleeps 5 ms per message shows about that much wall time and far less CPU."""
    graph = chain((Relay, {}), (Slow, {"seconds": 0.005}), streams=1, count=20)
    with make_runtime(graph, runtime_kind) as rt:
        list(rt.run())
        stats = rt.stats().nodes
    assert set(stats) == {"n0", "n1"}
    assert all(s["calls"] >= 1 for s in stats.values())
    assert stats["n1"]["busy_s"] >= 20 * 0.005
    assert stats["n1"]["cpu_s"] < stats["n1"]["busy_s"] / 2


class _Batches(Node):
    """Records the streams of each `on_batch` and the order in which each stream's messages reached it."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[str]] = []
        self.order: dict[str, list[str]] = {}

    def on_batch(self, items):
        self.batches.append([m.stream for m, _ in items])
        for m, _ in items:
            self.order.setdefault(m.stream, []).append(f"data{m.end}")
        return []

    def on_control(self, msg, state):
        self.order.setdefault(msg.stream, []).append(f"mark{msg.end}")
        return ()


def test_a_batching_node_gets_every_streams_data_at_once_past_other_streams_control_messages():
    """A control message waits only for its own stream's data: the watermarks a closed gate sends between
    the streams' chunks do not cut a delivery into one `on_batch` per stream; per stream, the order is kept."""
    node = _Batches()
    host = NodeHost(node, {0: Edge("src", "n")})
    tick = lambda s, t: Tick(stream=s, end=t, value=t)  # noqa: E731
    mark = lambda s, t: Watermark(stream=s, end=t)  # noqa: E731
    host.deliver(0, [tick("s0", 1), mark("s1", 1), tick("s1", 1), mark("s0", 1), tick("s0", 2), tick("s2", 2)])
    assert node.batches == [["s0", "s1"], ["s0", "s2"]]
    assert node.order == {"s0": ["data1", "mark1", "data2"], "s1": ["mark1", "data1"], "s2": ["data2"]}
