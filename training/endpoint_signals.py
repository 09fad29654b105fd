"""The end-pointers' view of recordings: silero-vad's probabilities and the decoder's signals, cached.

`collect` runs the VAD and the shipped recogniser over a split's recordings
(extended past the end of speech) once and caches what the EndPointer node
would hear; `steps` lays that out at every VAD window. The VAD starts as the
assistant's does (`nodes.vad`, following the gate): afresh, `preroll_s` before
the wake word's end, with no windows before that. The end-pointer
benchmark fits and measures the rule on it and `speechgraph train eoq` trains
the learned end-of-query model on it, so both see what the node sees.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audio import SAMPLE_RATE
from audio.files import load
from audio.logmel import LogMel, frame_end
from nodes.endpoint_rule import EndpointParams, Situation
from nodes.endpoint_rule import eoq_inputs as rule_eoq_inputs

WINDOW = 512
"""Samples per silero-vad window."""
CHUNK_FRAMES = 4  # one encoder step of the recogniser: 40 ms
COMPLETE_PROB = EndpointParams.complete_prob
"""The completeness the end-of-query model's inputs are read at (the node's default)."""


@dataclass
class Utterance:
    id: str
    start: int  # tick of the wake word's end
    speech_end: float  # seconds
    duration: float  # seconds of the original recording
    pauses: list
    text: str
    condition: str
    probs: np.ndarray  # one per 512-sample window from tick 0 (0 where the VAD does not run)
    sig_end: np.ndarray  # ticks
    sig_last: np.ndarray  # tick of the best hypothesis's last token (-1: none)
    sig_text: list[str]
    sig_flushed: list[str] | None = None
    """The best hypothesis of the search flushed (`BeamSearch.flushed`) after each chunk: what the
    decoder node's results are taken from (None: not collected)."""


