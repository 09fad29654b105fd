"""The bundled demo recordings (`data/demo/`): a few requests to the assistant, in held-out voices.

Each recording is "alexa", a short pause, a request and trailing silence, in
the formats users bring (22.05 kHz WAV, 44.1 kHz stereo FLAC, 48 kHz OGG).
One has a hesitation inside the request ("call ... meg bauer"), where the
speculative end-pointer may cut in and the reset protocol has to repair it.
The voices come from the test split, never trained on. `transcripts.json`
holds what each recording says; `contacts.txt` is the demo user's context.

`data/requests/` holds requests without the wake word, for the graphs that have
no wake gate (`--graph asr`): the rare name in them shows what biasing does.

    python3 -m corpus.demo            # rewrites data/demo/ and data/requests/
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from audio import SAMPLE_RATE
from corpus.tts import Prosody, Voice, synthesize

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"
REQUESTS_DIR = DEMO.parent / "requests"
CONTACTS = ["meg bauer", "meg jones", "kitchen lights", "living room lamp", "tobias lindqvist"]

# (file, rate, channels, voice, pieces: text or a pause in seconds)
RECORDINGS = [
    ("alexa_call_meg_bauer.wav", 22050, 1, Voice("espeak", "en-us", "klatt"), ["alexa", 0.3, "call meg bauer"]),
    (
        "alexa_kitchen_lights_stereo44k.flac",
        44100,
        2,
        Voice("espeak", "en-us", "Storm"),
        ["alexa", 0.3, "turn on the kitchen lights"],
    ),
    (
        "weather_boston_48k.ogg",
        48000,
        1,
        Voice("espeak", "en-us", "edward2"),
        ["alexa", 0.3, "what is the weather in boston tomorrow"],
    ),
    (
        "alexa_call_pause_meg_bauer.wav",
        16000,
        1,
        Voice("espeak", "en-us", "Alex"),
        ["alexa", 0.3, "call", 0.7, "meg bauer"],
    ),
]
REQUESTS = [
    ("call_tobias_lindqvist.wav", 16000, 1, Voice("espeak", "en-us", "edward2"), ["call tobias lindqvist"]),
]


def render(pieces: list, voice: Voice) -> tuple[np.ndarray, dict]:
    prosody = Prosody(rate_wpm=150)
    parts = [np.zeros(int(0.4 * SAMPLE_RATE), np.float32)]
    truth: dict = {}
    words = []
    for p in pieces:
        if isinstance(p, float):
            parts.append(np.zeros(int(p * SAMPLE_RATE), np.float32))
            continue
        pos = sum(len(x) for x in parts)
        speech = synthesize(p, voice, prosody)
        parts.append(speech)
        if p == "alexa":
            truth["wake_start"], truth["wake_end"] = pos / SAMPLE_RATE, (pos + len(speech)) / SAMPLE_RATE
        else:
            words.append(p)
            truth["speech_end"] = (pos + len(speech)) / SAMPLE_RATE
    parts.append(np.zeros(int(1.5 * SAMPLE_RATE), np.float32))
    x = np.concatenate(parts)
    return 0.5 * x / max(1e-6, float(np.abs(x).max())), truth | {"text": " ".join(words)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(DEMO), help="folder for the recordings with the wake word")
    p.add_argument("--requests-out", default=str(REQUESTS_DIR), help="folder for the requests without it")
    args = p.parse_args(argv)
    write(Path(args.out), RECORDINGS)
    (Path(args.out) / "contacts.txt").write_text("\n".join(CONTACTS) + "\n")
    write(Path(args.requests_out), REQUESTS)
    return 0


def write(out: Path, recordings: list) -> None:
    """The recordings in their rates and channel counts, and `transcripts.json`."""
    out.mkdir(parents=True, exist_ok=True)
    transcripts = {}
    for name, rate, channels, voice, pieces in recordings:
        x, truth = render(pieces, voice)
        y = soxr.resample(x, SAMPLE_RATE, rate).astype(np.float32) if rate != SAMPLE_RATE else x
        if channels == 2:
            y = np.stack([y, 0.8 * y], axis=1)
        sf.write(out / name, y, rate)
        transcripts[name] = {k: round(v, 3) if isinstance(v, float) else v for k, v in truth.items()} | {
            "voice": voice.id
        }
    (out / "transcripts.json").write_text(json.dumps(transcripts, indent=1) + "\n")
    print(f"wrote {len(recordings)} recordings to {out}")


if __name__ == "__main__":
    raise SystemExit(main())
