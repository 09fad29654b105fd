#!/usr/bin/env bash
# The grown recogniser (weights/MODEL_CARD_asr.md: "A deeper encoder"): the shipped checkpoint with two gated
# residual LSTM layers above its encoder (`--enc-residual 2`; their linear gates start at zero, so training
# starts from the shipped recogniser itself), RHVoice left out so that it stays an engine no recogniser here has
# heard, and a sixth of the utterances heard through a narrower channel (`--narrowband`: a telephone, audio
# recorded at 8 kHz, which the shipped recogniser reads as nothing). Resumable: run it again and it goes on from runs/asr_grown/checkpoint.pt (mid-epoch included).
# A machine that keeps nothing between sessions: commit each finished epoch's weights without its training
# vocabulary (`python3 -c "import torch; k = torch.load('runs/asr_grown/epochN.pt', weights_only=False);
# k.pop('words'); torch.save(k, 'training/checkpoints/asr_grown/epochN.pt')"`: the run rebuilds it from the
# train text, and `speechgraph train average` with weights/asr_rnnt.pt brings it back); with no checkpoint in
# the run folder, the recipe goes on after the newest epoch kept there.
#   THREADS=2 training/recipes/asr_grown.sh      (THREADS=1 beside other work)
# Choose an epoch, or an average (`speechgraph train average`), with training/recipes/asr_choose.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
speechgraph corpus --set speech  # resumes; renders the Piper train speech the first time
kept=$(ls training/checkpoints/asr_grown/epoch*.pt 2>/dev/null | sort -V | tail -1 || true)
exec nice -n 10 speechgraph train asr --corpus corpus_speech --run runs/asr_grown --threads "${THREADS:-2}" \
  --init weights/asr_rnnt.pt --enc-residual 2 --context-dim 128 --weights runs/asr_grown/best.pt \
  --max-frames 16000 --lr 5e-4 --warmup 200 --decay 0.85 --epochs 6 --dev-limit 120 --checkpoint-every 50 \
  --exclude-engine rhvoice --narrowband 0.16 ${kept:+--continue-from "$kept"} "$@"
