"""Respelling near misses of context phrases in the lattice."""

from __future__ import annotations

from nodes.decoder.lattice import Lattice
from nodes.decoder.respell import Respeller, sound_key


def lattice_of(*paths: tuple[str, float]) -> Lattice:
    """Paths with one arc per word, 0.3 s each, acoustic score -1 per word."""
    lat = Lattice()
    for text, score in paths:
        words = tuple(text.split())
        for i, w in enumerate(words):
            lat.add_arc(words[:i], w, 0.3 * i, 0.3 * (i + 1), -1.0, 0.0)
        lat.add_final(words, score)
    return lat


def test_spellings_that_sound_alike_share_a_key():
    assert sound_key("philip") == sound_key("filip")
    assert sound_key("lind quist") == sound_key("lindkuist")
    assert sound_key("Meg Bauer") == "megbauer"


def test_a_near_miss_of_a_phrase_is_rewritten_to_it():
    r = Respeller(["meg bauer", "kitchen lights"])
    assert r.apply(("call", "meg", "bower")) == ("call", "meg", "bauer")
    assert r.apply(("call", "tobias", "lind", "quist")) == ("call", "tobias", "lind", "quist")  # not in context
    assert Respeller(["tobias lindqvist"]).apply(("call", "tobias", "lind", "quist")) == ("call", "tobias", "lindqvist")


def test_what_was_said_right_or_far_from_every_phrase_is_left_alone():
    r = Respeller(["meg bauer", "kitchen lights", "tv"])
    for text in ("call meg bauer", "turn on the kitchen lights", "what is the weather in boston", "turn on the tv"):
        assert r.apply(tuple(text.split())) == tuple(text.split())


def test_the_respelled_path_comes_first_and_the_original_stays():
    lat = lattice_of(("call meg bower", 5.0), ("call meg power", 4.0))
    out = Respeller(["meg bauer"]).respell(lat)
    ranked = [text for text, _ in out.nbest(4)]
    assert ranked[0] == "call meg bauer"
    assert "call meg bower" in ranked
    arc = out.arcs[(("call", "meg"), "bauer")]
    assert (arc.start, arc.end) == (0.6, 0.9)  # timed by the word it replaced
    assert Lattice.from_dict(out.to_dict()).best() == "call meg bauer"
    assert out.cut(0.65).best() == "call meg"


def test_a_span_of_another_length_is_respelled_with_the_times_it_covers():
    lat = lattice_of(("call tobias lind quist now", 2.0))
    out = Respeller(["tobias lindqvist"]).respell(lat)
    assert out.best() == "call tobias lindqvist now"
    arc = out.arcs[(("call", "tobias"), "lindqvist")]
    assert (arc.start, arc.end) == (0.6, 1.2)
    assert out.arcs[(("call", "tobias", "lindqvist"), "now")].start == 1.2


def test_without_context_the_lattice_is_unchanged():
    lat = lattice_of(("call meg bower", 5.0))
    assert Respeller([]).respell(lat) is lat


def test_only_spans_with_a_word_the_recogniser_never_learned_are_respelled():
    known = frozenset({"call", "meg", "power", "tower"})
    r = Respeller(["meg bauer"], known=known)
    assert r.apply(("call", "meg", "power")) == ("call", "meg", "power")  # real words: taken as said
    assert r.apply(("call", "meg", "bower")) == ("call", "meg", "bauer")


def test_the_shipped_recogniser_knows_its_training_words():
    import torch

    from models.rnnt import RNNT
    from nodes.decoder.node import DEFAULT_WEIGHTS

    words = RNNT.from_checkpoint(torch.load(DEFAULT_WEIGHTS, weights_only=False)).words
    assert {"call", "turn", "lights"} <= words and len(words) > 1000
