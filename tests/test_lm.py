"""The rescorer's word LM, with the shipped weights: it knows the grammar, and reads context names as classes."""

from __future__ import annotations

import pytest
import torch

from models.lm import DEVICE, FIRST, LAST, UNK, NameClasses, WordLM, with_classes
from nodes.rescorer import DEFAULT_WEIGHTS

CONTACTS = ["meg bauer", "omar klein", "kitchen lights"]


@pytest.fixture(scope="module")
def lm() -> WordLM:
    assert DEFAULT_WEIGHTS.exists(), "the language model ships in weights/ (python3 -m training.lm)"
    torch.set_num_threads(1)
    return WordLM.from_checkpoint(torch.load(DEFAULT_WEIGHTS, weights_only=False))


def test_training_text_puts_names_in_classes():
    assert with_classes("call meg bauer at home", {"contact": "meg bauer"}) == ["call", FIRST, LAST, "at", "home"]
    assert with_classes("turn the kitchen ceiling fan on", {"device": "ceiling fan"}) == [
        "turn", "the", "kitchen", DEVICE, "on"
    ]  # fmt: skip
    assert with_classes("bauer", {"choice": "bauer"}, ["bauer"]) == [LAST]
    assert with_classes("the second one", {"choice": "the second one"}, []) == ["the", "second", "one"]


def test_grammatical_beats_scrambled(lm):
    good, bad = lm.score(["set a timer for ten minutes", "minutes timer for a set ten"])
    assert good > bad + 10
    good, bad = lm.score(["what is the weather in boston", "what is the weather boston in"])
    assert good > bad + 3


def test_unseen_name_in_context_scores_like_a_seen_one(lm):
    out_of_context = lm.score(["call meg bauer", "call xolotl quenby"], [])
    assert max(out_of_context) < lm.score(["call meg bauer"], CONTACTS)[0] - 5  # there names are unknown words
    ctx_seen = ["meg bauer", "omar klein", "kitchen lights"]
    ctx_unseen = ["xolotl quenby", "omar klein", "kitchen lights"]
    a = lm.score(["call meg bauer"], ctx_seen)[0]
    b = lm.score(["call xolotl quenby"], ctx_unseen)[0]
    assert a == pytest.approx(b, abs=1e-4)
    # the context's pairing counts: the contact's own last name beats another contact's
    paired, crossed = lm.score(["call meg bauer", "call meg klein"], CONTACTS)
    assert paired > crossed


def test_out_of_vocabulary_words_pay_the_fixed_penalty(lm):
    assert not lm.in_vocab("xolotl")
    (tokens, member), *_ = lm.variants(["call", "xolotl"], NameClasses())
    assert tokens == ["call", UNK] and member == 0
    per_token = lm.token_logprobs([tokens])[0]
    assert per_token[1] == lm.config.unk_logprob


def test_checkpoint_round_trip_is_half_size(lm, tmp_path):
    ckpt = lm.checkpoint()
    assert all(v.dtype == torch.float16 for v in ckpt["state"].values() if v.is_floating_point())
    again = WordLM.from_checkpoint(ckpt)
    assert again.score(["call meg bauer"], CONTACTS) == pytest.approx(lm.score(["call meg bauer"], CONTACTS))
    assert DEFAULT_WEIGHTS.stat().st_size < 5e6
