"""The wake word's set: "alexa" in the speech set's voices, look-alikes, and speech without it.

Rows are recipes as in `corpus.speech` (text, voice, prosody, speed, condition),
with the same voices, word lists and template split, so the wake word is trained
and tested on the same held-out voices, engines and phrasings as the recogniser:
- **positive**: "alexa", a pause of 0-0.6 s (often none), then a request;
- **lookalike**: a word that sounds like the wake word ("a lexus", "alexis", "election"), alone or in
  a sentence: the hardest negatives;
- **no_wake**: a request or a sentence without the wake word.

Every row is rendered to a file at build time, because the wake word's span is
known only once it has been synthesised (train as Opus, dev and test as FLAC).
The `engine` slices hold out whole engines: flite's `awb` and `rms` in test,
RHVoice's four speakers in dev (heard by no other split: dev's engine slice
is how a model is chosen for voices it never heard, test's reports it). The
espeak-ng voices of each split are the speech set's; MBROLA's speakers and SVOX
Pico speak more train rows (`voices`), as in the speech set, and more train
positives and look-alikes (`speakers`) each take a train voice of any of them,
so the gate hears many more speakers say the word and the words like it.
The speech set's rows are speech without the wake word in the same voices:
training hears its 29 train hours as negative streams (`training.wakeword`),
and `bench wakeword` adds its dev or test split to the negatives, which makes
more than two test hours, so false accepts per hour have a useful resolution.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr
from tqdm import tqdm

from audio import SAMPLE_RATE
from corpus import augment, grammar
from corpus.speech import (
    OPUS_LEVEL,
    Size,
    _condition,
    _kept,
    _prosody,
    _text_row,
    _u,
    babble_talkers,
    voices,
    word_lists,
    workers,
)
from corpus.tts import (
    FLITE_VOICES,
    Prosody,
    Voice,
    mbrola_voices,
    pico_voices,
    require,
    rhvoice_voices,
    synthesize,
)
from models import lexicon


@dataclass(frozen=True)
class WakeSize(Size):
    speakers: int = 0
    """More train rows, positives and look-alikes only (`SPEAKER_KINDS`), each in a train voice of espeak-ng,
    MBROLA or Pico drawn anew (planned last, so the rows before keep their ids and audio)."""


SIZES = {  # rows per split and kind; `engine` rows are positives in the split's held-out engine
    "tiny": WakeSize(
        train={"positive": 24, "lookalike": 8, "no_wake": 8},
        dev={"positive": 6, "lookalike": 3, "no_wake": 3, "engine": 4},
        test={"positive": 6, "engine": 4, "lookalike": 3, "no_wake": 3},
        piper=4,
        voices=6,
        speakers=6,
    ),
    "default": WakeSize(
        train={"positive": 2500, "lookalike": 1000, "no_wake": 500},
        dev={"positive": 300, "lookalike": 150, "no_wake": 150, "engine": 200},
        test={"positive": 400, "engine": 300, "lookalike": 400, "no_wake": 700},
        piper=400,
        voices=1500,
        speakers=6000,
    ),
}
HELD_OUT_ENGINE = {"dev": "rhvoice", "test": "flite"}
"""The engine that speaks each split's `engine` slice and nothing else in the set."""
PICO_SHARE = 0.4
"""Of the `voices` rows, the share Pico speaks; MBROLA's speakers speak the rest."""
SPEAKER_KINDS = {"positive": 3, "lookalike": 1}
"""The kinds of the `speakers` rows, by weight: the word a gate must hear and the words it must not take for it."""
SPEAKER_OTHER_ENGINES = 0.25
"""Of the `speakers` rows, the share MBROLA and Pico speak (`_mbrola_or_pico`); the train split's espeak-ng
voices speak the rest."""
REQUEST_KIND = {"train": "request", "dev": "phrasing", "test": "phrasing"}
"""The speech set's kind of request text for each split: test requests are held-out phrasings."""


def _text(kind: str, rng: random.Random, split: str, lists: Any, seed: int) -> dict[str, Any]:
    """The row's words and where they come from (`text_kind`: the speech set's kind of text, or lookalike)."""
    if kind in ("positive", "engine") or (kind == "no_wake" and rng.random() < 0.5):
        text_kind = REQUEST_KIND[split] if rng.random() < 0.8 else "in_template"
        row = _text_row(text_kind, rng, split, lists, seed)
    elif kind == "lookalike":
        req = grammar.lookalike(rng)
        text_kind, row = "lookalike", {"text": req.text, "intent": "none", "slots": {}, "names": []}
    else:
        text_kind = "ood" if split != "train" else "sentence"
        row = _text_row(text_kind, rng, split, lists, seed)
    return {"text_kind": text_kind, **{k: row[k] for k in ("text", "intent", "slots", "names")}}


