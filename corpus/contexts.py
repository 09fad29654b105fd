"""The context a user's device would hold for an utterance of the corpus.

A request's own contact and device names plus distractors drawn from the same
split (other contacts, other devices), so biasing is measured the way it is
used: the right name is somewhere in a list, not handed over alone.
"""

from __future__ import annotations

import json
import random
import zlib
from pathlib import Path

DISTRACTORS = 10


def own_phrases(row: dict) -> list[str]:
    """The names a request itself uses: its contact, device or the answer it chose."""
    return [v for k, v in row["slots"].items() if k in ("contact", "device", "choice") and v]


def context_for(row: dict, split_names: dict, rng: random.Random, distractors: int = DISTRACTORS) -> list[str]:
    own = own_phrases(row)
    people = [
        f"{f} {last}"
        for f, last in zip(
            rng.sample(split_names["first_names"], k=min(distractors, len(split_names["first_names"]))),
            rng.choices(split_names["last_names"], k=distractors),
        )
    ]
    devices = rng.sample(split_names["devices"], k=min(len(split_names["devices"]), distractors // 2))
    return sorted(set(own + people + devices))


def row_context(row: dict, split_names: dict, distractors: int = DISTRACTORS) -> list[str]:
    """The context of one manifest row, the same on every run and in every tool."""
    return context_for(row, split_names, random.Random(zlib.crc32(row["id"].encode())), distractors)


def manifest_contexts(manifest: str | Path, distractors: int = DISTRACTORS) -> list[tuple[Path, list[str], bool]]:
    """(audio path, context, device playing) for every row of a corpus manifest, the same on every run."""
    manifest = Path(manifest)
    corpus = manifest.parent
    splits = json.loads((corpus / "splits.json").read_text())
    out = []
    for line in manifest.read_text().splitlines():
        row = json.loads(line)
        playing = row["condition"]["device_playing"] != "none"
        out.append((corpus / row["audio"], row_context(row, splits[row["split"]], distractors), playing))
    return out
