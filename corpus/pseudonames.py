"""Made-up, pronounceable names for the name drill of the training split.

A recogniser that hears the same 260 training names thousands of times learns
them as whole words and, given a name it never heard, writes the nearest one
it knows ("zdenek" -> "xavier"). Requests whose names are drawn fresh from a
pool of thousands of made-up spellings make it learn how spelling sounds
instead, which is what a held-out name needs. Names are built from English
spelling patterns plus endings common in the names of many languages; none is
a word of the lexicon, so no dev or test name is ever spoken in training.
"""

from __future__ import annotations

import random

from corpus import lexicon
from corpus.grammar import NamePool

ONSETS = (
    "b bl br c ch cl cr d dr f fl fr g gl gr h j k kl kr l m n p ph pl pr qu r s sc sch sh sk sl sm sn sp st "
    "str sw t th tr v w wh y z zh"
).split()
INNER_ONSETS = "b c d f g h j k l m n p r s t v w z ch sh th st nd nt rl rm ld lv rk sk".split()
VOWELS = 5 * "a e i o u a e i o".split() + "ai ea ee ie oo ou au ay ey oa ia io y".split()
"""Plain vowels mostly, as in most names; a digraph now and then."""
CODAS = 12 * ["_"] + "n r l s t m k ck nd nt rd rt rn sh th ng x z ll ss st ld lt ns rg".split()
ENDINGS = (
    "a o i ie y er son sen ski ska ez es is us ova ov ek berg ton ley man stein elli ini ovic ard ette ine "
    "an en in on el ia ita ez ard holm dottir wick ford"
).split()
HEADS = "lamp lights fan heater speaker light machine box player cooler".split()
"""Device nouns the drill pairs with made-up words ("brandel lamp"); all of them are training words."""


def pseudo_word(rng: random.Random) -> str:
    syllables = rng.choice((1, 2, 2, 2, 3))
    word = rng.choice(ONSETS) if rng.random() < 0.85 else ""
    for k in range(syllables):
        if k:
            word += rng.choice(INNER_ONSETS)
        word += rng.choice(VOWELS)
    coda = rng.choice(CODAS)
    word += "" if coda == "_" else coda
    if rng.random() < 0.35:
        word += rng.choice(ENDINGS)
    return word


def _known_words() -> set[str]:
    """Every word of the lexicon: names of all splits, devices, and the words of every other list."""
    lists = [v for v in vars(lexicon).values() if isinstance(v, list) and v and isinstance(v[0], str)]
    return {w for items in lists for item in items for w in item.split()}


def drill_pool(seed: int, first: int = 3000, last: int = 3000, devices: int = 1500) -> NamePool:
    """A pool of made-up names, the same for a seed; no word of the lexicon is in it."""
    rng = random.Random(f"pseudonames:{seed}")
    known = _known_words()
    seen: set[str] = set()

    def draw(n: int) -> tuple[str, ...]:
        out = []
        while len(out) < n:
            w = pseudo_word(rng)
            if 3 <= len(w) <= 12 and w not in known and w not in seen:
                seen.add(w)
                out.append(w)
        return tuple(out)

    firsts, lasts, words = draw(first), draw(last), draw(devices)
    devs = tuple(w if rng.random() < 0.5 else f"{w} {rng.choice(HEADS)}" for w in words)
    return NamePool(first_names=firsts, last_names=lasts, devices=devs)
