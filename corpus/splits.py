"""Train, dev and test splits by voice and by name.

A key's split comes from a hash of the seed and the key, so it does not depend
on list order, and adding a name never moves the others. The Piper voice is
the only one of its kind and stays in train.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from corpus.grammar import NamePool
from corpus.tts import Voice
from models import lexicon

SPLITS = ("train", "dev", "test")
SHARES = {"train": 0.75, "dev": 0.10, "test": 0.15}


def split_of(key: str, seed: int) -> str:
    u = int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:8], "big") / 2**64
    edge = 0.0
    for split in SPLITS:
        edge += SHARES[split]
        if u < edge:
            return split
    return SPLITS[-1]


@dataclass(frozen=True)
class Split:
    name: str
    voices: tuple[Voice, ...]
    names: NamePool

    def as_dict(self) -> dict:
        return {
            "voices": [v.id for v in self.voices],
            "first_names": list(self.names.first_names),
            "last_names": list(self.names.last_names),
            "devices": list(self.names.devices),
        }


def make_splits(voices: list[Voice], seed: int) -> dict[str, Split]:
    def pick(items: list[str], kind: str, split: str) -> tuple[str, ...]:
        return tuple(i for i in items if split_of(f"{kind}:{i}", seed) == split)

    out = {}
    for split in SPLITS:
        vs = tuple(
            v for v in voices if (split == "train" if v.engine == "piper" else split_of(f"voice:{v.id}", seed) == split)
        )
        pool = NamePool(
            first_names=pick(lexicon.FIRST_NAMES + lexicon.RARE_FIRST_NAMES, "first", split),
            last_names=pick(lexicon.LAST_NAMES + lexicon.RARE_LAST_NAMES, "last", split),
            devices=pick(lexicon.DEVICES, "device", split),
        )
        if not vs or not pool.first_names or not pool.last_names or not pool.devices:
            raise ValueError(f"split {split} came out empty with seed {seed}")
        out[split] = Split(split, vs, pool)
    return out
