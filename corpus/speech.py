"""The recogniser's speech set: broad text in many voices, with held-out phrasings, text and engines.

Every row is a recipe (text, voice, prosody, speed, acoustic condition, seed)
that `render` turns into the same audio on any machine. Dev and test rows are
rendered to files here; train rows are rendered when their features are
computed (`training.features`), so the train split costs no disk, and only the
Piper voice, which is slow to synthesise, is rendered ahead into compressed
files (`clean_audio`).

What is held out (nothing of it is heard in training):
- **phrasing**: request templates (`corpus.phrasings`), and the names, cities, items, words,
  titles and message bodies of the word lists, each divided by a hash;
- **ood**: general English sentences (WordNet's examples, fortunes) divided the same way;
- **engine**: flite's voices speak only the test split's `engine` slice; espeak-ng voices are
  divided between train, dev and test; the Piper voice, MBROLA's speakers, SVOX Pico and RHVoice
  are train only (the `voices` and `rhvoice` rows, planned after the others so that a cache of the
  rest stays valid);
- **in_template**: the old request grammar (`corpus.grammar`) with held-out names and voices,
  the figure earlier models were measured on, kept as a secondary row.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import multiprocessing
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr
from tqdm import tqdm

from audio import SAMPLE_RATE
from corpus import augment, grammar, phrasings, wordlists
from corpus.augment import Condition
from corpus.grammar import NamePool, number_words
from corpus.tts import (
    ESPEAK_ACCENTS,
    FLITE_VOICES,
    Prosody,
    Voice,
    espeak_variants,
    mbrola_voices,
    pico_voices,
    require,
    rhvoice_voices,
    synthesize,
)
from models import lexicon

log = logging.getLogger(__name__)

SHARES = {"train": 0.8, "dev": 0.1, "test": 0.1}
OPUS_LEVEL = 0.97
"""libsndfile's Opus compression level for the pre-rendered Piper speech: about 17 kbit/s, wideband
speech as a phone call carries it (5,000 utterances in about 30 MB)."""
VOICE_SHARES = {"train": 0.7, "dev": 0.1, "test": 0.2}


@dataclass(frozen=True)
class Size:
    train: dict[str, int]
    dev: dict[str, int]
    test: dict[str, int]
    piper: int
    """Train rows spoken by the Piper voice (rendered ahead)."""
    voices: int = 0
    """More train rows, spoken by MBROLA's speakers and SVOX Pico, with the train slices' texts."""
    rhvoice: int = 0
    """More train rows, spoken by RHVoice's speakers (planned after the `voices` rows)."""


SIZES = {
    "tiny": Size(
        train={"request": 40, "in_template": 10, "sentence": 30, "words": 10, "names": 10},
        dev={"phrasing": 8, "ood": 6, "in_template": 4},
        test={"phrasing": 8, "ood": 6, "engine": 6, "in_template": 4},
        piper=4,
        voices=10,
        rhvoice=4,
    ),
    "default": Size(
        train={"request": 17000, "in_template": 3000, "sentence": 14000, "words": 4000, "names": 2000},
        dev={"phrasing": 400, "ood": 200, "in_template": 100},
        test={"phrasing": 600, "ood": 400, "engine": 400, "in_template": 300},
        piper=5000,
        voices=12000,
        rhvoice=5000,
    ),
}
PICO_SHARE = 0.4
"""Of the `voices` rows, the share Pico speaks (two voices); MBROLA's fifteen speakers speak the rest."""


def _u(*parts: Any) -> float:
    return int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:8], "big") / 2**64


def split_of(kind: str, value: str, seed: int, shares: dict[str, float] = SHARES) -> str:
    u, edge = _u(seed, kind, value), 0.0
    for split, share in shares.items():
        edge += share
        if u < edge:
            return split
    return "test"


def _divide(kind: str, items: tuple[str, ...] | list[str], seed: int) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {s: [] for s in SHARES}
    for item in items:
        out[split_of(kind, item, seed)].append(item)
    return {s: tuple(v) for s, v in out.items()}


