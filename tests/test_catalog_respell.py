"""The cloud proposes catalog entries the device spelt as it heard them, where the LM expects one."""

from __future__ import annotations

from models.lm import CITY, ITEM, Catalogs
from nodes.catalog_respell import CatalogRespeller

CATALOGS = Catalogs.from_lists({CITY: ["kokomo", "hansestadt stade", "new york", "oslo"], ITEM: ["peanut butter"]})
KNOWN = frozenset("will it rain in put on the list our neighbours have a new puppy york".split())


def respeller(expects=None) -> CatalogRespeller:
    return CatalogRespeller(CATALOGS, KNOWN.__contains__, expects)


def test_an_unknown_spelling_is_respelt_to_the_entry_it_sounds_like():
    r = respeller()
    assert r.rewrite("will it rain in cocomo".split()) == ("will it rain in kokomo".split(), 1, 0.0)
    words, n, _ = r.rewrite("will it rain in hancestat stad".split())
    assert words == "will it rain in hansestadt stade".split() and n == 1
    words, n, _ = r.rewrite("put peenut butter on the list".split())
    assert " ".join(words) == "put peanut butter on the list" and n == 1


def test_known_words_and_far_spellings_are_left_alone():
    r = respeller()
    assert r.rewrite("our neighbours have a new puppy".split())[1] == 0
    assert r.rewrite("will it rain in zzzzqqqq".split())[1] == 0
    assert r.rewrite("will it rain in kokomo".split())[1] == 0  # already an entry


def test_only_where_the_lm_expects_the_catalog():
    nowhere = respeller(lambda words: [{CITY: 0.0, ITEM: 0.0} for _ in words])
    assert nowhere.rewrite("will it rain in cocomo".split())[1] == 0
    after_in = respeller(lambda words: [{CITY: 0.5 if k == 4 else 0.0} for k, _ in enumerate(words)])
    assert after_in.rewrite("will it rain in cocomo".split())[0][-1] == "kokomo"


def test_proposals_are_new_candidates_from_the_best_ones():
    r = respeller()
    props = r.propose([("will it rain in cocomo", -3.0), ("will it rain in kokomo ah", -9.0)], top=1)
    assert [(p.text, p.source, p.rewrites) for p in props] == [("will it rain in kokomo", "will it rain in cocomo", 1)]
    assert r.propose([("will it rain in kokomo", -3.0)]) == []


def test_vowels_weigh_less_than_consonants():
    r = CatalogRespeller(Catalogs.from_lists({CITY: ["boston", "busan"]}), KNOWN.__contains__)
    assert r.rewrite("will it rain in bustan".split())[0][-1] == "boston"
    assert r.rewrite("will it rain in busahn".split())[0][-1] == "busan"


def test_the_vocabulary_respeller_mends_single_words_and_leaves_the_users_names():
    vocab = ["dial", "number", "forty", "five", "percent", "minute", "heating", "by"]
    r = CatalogRespeller.vocabulary(vocab, vocab.__contains__)
    assert r.rewrite("heating by fourty five percent".split()) == (
        "heating by forty five percent".split(),
        1,
        r.rewrite(["fourty"])[2],
    )
    assert r.rewrite("dial maie monte nomber".split())[0] == "dial maie minute number".split()
    kept, n, _ = r.rewrite("dial maie monte nomber".split(), keep={"maie", "monte"})  # the stream's context
    assert kept == "dial maie monte number".split() and n == 1
    props = r.propose([("dial maie monte nomber", -2.0)], top=1, keep={"maie", "monte"})
    assert [p.text for p in props] == ["dial maie monte number"]
