#!/usr/bin/env bash
# The deeper recogniser (weights/MODEL_CARD_asr.md: "A deeper encoder"): six LSTM layers, the lower four and
# everything else from the shipped checkpoint, RHVoice left out so that it stays an engine no recogniser here
# has heard. Resumable: run it again and it goes on from runs/asr_deep/checkpoint.pt (mid-epoch included).
#   THREADS=2 training/recipes/asr_deep.sh      (THREADS=1 beside other work; about 33 minutes an epoch on 2)
# Choose an epoch, or an average (`speechgraph train average`), with training/recipes/asr_choose.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
speechgraph corpus --set speech  # resumes; renders the Piper train speech the first time
exec nice -n 10 speechgraph train asr --corpus corpus_speech --run runs/asr_deep --threads "${THREADS:-2}" \
  --init weights/asr_rnnt.pt --enc-layers 6 --context-dim 128 --weights runs/asr_deep/best.pt \
  --max-frames 16000 --lr 1e-3 --warmup 300 --decay 0.85 --epochs 8 --dev-limit 120 --checkpoint-every 50 \
  --exclude-engine rhvoice "$@"