def plan(seed: int = 0, size: str = "default") -> dict[str, list[dict[str, Any]]]:
    """Every row of every split, as recipes (no audio yet)."""
    sz, lists, vs = SIZES[size], word_lists(seed), voices(seed)
    held_out = {"flite": [Voice("flite", "", v) for v in FLITE_VOICES]}
    if "engine" in sz.dev:
        held_out["rhvoice"] = require(rhvoice_voices(), "RHVoice (rhvoice-english)")
    out: dict[str, list[dict[str, Any]]] = {}
    for split in ("train", "dev", "test"):
        rows = []
        counts: dict[str, int] = getattr(sz, split)
        for kind, n in counts.items():
            for i in range(n):
                rid = f"wake-{split}-{kind}-{i:06d}"
                rng = random.Random(f"{seed}:{rid}")
                if kind == "engine":
                    voice = rng.choice(held_out[HELD_OUT_ENGINE[split]])
                elif split == "train" and i < sz.piper * n // sum(counts.values()):
                    voice = Voice("piper", "en-us", "joe")
                else:
                    voice = rng.choice(vs[split])
                rows.append(_row(rid, split, kind, voice, rng, lists[split], seed))
        out[split] = rows
    out["train"] += _voices_rows(seed, sz, lists["train"])
    out["train"] += _speaker_rows(seed, sz, lists["train"], vs["train"])
    return out


def _voices_rows(seed: int, sz: Size, lists: Any) -> list[dict[str, Any]]:
    """Train rows in MBROLA's speakers and SVOX Pico, in the proportions of the train kinds."""
    if not sz.voices:
        return []
    return _engine_rows(seed, sz, lists, "voices", sz.voices, _mbrola_or_pico())


def _mbrola_or_pico() -> Callable[[random.Random], Voice]:
    """Draws one of MBROLA's speakers or, `PICO_SHARE` of the time, one of Pico's voices."""
    mbrola, pico = require(mbrola_voices(), "MBROLA (mbrola-*)"), require(pico_voices(), "SVOX Pico (pico2wave)")
    return lambda rng: rng.choice(pico if rng.random() < PICO_SHARE else mbrola)


def _speaker_rows(seed: int, sz: WakeSize, lists: Any, espeak: list[Voice]) -> list[dict[str, Any]]:
    """Train positives and look-alikes in many speakers: a train espeak-ng voice, or MBROLA's or Pico's."""
    if not sz.speakers:
        return []
    other = _mbrola_or_pico()

    def pick(rng: random.Random) -> Voice:
        return rng.choice(espeak) if rng.random() >= SPEAKER_OTHER_ENGINES else other(rng)

    return _engine_rows(seed, sz, lists, "speakers", sz.speakers, pick, SPEAKER_KINDS)


def _engine_rows(
    seed: int,
    sz: Size,
    lists: Any,
    name: str,
    count: int,
    pick: Callable[[random.Random], Voice],
    kinds: dict[str, int] | None = None,
) -> list[dict[str, Any]]:
    """`count` train rows `wake-train-<name>-<i>`, each in the voice `pick` draws with the row's generator, of
    a kind drawn by the weights of `kinds` (default: the train split's counts)."""
    names, weights = zip(*(kinds or sz.train).items(), strict=True)
    rows = []
    for i in range(count):
        rid = f"wake-train-{name}-{i:06d}"
        rng = random.Random(f"{seed}:{rid}")
        kind = rng.choices(names, weights)[0]
        rows.append(_row(rid, "train", kind, pick(rng), rng, lists, seed))
    return rows


def _row(rid: str, split: str, kind: str, voice: Voice, rng: random.Random, lists: Any, seed: int) -> dict[str, Any]:
    wake = kind in ("positive", "engine")
    nrng = np.random.default_rng(int(_u(seed, rid, "condition") * 2**32))
    return {
        "id": rid,
        "split": split,
        "slice": kind,
        **_text(kind, rng, split, lists, seed),
        "wake_word": wake,
        "gap_s": (0.0 if rng.random() < 0.3 else round(rng.uniform(0.1, 0.6), 3)) if wake else 0.0,
        "voice": voice.id,
        "engine": voice.engine,
        "accent": voice.accent,
        "variant": voice.variant,
        "prosody": _prosody(rng, voice.engine).__dict__,
        "speed": round(rng.uniform(0.9, 1.1), 3) if split == "train" else 1.0,
        "condition": augment.random_condition(nrng, clean_share=0.3).as_dict(),
    }


