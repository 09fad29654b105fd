"""Command-line options of the benchmarks, free of heavy imports so `--help` stays fast."""

from __future__ import annotations

import argparse

from models.char_lm import ILM_WEIGHT, LM_BONUS, LM_PHRASE_LOGPROB, LM_WEIGHT, SHIPPED
from nodes.decoder import BEAM
from nodes.decoder.context import BONUS, ENCODER_BIAS, MAX_BONUS
from nodes.decoder.respell import MAX_DISTANCE


def hop_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hops", type=int, default=4, help="relay nodes in the chain (default 4)")
    p.add_argument("--seconds", type=float, default=3.0, help="audio per stream in the latency run (default 3)")
    p.add_argument("--streams", type=int, default=16, help="concurrent streams in the throughput run (default 16)")
    p.add_argument("--chunks", default="10,40,160", help="chunk sizes in ms (default 10,40,160)")
    p.add_argument("--runtimes", default="local,ray,ray-unbatched,ray-fused", help="which runtimes to compare")
    p.add_argument("--json", type=argparse.FileType("w"), default=None, help="also write the rows as JSON")
    p.add_argument("--address", default=None, help="join this Ray cluster instead of starting one")


def char_lm_arguments(p: argparse.ArgumentParser) -> None:
    """The character language model fused into the search, as the decoder node fuses it by default."""
    p.add_argument(
        "--char-lm",
        default=str(SHIPPED),
        help="character language model fused into the search (default: the shipped one)",
    )
    p.add_argument("--lm-weight", type=float, default=LM_WEIGHT, help="its weight (tuned on dev; 0: no fusion)")


def asr_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", default="corpus_out", help="corpus folder (default corpus_out)")
    p.add_argument("--split", default="test", choices=("dev", "test"), help="split to measure (default test)")
    p.add_argument("--weights", default="weights/asr_rnnt.pt", help="the recogniser (default: the shipped one)")
    p.add_argument("--cache", default="runs/asr/features", help="feature cache folder")
    p.add_argument("--limit", type=int, default=200, help="utterances to decode (0: all)")
    p.add_argument("--beam", type=int, default=BEAM, help=f"beam width of the search (default {BEAM})")
    p.add_argument("--bonus", type=float, default=BONUS, help="biasing bonus per matched character (tuned on dev)")
    p.add_argument("--max-bonus", type=float, default=MAX_BONUS, help="biasing bonus per phrase at most (tuned on dev)")
    p.add_argument(
        "--no-learned-bias", action="store_true", help="shallow fusion only, even if the model has learned biasing"
    )
    p.add_argument(
        "--encoder-bias",
        type=float,
        default=ENCODER_BIAS,
        help="strength of the learned biasing's encoder-side read (tuned on dev)",
    )
    p.add_argument(
        "--respell",
        type=float,
        default=MAX_DISTANCE,
        help="respell spans this close (sound-key edit distance) to a context phrase (tuned on dev; 0: off)",
    )
    p.add_argument(
        "--no-verify",
        action="store_true",
        help="skip the second pass that checks context phrases against the audio (nodes/decoder/verify.py)",
    )
    p.add_argument("--distractors", type=int, default=20, help="other contacts in each user's context")
    char_lm_arguments(p)
    p.add_argument("--lm-bonus", type=float, default=LM_BONUS, help="score per unit it scores (tuned on dev)")
    p.add_argument(
        "--ilm-weight", type=float, default=ILM_WEIGHT, help="share of the internal LM taken out (tuned on dev)"
    )
    p.add_argument(
        "--lm-phrase-logprob",
        type=float,
        default=LM_PHRASE_LOGPROB,
        help="log-probability given to each letter along a context phrase instead of the model's (tuned on dev)",
    )
    p.add_argument(
        "--lm-in-phrases", action="store_true", help="score the letters of context phrases by it too (default: not)"
    )
    p.add_argument("--chunk-frames", type=int, default=32, help="feature frames per decoding chunk")
    p.add_argument(
        "--gain-db",
        type=float,
        default=0.0,
        help="play every utterance this much louder (negative: quieter), as an offset of its log-mel features",
    )
    p.add_argument(
        "--band",
        default=None,
        metavar="LOW,HIGH",
        help="pass every utterance through a channel of LOW-HIGH Hz (300,3400: a telephone), in its log-mel features",
    )
    p.add_argument(
        "--no-level",
        action="store_true",
        help="decode a quiet voice as it is, not raised to the trained range (nodes/decoder/level.py)",
    )
    p.add_argument(
        "--level-low",
        type=float,
        help="levels under it are raised to it (default: nodes/decoder/level.py: TRAINED_LOW)",
    )
    p.add_argument("--level-min-frames", type=int, help="frames heard before a level is raised (default: shipped)")
    p.add_argument(
        "--level-min-spread", type=float, help="loud over quiet frames before a level is raised (default: shipped)"
    )
    p.add_argument("--pocketsphinx", action="store_true", help="also run the pocketsphinx baseline on the same audio")
    p.add_argument(
        "--biased-only", action="store_true", help="decode with the context only (half the time: for tuning on dev)"
    )
    p.add_argument("--int8", action="store_true", help="also decode with int8 dynamic quantisation (WER, speed-up)")
    p.add_argument("--json", default=None, help="also write the figures here as JSON")
    p.add_argument("--hyps", default=None, help="write every utterance's reference and hypotheses here (JSON lines)")