@dataclass(frozen=True)
class Lists:
    """One split's word lists."""

    first: tuple[str, ...]
    last: tuple[str, ...]
    devices: tuple[str, ...]
    cities: tuple[str, ...]
    countries: tuple[str, ...]
    items: tuple[str, ...]
    topics: tuple[str, ...]
    words: tuple[str, ...]
    sentences: tuple[str, ...]
    questions: tuple[str, ...]

    def as_names(self) -> dict[str, list[str]]:
        """What `corpus.contexts` draws distractors from (the splits.json of a corpus)."""
        return {"first_names": list(self.first), "last_names": list(self.last), "devices": list(self.devices)}


def word_lists(seed: int) -> dict[str, Lists]:
    common = set(wordlists.words(30_000))
    first, last = wordlists.people()
    things = {
        w for k in ("noun.food", "noun.artifact", "noun.animal", "noun.plant") for w in wordlists.wordnet_lemmas(k)
    }
    topics = sorted(w for w in things if all(p in common for p in w.split()))
    food = sorted(w for w in wordlists.wordnet_lemmas("noun.food") if all(p in common for p in w.split()))
    sentences = wordlists.general_sentences()
    parts = {
        "first": _divide("first", first, seed),
        "last": _divide("last", last, seed),
        "devices": _divide("device", lexicon.DEVICES, seed),
        "cities": _divide("city", wordlists.cities(), seed),
        "countries": _divide("country", wordlists.countries(), seed),
        "items": _divide("item", sorted(set(food) | set(lexicon.ITEMS)), seed),
        "topics": _divide("topic", topics, seed),
        "words": _divide("word", wordlists.words(20_000), seed),
        "sentences": _divide("sentence", sentences, seed),
        "questions": _divide("question", [q.strip() for q in lexicon.QUESTIONS], seed),
    }
    return {s: Lists(**{k: v[s] for k, v in parts.items()}) for s in SHARES}


DAYS = (
    "today|tonight|tomorrow|this weekend|this afternoon|this evening|next week|tomorrow morning|on monday|"
    "on tuesday|on wednesday|on thursday|on friday|on saturday|on sunday|later|in the morning"
).split("|")
GENRES = lexicon.GENRES + (
    "soul|funk|metal|punk|folk|techno|house music|disco|gospel|opera|salsa|bluegrass|ambient music|"
    "indie rock|k pop|movie soundtracks|christmas songs|workout music|study music|white noise"
).split("|")
TASK_VERBS = (
    "buy|pick up|return|fix|clean|wash|check|book|pay for|order|pack|charge|water|feed|cook|bake|"
    "sell|print|sign|mail|find|bring|fold|repair|paint|measure"
).split("|")