def render(row: dict[str, Any]) -> tuple[np.ndarray, dict[str, float | None]]:
    """The row's audio at 16 kHz and its spans in seconds (wake word, speech)."""
    voice, prosody = Voice(row["engine"], row["accent"], row["variant"]), Prosody(**row["prosody"])
    wake = synthesize(lexicon.WAKE_WORD, voice, prosody) if row["wake_word"] else np.zeros(0, np.float32)
    gap = np.zeros(int(row["gap_s"] * SAMPLE_RATE), np.float32)
    body = synthesize(row["text"], voice, prosody) if row["text"] else np.zeros(0, np.float32)
    x = np.concatenate([wake, gap, body]).astype(np.float32)
    scale = 1.0
    if row["speed"] != 1.0:  # tempo and pitch together, as in Kaldi's recipes
        x = soxr.resample(x, SAMPLE_RATE * row["speed"], SAMPLE_RATE).astype(np.float32)
        scale = 1.0 / row["speed"]
    rng = np.random.default_rng(int(_u(row["id"], "render") * 2**32))
    before, after = int(rng.uniform(0.2, 1.0) * SAMPLE_RATE), int(rng.uniform(0.5, 1.2) * SAMPLE_RATE)
    padded = np.concatenate([np.zeros(before, np.float32), x, np.zeros(after, np.float32)])
    audio = augment.apply(
        padded, _condition(row["condition"]), rng, slice(before, before + len(x)), list(babble_talkers())
    )
    s = 1 / SAMPLE_RATE
    wake_end = before + len(wake) * scale
    return audio, {
        "wake_start": round(before * s, 4) if row["wake_word"] else None,
        "wake_end": round(wake_end * s, 4) if row["wake_word"] else None,
        "speech_start": round(before * s, 4),
        "speech_end": round((before + len(x)) * s, 4),
        "duration_s": round(len(audio) * s, 4),
    }


def _render_row(args: tuple[dict[str, Any], str]) -> dict[str, Any]:
    row, out = args
    train = row["split"] == "train"
    path = Path(out) / row["split"] / f"{row['id']}.{'ogg' if train else 'flac'}"
    meta_path = path.with_suffix(".json")
    if path.exists() and meta_path.exists():
        return row | json.loads(meta_path.read_text())
    audio, spans = render(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp" + path.suffix)
    if train:
        sf.write(tmp, audio, SAMPLE_RATE, format="OGG", subtype="OPUS", compression_level=OPUS_LEVEL)
    else:
        sf.write(tmp, audio, SAMPLE_RATE, subtype="PCM_16")
    tmp.replace(path)
    meta = {"audio": str(path.relative_to(out)), **spans}
    meta_path.write_text(json.dumps(meta))
    return row | meta


def build(out_dir: str | Path, size: str = "default", seed: int = 0, jobs: int = 2, progress: bool = True) -> dict:
    """Plan and render every split and write the manifests. Resumable: rendered rows are kept, and so is
    every row already in a manifest; new rows are added."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = {split: _kept(out / f"{split}.jsonl", planned) for split, planned in plan(seed, size).items()}
    with workers(jobs) as pool:
        for split, split_rows in rows.items():
            done = list(
                tqdm(pool.imap(_render_row, [(r, str(out)) for r in split_rows], chunksize=8),
                     total=len(split_rows), desc=f"wake {split}", disable=not progress)
            )  # fmt: skip
            (out / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in done))
            rows[split] = done
    lists = word_lists(seed)
    (out / "splits.json").write_text(json.dumps({s: lists[s].as_names() for s in rows}))
    summary = summarise(rows, seed, size)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def summarise(rows: dict[str, list[dict]], seed: int, size: str) -> dict[str, Any]:
    out: dict[str, Any] = {"seed": seed, "size": size}
    for split, split_rows in rows.items():
        negatives = [r for r in split_rows if not r["wake_word"]]
        out[split] = {
            "rows": len(split_rows),
            "slices": dict(Counter(r["slice"] for r in split_rows)),
            "engines": dict(Counter(r["engine"] for r in split_rows)),
            "voices": len({r["voice"] for r in split_rows}),
            "negative_hours": round(sum(r.get("duration_s", 0.0) for r in negatives) / 3600, 2),
        }
    return out
