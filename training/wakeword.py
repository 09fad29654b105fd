"""`speechgraph train wakeword`: both stages of the wake-word gate.

Stage 1 learns, per 10 ms frame, "the wake word ends here" (frames from 30 ms
before to 150 ms after the true end are positive) and how many frames ago it
started. Stage 2 learns to accept 195-frame windows that begin 0.5 s before the
wake word (shifted by up to +-200 ms, as stage 1's estimate will be) and to
reject windows from everything else. The gate verifies shortly after stage 1
fires, not 1.95 s later, so the window's future is padded: training windows
keep only the frames up to a random point 0-300 ms after the wake word's end
(negatives: a random point at a similar offset), and everything after it is
padding: look-alikes, requests without the wake
word, other parts of positive utterances, the negative streams, and stage 1's
own false accepts on them (hard negatives mined after stage 1 is trained).

Data: the wake set (`speechgraph corpus --set wake`), plus the speech set's
train split (29 h in the same voices, none of it with the wake word) as negative
streams, read from the recogniser's feature cache (built here if missing).
`--init-dir` starts both stages from trained weights instead of from scratch.

Resumable: each stage checkpoints its model, optimiser and step; a finished
stage is skipped. Weights go to `weights/wakeword_stage1.pt` and `_stage2.pt`.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from audio.files import load
from audio.logmel import LogMel
from corpus.wake import HELD_OUT_ENGINE
from models.wakeword import PREROLL_FRAMES, STAGE2_FRAMES, Stage1, Stage2, proposals, stage1_scores, stage2_window
from training.features import FeatureCache
from training.run import Checkpoint, start_run
from training.speaker_augment import colour, narrowband, quieter, stretch, tilt, vtlp

log = logging.getLogger(__name__)
FRAME_S = 0.01
WIN_S = 0.025
CROP = 300


def end_frame(t_s: float) -> int:
    """Index of the first feature frame whose window ends at or after `t_s`."""
    return max(0, math.ceil((t_s - WIN_S) / FRAME_S))


MINE_CHUNK = 6000
"""Frames of a negative stream stage 1 scores at once while mining (one minute)."""


def negative_streams(corpus: Path, split: str, cache: Path) -> list[np.ndarray]:
    """The corpus's long recordings without the wake word (none in a set that has no `negatives.jsonl`)."""
    out: list[np.ndarray] = []
    if not (corpus / "negatives.jsonl").exists():
        return out
    rows = [json.loads(line) for line in (corpus / "negatives.jsonl").read_text().splitlines()]
    for r in rows:
        if r["split"] != split:
            continue
        npy = cache / f"{r['id']}.npy"
        if not npy.exists():
            np.save(npy, LogMel().frames(load(corpus / r["audio"])).astype(np.float16))
        out.append(np.load(npy, mmap_mode="r"))
    return out


def tempo_rate(rng: np.random.Generator, spread: float) -> float:
    """A random speaking rate in 1±spread (1.0 when there is no spread)."""
    return float(rng.uniform(1 - spread, 1 + spread)) if spread > 0 else 1.0


