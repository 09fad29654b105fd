"""Builds the corpus: utterances with manifests, and long negative streams.

Everything is a function of (seed, split, index): rebuilding gives the same
audio, and a build that was stopped resumes where it left off (each finished
utterance leaves a small JSON entry beside its audio).
"""

from __future__ import annotations

import itertools
import json
import logging
import multiprocessing
import random
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from tqdm import tqdm

from audio import SAMPLE_RATE
from corpus import augment, grammar
from corpus.grammar import NamePool
from corpus.pseudonames import drill_pool
from corpus.splits import SPLITS, Split, make_splits
from corpus.tts import Prosody, Voice, all_voices, piper_provenance, synthesize
from models import lexicon

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Size:
    utterances: dict[str, int]
    negative_streams: dict[str, int]
    stream_seconds: float
    name_drill: int = 0
    """Extra train requests whose names are made up (see `corpus.pseudonames`)."""
    world_drill: int = 0
    """More of them, with names spelled as other languages write them (ids follow the first drill's)."""


SIZES = {
    "tiny": Size({"train": 6, "dev": 3, "test": 4}, {"train": 0, "dev": 0, "test": 1}, 20.0, 2, 1),
    "small": Size({"train": 300, "dev": 60, "test": 80}, {"train": 1, "dev": 1, "test": 1}, 300.0, 100, 50),
    "default": Size({"train": 20000, "dev": 600, "test": 800}, {"train": 3, "dev": 2, "test": 12}, 600.0, 8000, 8000),
}

POSITIVE_SHARE = 0.6
NO_WAKE_SHARE = 0.18
"""Requests spoken without the wake word (the rest after these two: look-alikes and other speech)."""
PIPER_SHARE = 0.1
"""The one Piper voice speaks this share of train, so the neural voice is not drowned by 500 espeak ones."""


def _seed(*parts: Any) -> int:
    return zlib.crc32(":".join(map(str, parts)).encode())


class _Worker:
    """Per-process state: the splits and a small pool of speech for babble noise."""

    splits: dict[str, Split] = {}
    pool: list[np.ndarray] = []
    drills: dict[str, NamePool] = {}
    seed = 0

    @classmethod
    def init(cls, seed: int) -> None:
        cls.seed = seed
        cls.splits = make_splits(all_voices(), seed)
        cls.drills = {"drill": drill_pool(seed), "world_drill": drill_pool(seed, style="world")}
        rng = random.Random(_seed(seed, "babble"))
        voices = [v for v in cls.splits["train"].voices if v.engine == "espeak"]
        cls.pool = [synthesize(rng.choice(lexicon.GENERAL_SPEECH), rng.choice(voices), Prosody()) for _ in range(6)]


def _voice(rng: random.Random, split: Split) -> Voice:
    piper = [v for v in split.voices if v.engine == "piper"]
    if piper and rng.random() < PIPER_SHARE:
        return piper[0]
    return rng.choice([v for v in split.voices if v.engine == "espeak"])


def _prosody(rng: random.Random) -> Prosody:
    return Prosody(
        rate_wpm=rng.randrange(130, 200),
        pitch=rng.randrange(25, 75),
        length_scale=round(rng.uniform(0.8, 1.25), 2),
        noise_scale=round(rng.uniform(0.4, 0.9), 2),
        noise_w_scale=round(rng.uniform(0.5, 1.0), 2),
    )


def _silence(rng: random.Random, lo: float, hi: float) -> np.ndarray:
    return np.zeros(int(SAMPLE_RATE * rng.uniform(lo, hi)), np.float32)


def _drill_request(rng: random.Random, pool: NamePool) -> grammar.Request:
    """A request with at least one (made-up) name in it."""
    while True:
        req = grammar.request(rng, pool)
        if req.names:
            return req