def _slots(lists: Lists) -> dict[str, Callable[[random.Random], str]]:
    """Slot name -> a function that draws a value from this split's lists."""
    pick = _pick

    def contact(r: random.Random) -> str:
        return pick(r, lists.first) + (f" {pick(r, lists.last)}" if r.random() < 0.6 else "")

    def duration(r: random.Random) -> str:
        n = r.choice([1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 15, 20, 25, 30, 40, 45, 50, 60, 90, 120])
        unit = r.choice(["minute", "second", "hour"])
        return f"{number_words(n)} {unit}{'s' if n > 1 else ''}" if r.random() < 0.9 else f"half an {unit}"

    def clock(r: random.Random) -> str:
        hour, minute = r.randrange(1, 13), r.choice([0, 0, 5, 10, 15, 20, 30, 40, 45, 50])
        when = number_words(hour) + ("" if minute == 0 else " " + ("oh " if minute < 10 else "") + number_words(minute))
        return when + " " + r.choice(["am", "pm", "in the morning", "tonight", "o'clock", "in the evening", ""])

    def body(r: random.Random) -> str:
        short = [s for s in (pick(r, lists.sentences) for _ in range(6)) if len(s.split()) <= 10]
        return short[0] if short else pick(r, lists.sentences)

    def song(r: random.Random) -> str:
        return " ".join(pick(r, lists.words) for _ in range(r.randint(1, 4)))

    def artist(r: random.Random) -> str:
        if r.random() < 0.5:
            return f"{pick(r, lists.first)} {pick(r, lists.last)}"
        return "the " + " ".join(pick(r, lists.words) for _ in range(r.randint(1, 2)))

    def task(r: random.Random) -> str:
        form = r.randrange(3)
        if form == 0:
            return f"{r.choice(TASK_VERBS)} the {pick(r, lists.topics)}"
        if form == 1:
            return f"{r.choice(['call', 'email', 'text', 'visit', 'thank'])} {contact(r)}"
        return f"{r.choice(TASK_VERBS)} {r.choice(['some', 'the', 'my', 'our'])} {pick(r, lists.items)}"

    def target(r: random.Random) -> str:
        return (r.choice(lexicon.ROOMS) + " " if r.random() < 0.4 else "") + pick(r, lists.devices)

    return {
        "contact": contact,
        "first": lambda r: pick(r, lists.first),
        "last": lambda r: pick(r, lists.last),
        "target": target,
        "device": lambda r: pick(r, lists.devices),
        "room": lambda r: r.choice(lexicon.ROOMS),
        "level": lambda r: number_words(r.choice(range(5, 101, 5))),
        "degrees": lambda r: number_words(r.randrange(14, 31)),
        "small": lambda r: number_words(r.randrange(1, 6)),
        "song": song,
        "artist": artist,
        "genre": lambda r: r.choice(GENRES),
        "station": lambda r: f"{pick(r, lists.words)} {r.choice(['radio', 'fm', 'hits', 'one'])}",
        "duration": duration,
        "time": clock,
        "day": lambda r: r.choice(DAYS),
        "body": body,
        "task": task,
        "item": lambda r: pick(r, lists.items),
        "item2": lambda r: pick(r, lists.items),
        "question": lambda r: pick(r, lists.questions) if lists.questions else pick(r, lists.sentences),
        "topic": lambda r: pick(r, lists.topics),
        "word": lambda r: pick(r, lists.words),
        "city": lambda r: pick(r, lists.cities),
        "country": lambda r: pick(r, lists.countries),
    }


INTENT_WEIGHTS = {
    "call": 3.0, "send_message": 2.0, "device_power": 2.5, "device_level": 1.0, "set_temperature": 0.6,
    "play_music": 1.8, "music_control": 0.6, "set_timer": 1.0, "set_alarm": 0.8, "set_reminder": 1.4,
    "timer_control": 0.4, "weather": 1.5, "shopping_list": 1.2, "question": 1.5, "follow_up": 0.8,
}  # fmt: skip


def _pick(r: random.Random, items: tuple[str, ...]) -> str:
    return items[r.randrange(len(items))]


def phrased_request(rng: random.Random, split: str, lists: Lists, seed: int) -> dict[str, Any]:
    """A request in one of `split`'s templates, with `split`'s word lists."""
    slots = _slots(lists)
    intents = list(INTENT_WEIGHTS)
    intent = rng.choices(intents, [INTENT_WEIGHTS[i] for i in intents])[0]
    own = [t for t, s in phrasings.template_split(intent, seed).items() if s == split]
    filled = phrasings.fill(rng.choice(own), intent, slots, rng)
    while split != "train" and filled.skeleton in phrasings.train_skeletons(intent, seed):
        filled = phrasings.fill(rng.choice(own), intent, slots, rng)  # the same words as a train phrasing
    out_slots = dict(filled.slots)
    if "target" in out_slots:  # the context holds the device, not "kitchen lamp"
        out_slots["device"] = next((d for d in lists.devices if out_slots["target"].endswith(d)), out_slots["target"])
        del out_slots["target"]
    if intent == "follow_up" and "last" in out_slots:
        out_slots["choice"] = out_slots.pop("last")
    names = [w for k, v in out_slots.items() if k in ("contact", "device", "choice", "first") for w in v.split()]
    return {
        "text": filled.text,
        "intent": intent,
        "slots": out_slots,
        "names": names,
        "template": filled.template,
        "skeleton": filled.skeleton,
    }