def extend(x: np.ndarray, speech_end: float, extend_s: float) -> np.ndarray:
    """`x` lengthened to `speech_end + extend_s` with mirrored copies of its post-speech audio."""
    target = round((speech_end + extend_s) * SAMPLE_RATE)
    if len(x) >= target:
        return x[:target]
    tail = x[min(len(x) - SAMPLE_RATE // 4, round((speech_end + 0.5) * SAMPLE_RATE)) :]
    parts, n, forward = [x], len(x), False
    while n < target:
        piece = tail if forward else tail[::-1]
        parts.append(piece)
        n += len(piece)
        forward = not forward
    return np.concatenate(parts)[:target].astype(np.float32)


def gated_probs(x: np.ndarray, start: int, preroll: int, vad=None) -> np.ndarray:
    """silero's probabilities of `x`'s windows as the VAD following the gate gives them for an utterance from
    tick `start`: computed afresh from the first window that ends less than `preroll` ticks before it, 0
    before (`nodes.vad.VoiceActivityDetector._wanted`)."""
    from nodes.vad import speech_probs

    first = max(0, (start - preroll - WINDOW) // WINDOW + 1)
    n = len(x) // WINDOW
    probs = np.zeros(n, np.float32)
    if first < n:
        probs[first:] = speech_probs(x[first * WINDOW : n * WINDOW], vad)
    return probs


def _vad_probs(args: argparse.Namespace, rows: list[dict]) -> dict[str, list[float]]:
    """`gated_probs` of the rows' extended recordings, cached by the VAD's preroll (not by the recogniser)."""
    from tqdm import tqdm

    from nodes.vad import SileroVAD, VADConfig

    preroll = round(VADConfig.preroll_s * SAMPLE_RATE)
    path = Path(args.cache) / f"{args.split}-vad-preroll{preroll}-ext{args.extend_s:g}.jsonl"
    cached = {}
    if path.exists():
        cached = {d["id"]: d["probs"] for d in map(json.loads, path.read_text().splitlines()) if d}
    todo = [r for r in rows if r["id"] not in cached]
    if todo:
        vad = SileroVAD()
        with path.open("a") as f:
            for r in tqdm(todo, desc=f"VAD {args.split}"):
                x = extend(load(Path(args.corpus) / r["audio"]), r["speech_end"], args.extend_s)
                probs = gated_probs(x, round(r["wake_end"] * SAMPLE_RATE), preroll, vad)
                cached[r["id"]] = [round(float(p), 4) for p in probs]
                f.write(json.dumps({"id": r["id"], "probs": cached[r["id"]]}) + "\n")
                f.flush()
    return cached


def _char_lm(args: argparse.Namespace) -> tuple[Path | None, float]:
    """The character LM fused into the search and its weight, as the decoder node has them by default
    (`args.char_lm`, `args.lm_weight` where given; weight 0: none)."""
    from models.char_lm import LM_WEIGHT, SHIPPED

    weight = float(getattr(args, "lm_weight", LM_WEIGHT))
    return (Path(getattr(args, "char_lm", None) or SHIPPED) if weight else None), weight


def _cache_path(args: argparse.Namespace) -> Path:
    digest = hashlib.sha1(Path(args.weights).read_bytes())
    lm, weight = _char_lm(args)
    if lm is not None:
        digest.update(lm.read_bytes())
        digest.update(f"{weight:g}".encode())
    from dataclasses import astuple

    from nodes.decoder.beam import FLUSH_STEPS
    from nodes.decoder.level import CORRECTED

    flush = f"-flush{FLUSH_STEPS}" if FLUSH_STEPS else ""
    level = "-level" + "-".join(f"{v:g}" for v in astuple(CORRECTED))
    name = f"{args.split}-{digest.hexdigest()[:10]}-beam{args.beam}-ext{args.extend_s:g}{flush}{level}.jsonl"
    return Path(args.cache) / name


def _pick(rows: list[dict], limit: int) -> list[dict]:
    rows = [r for r in rows if r["wake_word"]]
    order = list(range(len(rows)))
    random.Random(0).shuffle(order)
    return [rows[i] for i in sorted(order[:limit] if limit else order)]


def collect(args: argparse.Namespace) -> list[Utterance]:
    import torch
    from tqdm import tqdm

    from models.char_lm import CharNgram
    from models.rnnt import RNNT
    from nodes.decoder.beam import FLUSH_STEPS, BeamSearch

    torch.set_num_threads(1)
    corpus = Path(args.corpus)
    rows = _pick([json.loads(line) for line in (corpus / f"{args.split}.jsonl").read_text().splitlines()], args.limit)
    path = _cache_path(args)
    path.parent.mkdir(parents=True, exist_ok=True)
    cached = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                d = json.loads(line)
                cached[d["id"]] = d
    todo = [r for r in rows if r["id"] not in cached]
    if todo:
        lm, weight = _char_lm(args)
        search = BeamSearch(
            RNNT.from_checkpoint(torch.load(args.weights, weights_only=False)),
            beam=args.beam,
            lm=CharNgram.load(lm) if lm is not None else None,
            lm_weight=weight,
        )
        logmel = LogMel()
        with path.open("a") as f:
            for r in tqdm(todo, desc=f"decoding {args.split}"):
                x = extend(load(corpus / r["audio"]), r["speech_end"], args.extend_s)
                frames = logmel.frames(x)
                first = round(r["wake_end"] / 0.01)
                st = search.start()
                ends, lasts, texts, flushed = [], [], [], []
                for k in range(first, len(frames), CHUNK_FRAMES):
                    chunk = frames[k : k + CHUNK_FRAMES]
                    search.accept(st, chunk)
                    best = st.beam[0] if st.beam else None
                    ends.append(frame_end(k + len(chunk) - 1))
                    lasts.append(search.frame_end_tick(best.times[-1], first) if best and best.times else -1)
                    texts.append(search.best_text(st))
                    flushed.append(search.best_text(search.flushed(st)) if FLUSH_STEPS else texts[-1])
                d = {"id": r["id"], "ends": ends, "lasts": lasts}
                d["texts"], d["flushed"] = texts, flushed
                f.write(json.dumps(d) + "\n")
                f.flush()
                cached[r["id"]] = d
    vad_probs = _vad_probs(args, rows)
    out = []
    for r in rows:
        d = cached[r["id"]]
        out.append(
            Utterance(
                id=r["id"],
                start=round(r["wake_end"] * SAMPLE_RATE),
                speech_end=r["speech_end"],
                duration=r["duration_s"],
                pauses=r.get("pauses", []),  # the wake set has none
                text=r["text"],
                condition=r["condition"]["label"],
                probs=np.asarray(vad_probs[r["id"]], np.float32),
                sig_end=np.asarray(d["ends"], np.int64),
                sig_last=np.asarray(d["lasts"], np.int64),
                sig_text=d["texts"],
                sig_flushed=d.get("flushed"),
            )
        )
    return out


@dataclass
class Steps:
    """What the rule looks at, at each window end t of one utterance (`situation` lays it out for the rule)."""

    t: np.ndarray
    speech_end: dict[float, np.ndarray]  # per VAD threshold; -1 before any speech
    blank: np.ndarray
    end_prob: np.ndarray  # the word LM's end-of-sentence probability after the hypothesis
    words: np.ndarray
    k0: int  # index of t[0]'s VAD window
    eoq: np.ndarray | None = None  # the end-of-query model's probability at each t


def steps(u: Utterance, thresholds: tuple[float, ...]) -> Steps:
    from nodes.endpointer import end_prob

    k0 = max(0, -(-(u.start + WINDOW // 2) // WINDOW) - 1)
    t = (np.arange(k0, len(u.probs)) + 1) * WINDOW
    ends = {}
    for th in thresholds:
        speech = u.probs[k0:] >= th
        ends[th] = np.maximum.accumulate(np.where(speech, t, -1))
    j = np.minimum(np.searchsorted(u.sig_end, t, side="left"), len(u.sig_end) - 1)
    has_text = np.array([bool(s) for s in u.sig_text])[j]
    last = np.where(has_text & (u.sig_last[j] >= 0), u.sig_last[j], u.start)
    blank = t - np.maximum(last, u.start)
    ends_prob = np.array([end_prob(s) for s in u.sig_text], dtype=np.float32)[j]
    words = np.array([len(s.split()) for s in u.sig_text])[j]
    return Steps(t, ends, blank, ends_prob, words, k0)


def situation(s: Steps, u: Utterance, threshold: float, complete_prob: float = COMPLETE_PROB) -> Situation:
    """What the end-pointer's rule sees at every window of `s`, speech counted at VAD `threshold` and the
    hypothesis complete at an end-of-sentence probability of `complete_prob`."""
    from models.eoq import STRICT

    t = s.t
    end = s.speech_end[threshold]
    strict_end = s.speech_end.get(STRICT, np.full(len(t), -1))
    return Situation(
        elapsed=t - u.start,
        heard=end >= 0,
        silence=t - np.where(end >= 0, end, u.start),
        strict_heard=strict_end >= 0,
        strict_silence=t - np.where(strict_end >= 0, strict_end, u.start),
        blank=s.blank,
        complete=s.end_prob >= complete_prob,
        eoq=s.eoq,
    )


def eoq_inputs(s: Steps, u: Utterance) -> np.ndarray:
    """The end-of-query model's features at every t of `s` (rows where no speech was heard yet included)."""
    from models.eoq import HISTORY, SPEECH

    padded = np.concatenate([np.zeros(HISTORY - 1, np.float32), u.probs])
    k = np.arange(s.k0, s.k0 + len(s.t))
    recent = np.stack([padded[k + i] for i in range(HISTORY)], axis=1)  # window k is padded[k + HISTORY - 1]
    return rule_eoq_inputs(situation(s, u, SPEECH), recent, s.words)