def render_utterance(split_name: str, index: int, out_dir: Path, drill: NamePool | None = None) -> dict[str, Any]:
    """Synthesise, lay out and augment one utterance; write its audio; return its manifest entry.

    A drill utterance is a request whose names come from a made-up pool, `drill` (train only).
    """
    seed = _seed(_Worker.seed, split_name, "drill", index) if drill else _seed(_Worker.seed, split_name, index)
    rng = random.Random(seed)
    split = _Worker.splits[split_name]
    voice = _voice(rng, split)
    prosody = _prosody(rng)
    roll = rng.random()
    if drill:
        kind = "positive" if roll < POSITIVE_SHARE / (POSITIVE_SHARE + NO_WAKE_SHARE) else "no_wake_word"
        req = _drill_request(rng, drill)
    elif roll < POSITIVE_SHARE:
        kind, req = "positive", grammar.request(rng, split.names)
    elif roll < POSITIVE_SHARE + NO_WAKE_SHARE:
        kind, req = "no_wake_word", grammar.request(rng, split.names)
    elif roll < POSITIVE_SHARE + 0.32:
        kind, req = "lookalike", grammar.lookalike(rng)
    else:
        kind, req = "general", grammar.general_speech(rng)

    pieces: list[np.ndarray] = [_silence(rng, 0.2, 1.0)]
    pos = len(pieces[0])
    truth: dict[str, Any] = {"wake_start": None, "wake_end": None}
    if kind == "positive":
        wake = synthesize(lexicon.WAKE_WORD, voice, prosody)
        truth["wake_start"], truth["wake_end"] = pos, pos + len(wake)
        gap = np.zeros(0, np.float32) if rng.random() < 0.3 else _silence(rng, 0.1, 0.6)
        pieces += [wake, gap]
        pos += len(wake) + len(gap)
    parts = [req.phrases]
    if len(req.phrases) >= 2 and rng.random() < 0.2:
        k = rng.randrange(1, len(req.phrases))
        parts = [req.phrases[:k], req.phrases[k:]]
    segments = []
    for i, phrases in enumerate(parts):
        if i:
            pause = _silence(rng, 0.4, 1.2)
            pieces.append(pause)
            pos += len(pause)
        audio = synthesize(" ".join(phrases), voice, prosody)
        segments.append([pos, pos + len(audio)])
        pieces.append(audio)
        pos += len(audio)
    pieces.append(_silence(rng, 0.8, 1.5))
    clean = np.concatenate(pieces)

    nrng = np.random.default_rng(seed)
    condition = augment.random_condition(nrng)
    speech = slice(segments[0][0], segments[-1][1])
    audio = augment.apply(clean, condition, nrng, speech, _Worker.pool)

    uid = f"{split_name}-drill-{index:06d}" if drill else f"{split_name}-{index:06d}"
    path = out_dir / split_name / f"{uid}.flac"
    sf.write(path, audio, SAMPLE_RATE, subtype="PCM_16")
    s = 1 / SAMPLE_RATE
    return {
        "id": uid,
        "audio": str(path.relative_to(out_dir)),
        "split": split_name,
        "kind": kind,
        "text": req.text,
        "wake_word": kind == "positive",
        "intent": req.intent,
        "slots": req.slots,
        "names": req.names,
        "voice": voice.id,
        "accent": voice.accent,
        "engine": voice.engine,
        "prosody": prosody.__dict__,
        "condition": condition.as_dict(),
        "duration_s": round(len(audio) * s, 4),
        "wake_start": None if truth["wake_start"] is None else round(truth["wake_start"] * s, 4),
        "wake_end": None if truth["wake_end"] is None else round(truth["wake_end"] * s, 4),
        "speech_start": round(segments[0][0] * s, 4),
        "speech_end": round(segments[-1][1] * s, 4),
        "segments": [[round(a * s, 4), round(b * s, 4)] for a, b in segments],
        "pauses": [[round(a[1] * s, 4), round(b[0] * s, 4)] for a, b in itertools.pairwise(segments)],
    }


