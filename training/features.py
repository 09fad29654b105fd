"""A cache of log-mel features for a corpus split, so training epochs cost no signal processing.

One float16 array holds every utterance's frames back to back; an index gives
each utterance's offset, length, transcript and the frame where the recogniser's
input starts (just after the wake word, as the gate will cut it). A row without
an audio file is a recipe (`corpus.speech`): it is rendered here, in the workers.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from audio.files import load
from audio.logmel import LogMel

log = logging.getLogger(__name__)

HOP_S = 0.01


def _features(args: tuple[str, dict]) -> np.ndarray:
    root, row = args
    if row.get("audio"):
        samples = load(Path(root) / row["audio"])
    else:
        from corpus.speech import render

        samples, _ = render(row, Path(root))
    return LogMel().frames(samples).astype(np.float16)


@dataclass
class FeatureCache:
    frames: np.ndarray  # (total, n_mels) float16
    offsets: np.ndarray
    lengths: np.ndarray
    starts: np.ndarray  # first frame the recogniser hears
    texts: list[str]
    rows: list[dict]

    def utterance(self, i: int) -> np.ndarray:
        return self.frames[self.offsets[i] : self.offsets[i] + self.lengths[i]]

    def stats(self, n: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-band mean and standard deviation over the first `n` utterances: the models' input normalisation."""
        sample = np.concatenate(
            [np.asarray(self.utterance(i), dtype=np.float32) for i in range(min(n, len(self.rows)))]
        )
        return torch.from_numpy(sample.mean(0)), torch.from_numpy(sample.std(0) + 1e-5)

    def joined(self, other: FeatureCache) -> FeatureCache:
        """This cache's utterances, then `other`'s, as one cache (frames copied into memory)."""
        return FeatureCache(
            frames=np.concatenate([self.frames, other.frames]),
            offsets=np.concatenate([self.offsets, other.offsets + len(self.frames)]),
            lengths=np.concatenate([self.lengths, other.lengths]),
            starts=np.concatenate([self.starts, other.starts]),
            texts=self.texts + other.texts,
            rows=self.rows + other.rows,
        )

    @classmethod
    def build(
        cls,
        corpus: str | Path,
        split: str,
        cache_dir: str | Path,
        jobs: int = 2,
        exclude_engines: frozenset[str] = frozenset(),
    ) -> FeatureCache:
        """The split's rows, less those of `exclude_engines`, with their features. The cache keeps every row
        it ever computed, by id, so a split that grew, or a run that leaves out fewer engines, computes only
        the rows it lacks."""
        corpus, cache = Path(corpus), Path(cache_dir)
        cache.mkdir(parents=True, exist_ok=True)
        npy, idx = cache / f"{split}.frames.npy", cache / f"{split}.index.json"
        rows = [json.loads(line) for line in (corpus / f"{split}.jsonl").read_text().splitlines()]
        rows = [r for r in rows if r.get("engine") not in exclude_engines]
        index = {"ids": [], "offsets": [], "lengths": []}
        if npy.exists() and idx.exists():
            index = json.loads(idx.read_text())
        cached = {row_id: k for k, row_id in enumerate(index["ids"])}
        todo = [r for r in rows if r["id"] not in cached]
        if todo:
            log.info("features %s: %d cached, %d to compute", split, len(cached), len(todo))
            index = cls._append(npy, idx, index, corpus, todo, jobs, split)
            cached = {row_id: k for k, row_id in enumerate(index["ids"])}
        picked = [cached[r["id"]] for r in rows]
        view = {"offsets": [index["offsets"][k] for k in picked], "lengths": [index["lengths"][k] for k in picked]}
        return cls._from(np.load(npy, mmap_mode="r"), view, rows)

    @staticmethod
    def _append(npy: Path, idx: Path, index: dict, corpus: Path, todo: list[dict], jobs: int, split: str) -> dict:
        """Compute `todo`'s features and write them after the cached ones; the new index."""
        from corpus.speech import workers

        work = [(str(corpus), r) for r in todo]
        with workers(jobs) as pool:
            feats = list(tqdm(pool.imap(_features, work, chunksize=16), total=len(work), desc=f"features {split}"))
        kept = np.load(npy, mmap_mode="r") if index["ids"] else None
        lengths = np.array(index["lengths"] + [len(f) for f in feats])
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        frames = np.concatenate(([kept] if kept is not None else []) + feats)
        tmp = npy.with_suffix(".tmp.npy")
        np.save(tmp, frames)
        del kept, frames
        tmp.replace(npy)
        ids = index["ids"] + [r["id"] for r in todo]
        index = {"ids": ids, "offsets": offsets.tolist(), "lengths": lengths.tolist()}
        idx.write_text(json.dumps(index))
        return index

    @classmethod
    def _from(cls, frames: np.ndarray, index: dict, rows: list[dict]) -> FeatureCache:
        starts = np.array([round(r["wake_end"] / HOP_S) if r["wake_word"] else 0 for r in rows])
        return cls(
            frames=frames,
            offsets=np.asarray(index["offsets"]),
            lengths=np.asarray(index["lengths"]),
            starts=starts,
            texts=[r["text"] for r in rows],
            rows=rows,
        )
