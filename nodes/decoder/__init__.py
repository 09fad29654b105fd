"""The streaming RNN-T decoder node: beam search, word lattices, contextual biasing."""

BEAM = 8
"""Hypotheses the beam search keeps. 12 lowers WER a little (all 700 dev rows with their contexts: 0.303 at
8, 0.293 at 12, 0.294 at 16) but costs about 30% more decoder CPU and doubled the result's latency at p90
in `bench latency` (weights/MODEL_CARD_asr.md)."""