class Stage1Data:
    def __init__(
        self, fc: FeatureCache, negatives: list[np.ndarray], rng: np.random.Generator, tempo: float = 0.0
    ) -> None:
        self.fc, self.negatives, self.rng, self.tempo = fc, negatives, rng, tempo
        sizes = np.array([max(0, len(n) - CROP) for n in negatives], dtype=np.float64)
        self.negative_share = sizes / sizes.sum() if sizes.sum() else None
        """Each negative stream is drawn by its length: every frame of negative audio is as likely."""
        self.pos = [i for i, r in enumerate(fc.rows) if r["wake_word"]]
        self.neg = [i for i, r in enumerate(fc.rows) if not r["wake_word"]]

    def item(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        rng = self.rng
        roll = rng.random()
        labels = np.zeros(CROP, np.float32)
        starts = np.zeros(CROP, np.float32)
        rate = tempo_rate(rng, self.tempo)
        if roll < 0.5:
            i = int(rng.choice(self.pos))
            x = stretch(np.asarray(self.fc.utterance(i), dtype=np.float32), rate)
            row = self.fc.rows[i]
            e, s = round(end_frame(row["wake_end"]) / rate), round(end_frame(row["wake_start"]) / rate)
            lo = max(0, e + 20 - CROP)
            off = int(rng.integers(lo, max(lo + 1, min(e - 10, len(x) - CROP) + 1))) if len(x) > CROP else 0
            x = x[off : off + CROP]
            a, b = max(0, e - 3 - off), min(len(x), e + 15 - off)
            labels[a:b] = 1
            starts[a:b] = np.arange(a, b) + off - s
        elif roll < 0.8 or not self.negatives:
            i = int(rng.choice(self.neg))
            x = stretch(np.asarray(self.fc.utterance(i), dtype=np.float32), rate)
            off = int(rng.integers(0, max(1, len(x) - CROP)))
            x = x[off : off + CROP]
        else:
            stream = self.negatives[int(rng.choice(len(self.negatives), p=self.negative_share))]
            span = min(len(stream), math.ceil(CROP * rate) + 1)
            off = int(rng.integers(0, len(stream) - span + 1))
            x = stretch(np.asarray(stream[off : off + span], dtype=np.float32), rate)[:CROP]
        mask = np.zeros(CROP, np.float32)
        mask[: len(x)] = 1
        if len(x) < CROP:
            x = np.pad(x, ((0, CROP - len(x)), (0, 0)), constant_values=float(x.min()) if len(x) else -23.0)
        return x, labels, starts, mask


def perturb(x: torch.Tensor, rng: np.random.Generator, args: argparse.Namespace) -> torch.Tensor:
    """Each window of the batch (B, T, F) as another speaker through another channel, at another distance, a
    share through a narrower band (`training.speaker_augment`), positives and negatives alike, so neither
    becomes a cue."""
    return torch.stack(
        [
            narrowband(
                quieter(colour(tilt(vtlp(w, rng, args.vtlp), rng, args.tilt), rng, args.colour), rng, args.quieter_db),
                rng,
                args.narrowband,
            )
            for w in x
        ]
    )


def _resume(ckpt: Checkpoint) -> int:
    """The step a stage's checkpoint reached (0: none yet)."""
    return int(ckpt.load()["step"]) if ckpt.exists() else 0


def speech_negatives(corpus: str | None, cache: str, jobs: int) -> list[np.ndarray]:
    """The speech set's train split as negative streams: its utterances back to back, without those in the
    wake set's held-out engines (`corpus.wake.HELD_OUT_ENGINE`: RHVoice is the wake word's dev engine)."""
    if not corpus:
        return []
    held_out = set(HELD_OUT_ENGINE.values())
    fc = FeatureCache.build(corpus, "train", cache, jobs=jobs, exclude_engines=frozenset(held_out))  # never computed
    streams, start = [], None  # runs of kept rows whose frames follow each other, as views of the memory map
    for i in range(len(fc.rows) + 1):
        joins = i < len(fc.rows) and start is not None and fc.offsets[i] == fc.offsets[i - 1] + fc.lengths[i - 1]
        if start is not None and not joins:
            streams.append(fc.frames[fc.offsets[start] : fc.offsets[i - 1] + fc.lengths[i - 1]])
            start = None
        if i < len(fc.rows) and start is None:
            start = i
    log.info("negative streams: %s train, %.1f h", corpus, sum(len(s) for s in streams) * FRAME_S / 3600)
    return streams


def _initial(model: torch.nn.Module, init_dir: str | None, name: str) -> bool:
    """Load `init_dir/name` into `model` if given: a warm start keeps its input normalisation."""
    if not init_dir:
        return False
    ckpt = torch.load(Path(init_dir) / name, weights_only=False, map_location="cpu")
    model.load_state_dict(type(model).from_checkpoint(ckpt).state_dict())
    log.info("stage weights from %s", Path(init_dir) / name)
    return True


def train_stage1(args, fc: FeatureCache, negatives: list[np.ndarray], run: Path) -> Stage1:
    torch.manual_seed(args.seed)
    model = Stage1()
    if not _initial(model, args.init_dir, "wakeword_stage1.pt"):
        mean, std = fc.stats()
        model.feat_mean.copy_(mean)
        model.feat_std.copy_(std)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    ckpt = Checkpoint(run / "stage1.ckpt", model, opt)
    first = _resume(ckpt)
    data = Stage1Data(fc, negatives, np.random.default_rng(args.seed + first), args.tempo)
    model.train()
    for step in tqdm(range(first, args.stage1_steps), desc="stage 1", initial=first, total=args.stage1_steps):
        items = [data.item() for _ in range(args.batch)]
        x, y, s, m = (torch.from_numpy(np.stack(z)) for z in zip(*items, strict=True))
        x = perturb(x, data.rng, args)
        logits, start_pred = model(x)
        bce = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, y, reduction="none", pos_weight=torch.tensor(8.0)
        )
        loss = (bce * m).sum() / m.sum() + 0.002 * ((start_pred - s).abs() * y).sum() / y.sum().clamp(min=1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (step + 1) % 100 == 0:
            ckpt.save(step=step + 1)
            log.info("stage 1 step %d loss %.4f", step + 1, loss.item())
    ckpt.save(step=args.stage1_steps)
    return model.eval()


def stage1_detections(model: Stage1, frames: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """(end frame, estimated start frame) of stage 1's proposals, by the gate's own rule (unsmoothed)."""
    return [(end, start) for end, start, _ in proposals(*stage1_scores(model, frames, 1), threshold, 100)]


def window(frames: np.ndarray, start: int, keep: int = STAGE2_FRAMES) -> np.ndarray:
    """The gate's stage-2 window, with only its first `keep` frames heard (the rest is the future)."""
    return stage2_window(np.asarray(frames, dtype=np.float32), 0, start, start - PREROLL_FRAMES + keep)


def train_stage2(args, fc: FeatureCache, negatives: list[np.ndarray], stage1: Stage1, run: Path) -> Stage2:
    rng = np.random.default_rng(args.seed + 7)
    hard: list[np.ndarray] = []
    mined = run / "hard_negatives.npy"
    if mined.exists():
        hard = list(np.load(mined))
    else:
        budget = int(args.mine_hours * 3600 / FRAME_S)
        chunks = [(k, a) for k, n in enumerate(negatives) for a in range(0, len(n) - PREROLL_FRAMES, MINE_CHUNK)]
        order = np.random.default_rng(args.seed).permutation(len(chunks))[: max(1, budget // MINE_CHUNK)]
        for c in tqdm(order, desc="mining hard negatives"):
            k, a = chunks[c]
            x = np.asarray(negatives[k][a : a + MINE_CHUNK], dtype=np.float32)
            for end, s in stage1_detections(stage1, x, args.mine_threshold):
                keep = end - s + PREROLL_FRAMES + int(rng.integers(0, 31))
                hard.append(window(x, s, keep))
        for i, r in enumerate(tqdm(fc.rows, desc="mining utterances")):
            if not r["wake_word"] and len(hard) < 20000:
                x = np.asarray(fc.utterance(i), dtype=np.float32)
                for end, s in stage1_detections(stage1, x, args.mine_threshold):
                    hard.append(window(x, s, end - s + PREROLL_FRAMES + int(rng.integers(0, 31))))
        np.save(mined, np.stack(hard) if hard else np.zeros((0, STAGE2_FRAMES, 64), np.float32))
    log.info("hard negatives mined: %d", len(hard))

    pos = [i for i, r in enumerate(fc.rows) if r["wake_word"]]
    neg = [i for i, r in enumerate(fc.rows) if not r["wake_word"]]

    def random_keep() -> int:
        return PREROLL_FRAMES + int(rng.integers(30, 140))

    playing = [i for i in pos if fc.rows[i]["condition"]["device_playing"] != "none"]

    def sample() -> tuple[np.ndarray, float, float]:
        """Shares: 45% positives (a quarter of them with the device playing: the hardest), 10% the request
        part of a positive, 30% hard negatives (stage 1's false accepts: look-alikes mostly), 15% other."""
        roll, rate = rng.random(), tempo_rate(rng, args.tempo)
        if roll < 0.45:
            i = int(rng.choice(playing if playing and rng.random() < 0.25 else pos))
            r = fc.rows[i]
            x = stretch(np.asarray(fc.utterance(i), dtype=np.float32), rate)
            start = round(end_frame(r["wake_start"]) / rate) + int(rng.integers(-20, 21))
            keep = round(end_frame(r["wake_end"]) / rate) + int(rng.integers(-3, 31)) - (start - PREROLL_FRAMES)
            return window(x, start, keep), 1.0, float(r["condition"]["device_playing"] != "none")
        if roll < 0.55:
            i = int(rng.choice(pos))  # the request part of a positive: not the wake word
            r = fc.rows[i]
            x = stretch(np.asarray(fc.utterance(i), dtype=np.float32), rate)
            wake_end = round(end_frame(r["wake_end"]) / rate)
            start = int(rng.integers(wake_end + 30, max(wake_end + 31, len(x))))
            return window(x, start, random_keep()), 0.0, float(r["condition"]["device_playing"] != "none")
        if roll < 0.85 and hard:
            return hard[int(rng.integers(len(hard)))].astype(np.float32), 0.0, 0.0
        i = int(rng.choice(neg))
        r = fc.rows[i]
        x = stretch(np.asarray(fc.utterance(i), dtype=np.float32), rate)
        return (
            window(x, int(rng.integers(0, max(1, len(x) - 100))), random_keep()),
            0.0,
            float(r["condition"]["device_playing"] != "none"),
        )

    torch.manual_seed(args.seed)
    model = Stage2()
    if not _initial(model, args.init_dir, "wakeword_stage2.pt"):
        model.feat_mean.copy_(stage1.feat_mean)
        model.feat_std.copy_(stage1.feat_std)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    ckpt = Checkpoint(run / "stage2.ckpt", model, opt)
    first = _resume(ckpt)
    model.train()
    for step in tqdm(range(first, args.stage2_steps), desc="stage 2", initial=first, total=args.stage2_steps):
        items = [sample() for _ in range(args.batch)]
        x = perturb(torch.from_numpy(np.stack([it[0] for it in items])), rng, args)
        y = torch.tensor([it[1] for it in items])
        flag = torch.tensor([it[2] for it in items])
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x, flag), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (step + 1) % 100 == 0:
            ckpt.save(step=step + 1)
            log.info("stage 2 step %d loss %.4f", step + 1, loss.item())
    ckpt.save(step=args.stage2_steps)
    return model.eval()


def train(args: argparse.Namespace) -> dict:
    run = start_run(args.run, args.threads)
    started = time.monotonic()
    corpus = Path(args.corpus)
    fc = FeatureCache.build(corpus, "train", Path(args.features), jobs=args.threads)
    negatives = negative_streams(corpus, "train", Path(args.features))
    negatives += speech_negatives(args.negative_corpus, args.negative_features, args.threads)
    stage1 = train_stage1(args, fc, negatives, run)
    out = Path(args.weights_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(stage1.checkpoint(), out / "wakeword_stage1.pt")
    stage2 = train_stage2(args, fc, negatives, stage1, run)
    torch.save(stage2.checkpoint(), out / "wakeword_stage2.pt")
    return {"minutes": round((time.monotonic() - started) / 60, 1)}