def wakeword_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", default="corpus_wake", help="wake set folder (default corpus_wake)")
    p.add_argument("--split", default="test", choices=("dev", "test"), help="split to measure (default test)")
    p.add_argument("--cache", default="runs/wakeword/features", help="feature cache folder")
    p.add_argument(
        "--weights",
        default=None,
        help="folder of the stages to measure and of their wakeword.json, which --tune writes (default weights/: "
        "the shipped gate); a candidate from `speechgraph train wakeword --weights-dir`",
    )
    p.add_argument(
        "--negatives-from",
        default="corpus_speech",
        help="a speech set whose rows of the same split are heard as more negatives (default corpus_speech; '' none)",
    )
    p.add_argument(
        "--tune", action="store_true", help="(dev) choose the operating thresholds, write them to wakeword.json"
    )
    p.add_argument(
        "--gain-db",
        type=float,
        default=0.0,
        help="play everything this much louder (negative: quieter): the gate's log-mel features offset, the "
        "baselines' samples scaled",
    )
    p.add_argument(
        "--band",
        default=None,
        metavar="LOW,HIGH",
        help="hear everything through a channel of LOW-HIGH Hz (300,3400: a telephone): the gate's log-mel bands as"
        " it leaves them, the baselines' samples filtered",
    )
    p.add_argument(
        "--no-level",
        action="store_true",
        help="verify a quiet voice as it is heard, not raised to the trained level (models.wakeword.level_raised)",
    )
    p.add_argument("--no-openwakeword", action="store_true", help="skip the openWakeWord baseline")
    p.add_argument("--no-porcupine", action="store_true", help="skip the Porcupine baseline (pvporcupine 1.9.5)")
    p.add_argument(
        "--baseline-hours",
        type=float,
        default=1.0,
        help="hours of the negatives the baselines hear, every k-th utterance (default 1.0; 0: all)",
    )
    p.add_argument("--out", default="bench_out", help="folder for the DET curve PNG and the JSON summary")


def parse_band(text: str | None) -> tuple[float, float] | None:
    """`--band LOW,HIGH` as two frequencies in Hz (None: the whole band)."""
    if not text:
        return None
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise SystemExit(f"--band wants LOW,HIGH in Hz, not {text!r}") from None
    if not 0 <= low < high:
        raise SystemExit(f"--band wants LOW below HIGH, not {text!r}")
    return low, high
