"""Confidence from lattice posteriors: paths that disagree make a word unsure, and the result says so."""

from __future__ import annotations

import pytest

from nodes.confidence import ConfidenceConfig, align, fit_logistic, posteriors, word_confidences
from nodes.decoder.lattice import Lattice
from nodes.messages import LatticeMessage
from nodes.rescorer import LatticeRescorer
from nodes.sink import result_fields


def lattice(paths: dict[str, float]) -> Lattice:
    """A lattice holding each path (words 0.3 s apart) with its final score."""
    lat = Lattice()
    for text, score in paths.items():
        words = text.split()
        for i, w in enumerate(words):
            lat.add_arc(tuple(words[:i]), w, 0.3 * i, 0.3 * i + 0.3, -1.0, 0.0)
        lat.add_final(tuple(words), score)
    return lat


def message(lat: Lattice) -> LatticeMessage:
    return LatticeMessage(
        stream="s", start=0, end=100, utterance=1, revision=0, lattice=lat.to_dict(), text=lat.best(),
        nbest=tuple(lat.nbest(4)), context=("meg bauer",),
    )  # fmt: skip


def test_posteriors_sum_to_one_and_temperature_spreads_them():
    sharp, flat = posteriors([-1.0, -3.0], 1.0), posteriors([-1.0, -3.0], 4.0)
    assert sum(sharp) == pytest.approx(1.0) and sum(flat) == pytest.approx(1.0)
    assert sharp[0] > flat[0] > 0.5


def test_alignment_pairs_words_across_an_insertion():
    assert align("call meg bauer".split(), "call meg a bauer".split()) == ["call", "meg", "bauer"]
    assert align("call meg bauer".split(), "call bauer".split()) == ["call", None, "bauer"]


def test_only_the_word_the_paths_disagree_on_is_unsure():
    ranked = [("call meg bauer", -5.0), ("call peg bauer", -5.5), ("call meg bauer now", -9.0)]
    words, post = word_confidences(ranked, 1.0)
    assert words[0] == pytest.approx(1.0) and words[2] == pytest.approx(1.0)  # every path says "call", "bauer"
    assert words[1] == pytest.approx(post[0] + post[2])  # "peg" takes its posterior away from "meg"
    assert words[1] < 0.7


def test_a_lattice_whose_paths_disagree_gives_a_lower_confidence():
    node = LatticeRescorer(lm_weight=0.0, length_bonus=0.0, nbest=8, alternatives=0, deadline_ms=None,
                           confidence=ConfidenceConfig(temperature=1.0))  # fmt: skip
    agree = lattice({"turn on the kitchen lights": -4.0, "turn on the kitchen light": -9.0})
    split = lattice({"turn on the kitchen lights": -4.0, "turn off the kitchen lights": -4.2, "burn the kitchen": -5})
    (sure,) = node.on_message(message(agree), node.new_state("s"))
    (unsure,) = node.on_message(message(split), node.new_state("s"))
    assert sure.confidence > 0.9 > 0.6 > unsure.confidence
    assert len(unsure.word_confidence) == 5 and min(unsure.word_confidence) == unsure.word_confidence[1]  # "on"
    assert unsure.nbest_confidence[0] == max(unsure.nbest_confidence) and sum(unsure.nbest_confidence) <= 1.0001
    event = result_fields(unsure)  # what the user sees
    assert event["confidence"] == unsure.confidence and event["word_confidence"] == list(unsure.word_confidence)
    assert [e["confidence"] for e in event["nbest"]] == list(unsure.nbest_confidence)


def test_calibration_is_monotone_in_the_word_confidence():
    x = [[c, c, -5.0, 0.25, 0.0, 0.1] for c in (0.1, 0.2, 0.3, 0.6, 0.7, 0.9, 0.95, 0.99)]
    y = [0, 0, 1, 0, 1, 1, 1, 1]
    conf = ConfidenceConfig(weights=fit_logistic(x, y))
    low, high = conf.utterance([0.2, 0.9, 0.9, 0.9], 0.2, -5.0), conf.utterance([0.95] * 4, 0.95, -5.0)
    assert 0.0 < low < 0.5 < high < 1.0
    assert ConfidenceConfig().utterance([0.4, 0.9], 0.4) == 0.4  # uncalibrated: the weakest word


def test_a_transcript_the_ctc_reading_does_not_hold_is_less_sure():
    """The shipped calibration: the same lattice, its audio read by the CTC layer as it says or as another request."""
    conf = ConfidenceConfig.load()
    ranked = [("call meg bauer", -5.0), ("call peg bauer", -8.0)]
    same = conf.judge(ranked, -15.0, 0.0, "call meg bauer")[0]
    near = conf.judge(ranked, -15.0, 0.0, "cal meg bower")[0]
    other = conf.judge(ranked, -15.0, 0.0, "our neighbors have a new puppy")[0]
    assert same > near > other


def test_weights_fitted_over_other_features_are_refused():
    old = ("min_word", "posterior", "lm_per_word", "1/words", "unknown_share", "bias")
    with pytest.raises(ValueError, match="bench rescore"):
        ConfidenceConfig(weights=[1.0] * len(old), features=old)
