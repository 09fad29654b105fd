"""Made-up, pronounceable names for the name drill of the training split.

A recogniser that hears the same 260 training names thousands of times learns
them as whole words and, given a name it never heard, writes the nearest one
it knows ("zdenek" -> "xavier"). Requests whose names are drawn fresh from a
pool of thousands of made-up spellings make it learn how spelling sounds
instead, which is what a held-out name needs. Names are built from English
spelling patterns plus endings common in the names of many languages; none is
a word of the lexicon, so no dev or test name is ever spoken in training.

A second pool (`style="world"`) spells names the way other languages write
them: Polish "sz", "cz", "rz", Dutch "ij" and "vander", German "sch" and
"hoff", Greek "opoulos". With English spellings alone the recogniser never
learns that the sound it hears in "szczepanski" can be written that way.
"""

from __future__ import annotations

import random

from corpus.grammar import NamePool
from models import lexicon

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


WORLD_ONSETS = (
    "b c ch cz d dz g h j k kr kw l m n p pr r rz s sz szcz sch schw sl st sv t v vl w wl wr z zb zd zw zl "
    "gw hv sj tj dr br gr fr"
).split()
WORLD_INNER = 3 * "b d k l m n p r s t v w z".split() + "cz sz rz ch ck dz ll nn rr ss tt tz nk sk st rd ld".split()
WORLD_VOWELS = 6 * "a e i o u".split() + "y ae ij oe aa ee oo ie ei au".split()
WORLD_CODAS = 8 * ["_"] + "n r l s k c z ck tz sch ch m".split()
WORLD_PREFIXES = "van vander vande von de del della di da mc mac".split()
WORLD_ENDINGS = (
    "ski ska wicz czyk czak ak ek ik ic icz ova ovic enko escu oglu ides opoulos akis ssen sma stra huis hof "
    "sloot dijk aert eau ier ez ete ini etti ucci aki oto ura ama strom qvist gaard berg mann hoff ner ler "
    "lein ke ko uk yuk"
).split()


def world_word(rng: random.Random) -> str:
    """A made-up name spelled as in one of many European languages ("szczewik", "vandermoot")."""
    word = rng.choice(WORLD_PREFIXES) if rng.random() < 0.12 else ""
    word += rng.choice(WORLD_ONSETS) if rng.random() < 0.85 else ""
    for k in range(rng.choice((1, 2, 2, 3))):
        if k:
            word += rng.choice(WORLD_INNER)
        word += rng.choice(WORLD_VOWELS)
    if rng.random() < 0.5:
        return word + rng.choice(WORLD_ENDINGS)
    coda = rng.choice(WORLD_CODAS)
    return word if coda == "_" else word + coda


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


def drill_pool(seed: int, first: int = 3000, last: int = 3000, devices: int = 1500, style: str = "english") -> NamePool:
    """A pool of made-up names, the same for a seed and style; no word of the lexicon is in it."""
    if style not in ("english", "world"):
        raise ValueError(f"unknown name style {style!r}: english or world")
    rng = random.Random(f"pseudonames:{seed}" if style == "english" else f"pseudonames:{style}:{seed}")
    make, longest = (pseudo_word, 12) if style == "english" else (world_word, 14)
    known = _known_words()
    seen: set[str] = set()

    def draw(n: int) -> tuple[str, ...]:
        out = []
        while len(out) < n:
            w = make(rng)
            if 3 <= len(w) <= longest and w not in known and w not in seen:
                seen.add(w)
                out.append(w)
        return tuple(out)

    firsts, lasts, words = draw(first), draw(last), draw(devices)
    devs = tuple(w if rng.random() < 0.5 else f"{w} {rng.choice(HEADS)}" for w in words)
    return NamePool(first_names=firsts, last_names=lasts, devices=devs)
