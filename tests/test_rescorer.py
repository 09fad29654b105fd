"""The cloud rescorer node with the shipped LM: it fixes ungrammatical first passes, keeps deadlines, obeys resets."""

from __future__ import annotations

import pytest

from nodes.decoder.lattice import Lattice
from nodes.messages import LatticeMessage, Transcript
from nodes.rescorer import LatticeRescorer, candidates
from pipeline import Message, Reset
from pipeline.testing import run_node

CONTEXT = ("meg bauer", "omar klein", "kitchen lights")


def timer_lattice() -> Lattice:
    """'set a timer four ten minutes' is acoustically best; 'for' is the sibling arc the lattice also holds."""
    lat = Lattice()
    words = ["set", "a", "timer"]
    for i, w in enumerate(words):
        lat.add_arc(tuple(words[:i]), w, i * 0.3, i * 0.3 + 0.3, -1.0, 0.0)
    prefix = tuple(words)
    lat.add_arc(prefix, "four", 0.9, 1.1, -1.0, 0.0)
    lat.add_arc(prefix, "for", 0.9, 1.1, -1.6, 0.0)
    lat.add_arc((*prefix, "four"), "ten", 1.1, 1.4, -1.0, 0.0)
    lat.add_arc((*prefix, "four", "ten"), "minutes", 1.4, 1.9, -1.0, 0.0)
    lat.add_final((*prefix, "four", "ten", "minutes"), -6.0)
    return lat


def message(lat: Lattice, revision: int = 0, utterance: int = 1) -> LatticeMessage:
    return LatticeMessage(
        stream="s",
        start=100,
        end=200,
        utterance=utterance,
        revision=revision,
        lattice=lat.to_dict(),
        text=lat.best(),
        nbest=tuple(lat.nbest(4)),
        context=CONTEXT,
        endpoint="final",
        endpoint_s=1.9,
    )


def rescore(node: LatticeRescorer, msgs: list[Message]) -> list[Message]:
    """What the rescorer passes on for `msgs`, delivered by the node host (the end of the stream left out)."""
    return [m for m in run_node(node, msgs, name="rescorer") if isinstance(m, Transcript | Reset)]


@pytest.fixture(scope="module")
def rescorer() -> LatticeRescorer:
    return LatticeRescorer(lm_weight=1.0, length_bonus=0.0, nbest=4, alternatives=4, deadline_ms=None)


def test_sibling_arcs_become_candidates():
    texts = dict(candidates(timer_lattice(), nbest=4, alternatives=4))
    assert texts == {"set a timer four ten minutes": -6.0, "set a timer for ten minutes": -6.6}
    assert dict(candidates(timer_lattice(), nbest=4, alternatives=0)) == {"set a timer four ten minutes": -6.0}


def test_ungrammatical_first_pass_is_flipped(rescorer):
    msg = message(timer_lattice())
    assert msg.text == "set a timer four ten minutes"
    (out,) = rescore(rescorer, [msg])
    assert isinstance(out, Transcript)
    assert out.text == "set a timer for ten minutes"
    assert out.first_pass_text == msg.text and out.rescored and out.rescore_note == "changed"
    assert (out.utterance, out.revision, out.stream, out.start, out.end) == (1, 0, "s", 100, 200)
    assert out.context == CONTEXT and out.nbest[0][0] == out.text


def test_an_lm_that_weighs_nothing_leaves_the_first_pass_and_length_to_decide():
    node = LatticeRescorer(lm_weight=0.0, length_bonus=0.5, nbest=4, alternatives=4, deadline_ms=None)
    ranked = node.rescore(message(timer_lattice()))
    assert ranked == [("set a timer four ten minutes", -3.0), ("set a timer for ten minutes", -3.6)]


def test_deadline_zero_commits_the_first_pass():
    node = LatticeRescorer(lm_weight=1.0, length_bonus=0.0, deadline_ms=0)
    (out,) = rescore(node, [message(timer_lattice())])
    assert (out.text, out.rescored, out.rescore_note) == ("set a timer four ten minutes", False, "deadline")


def test_network_delay_past_the_deadline_waits_for_the_deadline_then_falls_back():
    node = LatticeRescorer(lm_weight=1.0, deadline_ms=30, network_delay_ms=100)
    (out,) = rescore(node, [message(timer_lattice())])
    assert not out.rescored and out.rescore_note == "deadline"
    assert 25 <= out.rescore_ms < 90


def test_reset_drops_older_revisions():
    node = LatticeRescorer(lm_weight=1.0, deadline_ms=None)  # its own: the Resets it heard stay with it
    reset = Reset(stream="s", start=150, end=150, utterance=1, revision=1)
    revisions = [message(timer_lattice(), revision=r, utterance=u) for r, u in ((0, 1), (1, 1), (0, 2))]
    passed, out, other = rescore(node, [reset, *revisions])  # revision 0 of utterance 1 is dropped
    assert passed.replace(trace=()) == reset
    assert (out.utterance, out.revision) == (1, 1) and out.rescored
    assert (other.utterance, other.revision) == (2, 0)  # other utterances are untouched


def test_a_reset_heard_ahead_of_its_turn_skips_the_revisions_it_makes_stale():
    node = LatticeRescorer()  # its own: what it heard ahead stays with it
    node.on_ahead(Reset(stream="s", start=150, end=150, utterance=1, revision=2))
    revisions = [message(timer_lattice(), revision=r) for r in (0, 1, 2)]
    (out,) = rescore(node, revisions)
    assert (out.utterance, out.revision) == (1, 2) and out.rescored


def test_a_failing_lm_keeps_the_first_pass(rescorer, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(rescorer.lm, "score", broken)
    (out,) = rescore(rescorer, [message(timer_lattice())])
    assert out.text == "set a timer four ten minutes" and not out.rescored
    assert out.rescore_note.startswith("error: RuntimeError: out of memory")


def test_missing_weights_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no language model"):
        LatticeRescorer(weights=str(tmp_path / "none.pt"))
