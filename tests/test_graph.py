"""Graph validation: mistakes are caught when the graph is built, with a clear message."""

import pytest

from pipeline import Graph, GraphError
from tests.graph_nodes import Recorder, Relay, TickSource


def base() -> Graph:
    g = Graph("g")
    g.add("src", TickSource)
    g.add("a", Relay)
    g.add("b", Recorder)
    g.connect("src", "a").connect("a", "b")
    return g


def test_valid_graph_knows_sources_sinks_and_order():
    g = base().validate()
    assert g.sources == ["src"]
    assert g.sinks == ["b"]
    assert g.topological_order() == ["src", "a", "b"]


def test_unknown_node_in_edge():
    g = base().connect("a", "nowhere")
    with pytest.raises(GraphError, match="unknown node 'nowhere'"):
        g.validate()


def test_cycle_is_rejected_with_its_path():
    g = base().connect("b", "a")
    with pytest.raises(GraphError, match=r"cycle: .*(a -> b -> a|b -> a -> b)"):
        g.validate()


def test_feedback_edge_is_not_a_cycle():
    g = base().connect("b", "a", feedback=True).validate()
    assert g.sinks == ["b"]


def test_dangling_node_without_input():
    g = base()
    g.add("orphan", Relay)
    with pytest.raises(GraphError, match="'orphan' has no data input"):
        g.validate()


def test_node_fed_only_by_feedback_is_dangling():
    g = base()
    g.add("c", Relay)
    g.connect("b", "c", feedback=True)
    with pytest.raises(GraphError, match="'c' has no data input"):
        g.validate()


def test_duplicate_node_and_bad_placement():
    g = base()
    with pytest.raises(GraphError, match="declared twice"):
        g.add("a", Relay)
    with pytest.raises(GraphError, match="placement"):
        g.add("z", Relay, placement="moon")


def test_source_cannot_have_inputs_and_graph_needs_a_source():
    g = base().connect("a", "src", feedback=True)
    with pytest.raises(GraphError, match="source 'src' cannot have inputs"):
        g.validate()
    g2 = Graph("nosrc")
    g2.add("a", Relay)
    with pytest.raises(GraphError, match="no source"):
        g2.validate()


def test_bad_node_options_name_the_node():
    g = base()
    g.add("bad", Relay, speed=3)
    g.connect("a", "bad")
    from pipeline import LocalRuntime

    with pytest.raises(GraphError, match=r"node 'bad'.*unknown options: speed"):
        LocalRuntime(g)


def test_edges_select_what_they_carry():
    from pipeline import Edge, Event, Reset, Watermark
    from tests.graph_nodes import Flag

    wm = Watermark(stream="s", start=0, end=10)
    ev = Event.make("wake", stream="s")
    other = Event.make("partial", stream="s")
    reset = Reset(stream="s", start=0, end=10, utterance=1, revision=1)
    plain = Edge("a", "b")
    assert plain.select([wm, ev, reset]) == [wm, ev, reset]
    quiet = Edge("a", "b", events=frozenset({"wake"}), watermarks=False)
    assert quiet.select([wm, ev, other, reset]) == [ev, reset]
    feedback = Edge("a", "b", feedback=True, events=frozenset({"wake"}))
    assert feedback.select([wm, ev, other, reset]) == [ev]
    flag = Flag(stream="s", start=0, end=10, value=1)
    assert plain.select([wm, flag]) == [wm, flag] and feedback.select([flag]) == []
    flags_only = Edge("a", "b", feedback=True, events=frozenset({Flag}))
    assert flags_only.select([wm, ev, other, flag, reset]) == [flag]
    assert Edge("a", "b", events=frozenset({"wake", Flag})).carries() == "events: Flag, wake"