def _text_row(kind: str, rng: random.Random, split: str, lists: Lists, seed: int) -> dict[str, Any]:
    if kind in ("request", "phrasing"):
        return phrased_request(rng, split, lists, seed)
    if kind == "in_template":
        pool = NamePool(lists.first, lists.last, lists.devices)
        req = grammar.request(rng, pool)
        return {"text": req.text, "intent": req.intent, "slots": req.slots, "names": req.names}
    if kind in ("sentence", "ood"):
        return {"text": _pick(rng, lists.sentences), "intent": "none", "slots": {}, "names": []}
    if kind == "words":  # a listening drill: common words in no order a language model could guess
        return {"text": " ".join(_pick(rng, lists.words) for _ in range(rng.randint(2, 9))), "intent": "none",
                "slots": {}, "names": []}  # fmt: skip
    if kind == "names":  # names said in lists and short requests
        who = [f"{_pick(rng, lists.first)} {_pick(rng, lists.last)}" for _ in range(rng.randint(1, 3))]
        text = rng.choice(["", "call ", "text ", "invite ", "it was "]) + " and ".join(who)
        return {"text": text, "intent": "none", "slots": {"contact": who[0]}, "names": who[0].split()}
    if kind == "engine":
        return phrased_request(rng, split, lists, seed)
    raise ValueError(f"unknown row kind {kind!r}")


def voices(seed: int) -> dict[str, list[Voice]]:
    """espeak-ng voices (accent x variant) divided by hash; flite's voices test only, for the engine slice."""
    out: dict[str, list[Voice]] = {s: [] for s in SHARES}
    for accent in ESPEAK_ACCENTS:
        for variant in ["", *espeak_variants()]:
            v = Voice("espeak", accent, variant)
            out[split_of("voice", v.id, seed, VOICE_SHARES)].append(v)
    return out


def _prosody(rng: random.Random, engine: str) -> Prosody:
    if engine == "piper":
        return Prosody(
            length_scale=rng.uniform(0.8, 1.3), noise_scale=rng.uniform(0.4, 0.9), noise_w_scale=rng.uniform(0.5, 1.0)
        )
    return Prosody(rate_wpm=rng.randint(120, 210), pitch=rng.randint(20, 80))


def plan(seed: int = 0, size: str = "default") -> dict[str, list[dict[str, Any]]]:
    """Every row of every split, as recipes (no audio yet)."""
    sz, lists, vs = SIZES[size], word_lists(seed), voices(seed)
    out: dict[str, list[dict[str, Any]]] = {}
    for split in SHARES:
        rows = []
        counts: dict[str, int] = getattr(sz, split)
        for kind, n in counts.items():
            for i in range(n):
                rid = f"{split}-{kind}-{i:06d}"
                rng = random.Random(f"{seed}:{rid}")
                row = {"id": rid, "split": split, "slice": kind, **_text_row(kind, rng, split, lists[split], seed)}
                if kind == "engine":
                    voice = Voice("flite", "", rng.choice(FLITE_VOICES))
                elif split == "train" and i < sz.piper * n // sum(counts.values()):
                    voice = Voice("piper", "en-us", "joe")
                else:
                    voice = rng.choice(vs[split])
                prosody = _prosody(rng, voice.engine)
                nrng = np.random.default_rng(int(_u(seed, rid, "condition") * 2**32))
                condition = augment.random_condition(nrng, clean_share=0.3 if split == "train" else 0.4)
                row |= {
                    "voice": voice.id,
                    "engine": voice.engine,
                    "accent": voice.accent,
                    "variant": voice.variant,
                    "prosody": prosody.__dict__,
                    "speed": round(rng.uniform(0.9, 1.1), 3) if split == "train" else 1.0,
                    "condition": condition.as_dict(),
                    "wake_word": False,
                    "audio": None,
                }
                rows.append(row)
        out[split] = rows
    out["train"] += _voices_rows(seed, sz, lists["train"])
    return out


def _voices_rows(seed: int, sz: Size, lists: Lists) -> list[dict[str, Any]]:
    """The train rows of the engines beyond espeak-ng and Piper, in the proportions of the train slices."""
    rows = []
    if sz.voices:
        mbrola, pico = require(mbrola_voices(), "MBROLA (mbrola-*)"), require(pico_voices(), "SVOX Pico (pico2wave)")
        rows += _engine_rows(
            seed, sz, lists, "voices", sz.voices, lambda rng: rng.choice(pico if rng.random() < PICO_SHARE else mbrola)
        )
    if sz.rhvoice:
        rhvoice = require(rhvoice_voices(), "RHVoice (rhvoice-english)")
        rows += _engine_rows(seed, sz, lists, "rhvoice", sz.rhvoice, lambda rng: rng.choice(rhvoice))
    return rows


