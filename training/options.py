"""Command-line options of the recipes, kept free of heavy imports so `--help` stays fast."""

from __future__ import annotations

import argparse
from pathlib import Path

WEIGHTS = Path(__file__).resolve().parent.parent / "weights"
COLOUR_HELP = "channel colouring: a random tilt and broad peaks and dips of at most this (log units; 0: off)"
NARROWBAND_HELP = "share of utterances heard through a narrower channel: a telephone, audio recorded at 8 kHz (0: none)"


def asr_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", default="corpus_out", help="corpus folder (default corpus_out)")
    p.add_argument("--run", default="runs/asr", help="checkpoints, feature cache and logs (default runs/asr)")
    p.add_argument("--epochs", type=int, default=30, help="epochs to train in all (default 30)")
    p.add_argument(
        "--max-minutes",
        type=float,
        default=0,
        help="stop (resumably) this many minutes after the start, feature caching included; 0: no limit",
    )
    p.add_argument("--max-frames", type=int, default=12000, help="padded frames per batch (default 12000)")
    p.add_argument("--lr", type=float, default=1.5e-3, help="peak learning rate of AdamW")
    p.add_argument("--warmup", type=int, default=400, help="steps of linear learning-rate warm-up")
    p.add_argument("--decay", type=float, default=0.93, help="learning-rate decay per epoch")
    p.add_argument("--checkpoint-every", type=int, default=100, help="steps between resumable checkpoints")
    p.add_argument("--dev-limit", type=int, default=300, help="dev utterances decoded after each epoch")
    p.add_argument("--ctc-weight", type=float, default=0.3, help="weight of the auxiliary CTC loss on the encoder")
    p.add_argument(
        "--context-dim", type=int, default=0, help="width of the learned contextual biasing (0: shallow fusion only)"
    )
    p.add_argument("--context-lr-scale", type=float, default=3.0, help="learning-rate factor of the biasing layers")
    p.add_argument(
        "--answer-repeat",
        type=int,
        default=1,
        help="times each one-word answer (a name said on its own after a question) is seen per epoch; they are "
        "a few percent of the requests, and without more of them the model hears a lone name as a command's "
        "first word",
    )
    p.add_argument("--threads", type=int, default=2, help="torch threads, and feature workers unless --jobs")
    p.add_argument("--jobs", type=int, default=0, help="processes that render and cache features (0: --threads)")
    p.add_argument("--device", default="cpu", help="torch device to train on: cpu or cuda (default cpu)")
    p.add_argument(
        "--pred-context", type=int, default=4, help="characters the stateless prediction network sees (0: an LSTM)"
    )
    p.add_argument(
        "--enc-layers",
        type=int,
        default=4,
        help="LSTM layers of the encoder (default 4); from --init, layers it lacks start from scratch",
    )
    p.add_argument(
        "--enc-residual",
        type=int,
        default=0,
        help="LSTM layers above those, each added to its input through a gate that starts at zero: grown from"
        " --init, the recogniser starts as the one it grew from (default 0)",
    )
    p.add_argument("--vtlp", type=float, default=0.1, help="vocal-tract length perturbation: mel axis x 1±this")
    p.add_argument("--tempo", type=float, default=0.0, help="tempo perturbation: speaking rate x 1±this")
    p.add_argument("--colour", type=float, default=0.0, help=COLOUR_HELP)
    p.add_argument("--narrowband", type=float, default=0.0, help=NARROWBAND_HELP)
    p.add_argument(
        "--exclude-engine",
        action="append",
        default=[],
        metavar="ENGINE",
        help="leave this engine's train rows out (repeatable), so it stays a held-out engine to choose models by",
    )
    p.add_argument(
        "--train-only",
        action="append",
        default=[],
        choices=["encoder", "predictor", "joint", "biaser", "ctc_head"],
        metavar="PART",
        help="train only this part (repeatable: encoder, predictor, joint, biaser, ctc_head); the others stay as"
        " --init or the checkpoint has them, e.g. the learned biasing fitted to an encoder it was not trained with",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of batching, augmentation and initialisation")
    p.add_argument("--weights", default=str(WEIGHTS / "asr_rnnt.pt"), help="where the best model goes")
    p.add_argument(
        "--init",
        default=None,
        help="with no checkpoint in --run, start from these weights (e.g. weights/asr_rnnt.pt on a new machine)",
    )
    p.add_argument(
        "--continue-from",
        default=None,
        metavar="EPOCH_WEIGHTS",
        help="with no checkpoint in --run, go on from the epoch after this epochN.pt of the same run (kept from"
        " an earlier machine), with a new optimiser warmed up again; before --init",
    )


def wakeword_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", default="corpus_wake", help="wake set folder (default corpus_wake)")
    p.add_argument("--run", default="runs/wakeword", help="checkpoints and logs (default runs/wakeword)")
    p.add_argument("--features", default="runs/wakeword/features", help="feature cache of the wake set")
    p.add_argument(
        "--negative-corpus",
        default="corpus_speech",
        help="speech set whose train split is heard as negative streams (default corpus_speech; '' for none)",
    )
    p.add_argument(
        "--negative-features",
        default="runs/asr_speech/features",
        help="its feature cache, shared with the recogniser's recipe (default runs/asr_speech/features)",
    )
    p.add_argument("--mine-hours", type=float, default=6.0, help="hours of negative streams mined for stage 2")
    p.add_argument("--init-dir", default=None, help="start both stages from the weights in this folder")
    p.add_argument("--stage1-steps", type=int, default=3000, help="training steps of the streaming detector")
    p.add_argument("--stage2-steps", type=int, default=4000, help="training steps of the verifier")
    p.add_argument("--batch", type=int, default=32, help="windows per batch")
    p.add_argument("--mine-threshold", type=float, default=0.3, help="stage-1 score that counts as a detection")
    p.add_argument("--vtlp", type=float, default=0.12, help="vocal-tract length perturbation: mel axis x 1±this")
    p.add_argument("--tilt", type=float, default=1.0, help="spectral tilt: slope of at most this (log units)")
    p.add_argument("--colour", type=float, default=0.0, help=COLOUR_HELP)
    p.add_argument(
        "--quieter-db", type=float, default=0.0, help="half the windows played up to this many dB quieter (0: none)"
    )
    p.add_argument("--narrowband", type=float, default=0.0, help=NARROWBAND_HELP.replace("utterances", "windows"))
    p.add_argument("--tempo", type=float, default=0.0, help="tempo perturbation: speaking rate x 1±this")
    p.add_argument("--threads", type=int, default=1, help="torch threads and feature workers")
    p.add_argument("--seed", type=int, default=0, help="seed of batching, augmentation and initialisation")
    p.add_argument("--weights-dir", default=str(WEIGHTS), help="where the trained stages go")