def render_negative_stream(split_name: str, index: int, seconds: float, out_dir: Path) -> dict[str, Any]:
    """A long recording with no wake word: requests, look-alikes, talk, music and noise."""
    seed = _seed(_Worker.seed, "negative", split_name, index)
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    split = _Worker.splits[split_name]
    target = int(seconds * SAMPLE_RATE)
    pieces: list[np.ndarray] = []
    counts = {"request": 0, "lookalike": 0, "general": 0, "music": 0, "noise": 0}
    total = 0
    while total < target:
        roll = rng.random()
        if roll < 0.12:
            kind = "music" if roll < 0.06 else "noise"
            seg = augment.noise(
                "music" if kind == "music" else str(rng.choice(["white", "pink", "brown"])),
                nrng,
                int(SAMPLE_RATE * rng.uniform(2, 8)),
                [],
            ) * rng.uniform(0.05, 0.4)
        else:
            if roll < 0.5:
                kind, req = "request", grammar.request(rng, split.names)
            elif roll < 0.75:
                kind, req = "lookalike", grammar.lookalike(rng)
            else:
                kind, req = "general", grammar.general_speech(rng)
            clean = np.concatenate([synthesize(req.text, _voice(rng, split), _prosody(rng)), _silence(rng, 0.2, 0.5)])
            cond = augment.random_condition(nrng, clean_share=0.5)
            seg = augment.apply(clean, cond, nrng, slice(0, len(clean)), _Worker.pool)
        counts[kind] += 1
        gap = _silence(rng, 0.3, 2.0)
        pieces += [seg.astype(np.float32), gap]
        total += len(seg) + len(gap)
    audio = np.clip(np.concatenate(pieces)[:target], -1, 1)
    name = f"negative-{split_name}-{index:03d}"
    path = out_dir / "negatives" / f"{name}.flac"
    sf.write(path, audio, SAMPLE_RATE, subtype="PCM_16")
    return {
        "id": name,
        "audio": str(path.relative_to(out_dir)),
        "split": split_name,
        "duration_s": round(len(audio) / SAMPLE_RATE, 3),
        "contents": counts,
    }


def _job(args: tuple) -> dict[str, Any]:
    kind, split, index, out_dir, seconds = args
    name = "drill" if kind == "world_drill" else kind  # one numbering for both drills
    entry_path = out_dir / ("negatives" if kind == "stream" else split) / f"{name}-{split}-{index:06d}.json"
    if entry_path.exists():
        return json.loads(entry_path.read_text())
    if kind == "stream":
        entry = render_negative_stream(split, index, seconds, out_dir)
    else:
        entry = render_utterance(split, index, out_dir, drill=_Worker.drills.get(kind))
    entry_path.write_text(json.dumps(entry))
    return entry


def _jobs(size: Size, out_dir: Path) -> Iterator[tuple]:
    for split in SPLITS:
        for k in range(size.negative_streams[split]):
            yield ("stream", split, k, out_dir, size.stream_seconds)
    for split in SPLITS:
        for i in range(size.utterances[split]):
            yield ("utterance", split, i, out_dir, 0.0)
    for i in range(size.name_drill):
        yield ("drill", "train", i, out_dir, 0.0)
    for i in range(size.name_drill, size.name_drill + size.world_drill):
        yield ("world_drill", "train", i, out_dir, 0.0)