def _engine_rows(
    seed: int, sz: Size, lists: Lists, name: str, count: int, pick: Callable[[random.Random], Voice]
) -> list[dict[str, Any]]:
    """`count` train rows `train-<name>-<i>`, each in the voice `pick` draws with the row's generator."""
    kinds, weights = zip(*sz.train.items(), strict=True)
    rows = []
    for i in range(count):
        rid = f"train-{name}-{i:06d}"
        rng = random.Random(f"{seed}:{rid}")
        kind = rng.choices(kinds, weights)[0]
        row = {"id": rid, "split": "train", "slice": kind, **_text_row(kind, rng, "train", lists, seed)}
        voice = pick(rng)
        nrng = np.random.default_rng(int(_u(seed, rid, "condition") * 2**32))
        row |= {
            "voice": voice.id,
            "engine": voice.engine,
            "accent": voice.accent,
            "variant": voice.variant,
            "prosody": _prosody(rng, voice.engine).__dict__,
            "speed": round(rng.uniform(0.9, 1.1), 3),
            "condition": augment.random_condition(nrng, clean_share=0.3).as_dict(),
            "wake_word": False,
            "audio": None,
        }
        rows.append(row)
    return rows


def _condition(d: dict[str, Any]) -> Condition:
    keys = {f.name for f in fields(Condition)} - {"extra"}
    return Condition(**{k: d[k] for k in keys if k in d})


def clean_speech(row: dict[str, Any], root: Path | None = None) -> np.ndarray:
    """The row's speech before any condition: its pre-rendered file, or the synthesiser's output."""
    if row.get("clean_audio") and root is not None:
        x, rate = sf.read(root / row["clean_audio"], dtype="float32")
        return x if rate == SAMPLE_RATE else soxr.resample(x, rate, SAMPLE_RATE).astype(np.float32)
    voice = Voice(row["engine"], row["accent"], row["variant"])
    return synthesize(row["text"], voice, Prosody(**row["prosody"]))


@functools.cache
def babble_talkers() -> tuple[np.ndarray, ...]:
    """The talkers of babble noise: a few sentences in fixed espeak-ng voices, the same in every process."""
    voices = [Voice("espeak", a, v) for a, v in (("en-us", "f2"), ("en-gb", "m3"), ("en-029", ""), ("en-us", "m7"))]
    return tuple(synthesize(t, v, Prosody()) for t, v in zip(lexicon.GENERAL_SPEECH[:4], voices, strict=True))


def render(row: dict[str, Any], root: Path | None = None) -> tuple[np.ndarray, tuple[int, int]]:
    """The row's audio at 16 kHz and where its speech is (samples): speed, silence around, condition."""
    x = clean_speech(row, root)
    if row.get("speed", 1.0) != 1.0:  # speed perturbation: tempo and pitch together, as in Kaldi's recipes
        x = soxr.resample(x, SAMPLE_RATE * row["speed"], SAMPLE_RATE).astype(np.float32)
    rng = np.random.default_rng(int(_u(row["id"], "render") * 2**32))
    before, after = int(rng.uniform(0.15, 0.5) * SAMPLE_RATE), int(rng.uniform(0.3, 0.7) * SAMPLE_RATE)
    padded = np.concatenate([np.zeros(before, np.float32), x, np.zeros(after, np.float32)])
    speech = (before, before + len(x))
    audio = augment.apply(padded, _condition(row["condition"]), rng, slice(*speech), list(babble_talkers()))
    return audio, speech


def _render_piper(args: tuple[dict[str, Any], str]) -> dict[str, Any]:
    row, out = args
    path = Path(out) / "train_piper" / f"{row['id']}.ogg"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        x = clean_speech(row)
        tmp = path.with_suffix(".tmp.ogg")
        sf.write(tmp, x, SAMPLE_RATE, format="OGG", subtype="OPUS", compression_level=OPUS_LEVEL)
        tmp.replace(path)
    return row | {"clean_audio": str(path.relative_to(out))}


def _kept(manifest: Path, planned: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The planned rows, each replaced by the manifest's row of the same id where there is one."""
    if not manifest.exists():
        return planned
    old = {r["id"]: r for r in map(json.loads, manifest.read_text().splitlines())}
    return [old.get(r["id"], r) for r in planned]


def _render_eval(args: tuple[dict[str, Any], str]) -> dict[str, Any]:
    row, out = args
    if row.get("audio") and (Path(out) / row["audio"]).exists():
        return row
    path = Path(out) / row["split"] / f"{row['id']}.flac"
    audio, speech = render(row)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, audio, SAMPLE_RATE, subtype="PCM_16")
    s = 1 / SAMPLE_RATE
    return row | {
        "audio": str(path.relative_to(out)),
        "duration_s": round(len(audio) * s, 3),
        "speech_start": round(speech[0] * s, 3),
        "speech_end": round(speech[1] * s, 3),
    }


class _InProcess:
    @staticmethod
    def imap(func: Callable, items: Iterable, chunksize: int = 1) -> Iterator:
        return map(func, items)


@contextlib.contextmanager
def workers(jobs: int) -> Iterator[Any]:
    """A fork pool of `jobs` processes, or this process when `jobs` <= 1: no fork, so no child inherits a
    lock another thread (Ray's, a logger's) held at that moment."""
    if jobs <= 1:
        yield _InProcess()
        return
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        yield pool


def build(
    out_dir: str | Path,
    size: str = "default",
    seed: int = 0,
    jobs: int = 2,
    progress: bool = True,
    splits: Iterable[str] = tuple(SHARES),
) -> dict:
    """Plan every split, render the Piper train rows and all dev and test rows of `splits`, write their manifests.

    Resumable: files already rendered are kept, and so is every row already in a manifest (its
    audio or cached features were made from it); new rows are added. Delete a manifest to plan it anew.
    `splits` ("dev", "test"): the evaluation rows alone, in a minute, for the benchmarks; train (its Piper
    speech most of the build's time) can follow later, the other manifests left as they are."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    wanted = [split for split in SHARES if split in set(splits)]
    planned = plan(seed, size)
    rows = {split: _kept(out / f"{split}.jsonl", planned[split]) for split in wanted}
    with workers(jobs) as pool:
        if "train" in rows:
            piper = [r for r in rows["train"] if r["engine"] == "piper"]
            done = {
                r["id"]: r
                for r in tqdm(pool.imap(_render_piper, [(r, str(out)) for r in piper], chunksize=4),
                              total=len(piper), desc="piper train", disable=not progress)
            }  # fmt: skip
            rows["train"] = [done.get(r["id"], r) for r in rows["train"]]
        for split in ("dev", "test"):
            if split in rows:
                rows[split] = list(
                    tqdm(pool.imap(_render_eval, [(r, str(out)) for r in rows[split]], chunksize=4),
                         total=len(rows[split]), desc=split, disable=not progress)
                )  # fmt: skip
    lists = word_lists(seed)
    for split, split_rows in rows.items():
        (out / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in split_rows))
    (out / "splits.json").write_text(json.dumps({s: lists[s].as_names() for s in SHARES}))
    for split in SHARES:  # the summary describes every manifest there is, built now or before
        if split not in rows and (out / f"{split}.jsonl").exists():
            rows[split] = [json.loads(line) for line in (out / f"{split}.jsonl").read_text().splitlines()]
    summary = summarise({split: rows[split] for split in SHARES if split in rows}, seed, size)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def summarise(rows: dict[str, list[dict]], seed: int, size: str) -> dict[str, Any]:
    out: dict[str, Any] = {"seed": seed, "size": size}
    for split, split_rows in rows.items():
        out[split] = {
            "rows": len(split_rows),
            "distinct_texts": len({r["text"] for r in split_rows}),
            "slices": dict(Counter(r["slice"] for r in split_rows)),
            "engines": dict(Counter(r["engine"] for r in split_rows)),
            "voices": len({r["voice"] for r in split_rows}),
            "words": sum(len(r["text"].split()) for r in split_rows),
        }  # fmt: skip
    return out