def build(out_dir: str | Path, size: str = "default", seed: int = 0, jobs: int = 2, progress: bool = True) -> dict:
    """Build (or finish building) a corpus in `out_dir`; return its summary."""
    if size not in SIZES:
        raise ValueError(f"unknown corpus size {size!r}: choose from {', '.join(SIZES)}")
    spec = SIZES[size]
    out = Path(out_dir)
    for sub in (*SPLITS, "negatives"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    work = list(_jobs(spec, out))
    results: list[dict] = []
    bar = tqdm(total=len(work), desc=f"corpus {size}", unit="item", disable=not progress)
    if jobs > 1:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(jobs, initializer=_Worker.init, initargs=(seed,)) as pool:
            for entry in pool.imap_unordered(_job, work, chunksize=4):
                results.append(entry)
                bar.update()
    else:
        _Worker.init(seed)
        for item in work:
            results.append(_job(item))
            bar.update()
    bar.close()
    splits = make_splits(all_voices(), seed)
    summary = _write_manifests(out, results, splits, size, seed, time.monotonic() - started)
    return summary


def _write_manifests(
    out: Path, results: list[dict], splits: dict[str, Split], size: str, seed: int, seconds: float
) -> dict:
    utterances = sorted((r for r in results if "kind" in r), key=lambda r: r["id"])
    streams = sorted((r for r in results if "contents" in r), key=lambda r: r["id"])
    summary: dict[str, Any] = {"size": size, "seed": seed, "build_s": round(seconds, 1), "splits": {}}
    for split in SPLITS:
        rows = [r for r in utterances if r["split"] == split]
        with (out / f"{split}.jsonl").open("w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
        neg = [r for r in streams if r["split"] == split]
        summary["splits"][split] = {
            "utterances": len(rows),
            "positives": sum(r["wake_word"] for r in rows),
            "hours": round(sum(r["duration_s"] for r in rows) / 3600, 3),
            "negative_stream_hours": round(sum(r["duration_s"] for r in neg) / 3600, 3),
            "voices": len(splits[split].voices),
            "names": len(splits[split].names.first_names) + len(splits[split].names.last_names),
            "devices": len(splits[split].names.devices),
        }
    with (out / "negatives.jsonl").open("w") as f:
        for r in streams:
            f.write(json.dumps(r) + "\n")
    (out / "splits.json").write_text(json.dumps({k: v.as_dict() for k, v in splits.items()}, indent=1))
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    (out / "DATA_CARD.md").write_text(_data_card(summary))
    return summary


def _data_card(summary: dict) -> str:
    piper = piper_provenance()
    lines = [
        "# Data card: speechgraph synthetic corpus",
        "",
        f"Size `{summary['size']}`, seed {summary['seed']}, built in {summary['build_s']} s.",
        "",
        "| split | utterances | positives | hours | negative-stream hours | voices | names | devices |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for split, s in summary["splits"].items():
        lines.append(
            f"| {split} | {s['utterances']} | {s['positives']} | {s['hours']} | {s['negative_stream_hours']} | "
            f"{s['voices']} | {s['names']} | {s['devices']} |"
        )
    lines += [
        "",
        "Voices: every English accent of espeak-ng crossed with its variants, and the Piper voice "
        "en_US-joe-medium (train only). Splits are by voice (accent plus variant) and by contact and "
        "device name: nothing of dev or test is heard in train.",
        "",
        "Name drill: train also holds requests (ids `train-drill-*`) whose contact and device names are "
        "made up from English spelling patterns (corpus/pseudonames.py, thousands of them, none a word of "
        "the lexicon), so the recogniser learns how spelling sounds instead of memorising the training names; "
        "the second half of them spells its made-up names as other languages write names (sz, cz, rz, ij, "
        "vander, opoulos).",
        "",
        "Audio: TTS output at 22,050 Hz resampled to 16 kHz (soxr, ratio 320/441), trimmed, laid out with "
        "known pauses; then noise (white, pink, brown, babble, music) at 0-30 dB SNR, reverberation "
        "(synthetic rooms, RT60 0.15-0.8 s), gain, clipping, or a device playing music or speech under "
        "the request at -5 to 5 dB.",
        "",
        "## Piper voice provenance",
        "",
        f"- Package: {piper.get('package', 'not installed')}",
        f"- Upstream: {piper.get('upstream', '-')}",
        "",
        "```",
        piper.get("model_card", ""),
        "```",
    ]
    return "\n".join(lines) + "\n"
