#!/usr/bin/env bash
# The learned biasing fitted to the grown recogniser (weights/MODEL_CARD_asr.md): the shipped checkpoint and
# the grown run's epochs 3-5 averaged, then only its biasing layers trained (`--train-only biaser`: encoder,
# prediction network and joint stay as averaged), RHVoice left out as in the grown run. Needs the grown run's
# epochs (training/recipes/asr_grown.sh); reuses its feature cache. Resumable: run it again to go on.
#   THREADS=2 training/recipes/asr_bias.sh
# Choose with training/recipes/asr_choose.sh bias_e0 runs/asr_bias/epoch0.pt.
set -euo pipefail
cd "$(dirname "$0")/../.."
soup=runs/soup_grown_e345.pt
epoch() {  # the grown run's epoch N: this machine's run folder, or the epochs committed from earlier machines
  for d in runs/asr_grown training/checkpoints/asr_grown; do [ -f "$d/epoch$1.pt" ] && echo "$d/epoch$1.pt" && return; done
  echo "no epoch $1 of the grown run: run training/recipes/asr_grown.sh" >&2 && return 1
}
[ -f "$soup" ] || speechgraph train average weights/asr_rnnt.pt "$(epoch 3)" "$(epoch 4)" "$(epoch 5)" --out "$soup"
mkdir -p runs/asr_bias runs/asr_grown/features
[ -e runs/asr_bias/features ] || ln -s ../asr_grown/features runs/asr_bias/features
exec nice -n 10 speechgraph train asr --corpus corpus_speech --run runs/asr_bias --threads "${THREADS:-2}" \
  --init "$soup" --enc-residual 2 --context-dim 128 --train-only biaser --weights runs/asr_bias/best.pt \
  --max-frames 16000 --lr 5e-4 --warmup 100 --decay 0.85 --epochs "${EPOCHS:-1}" --dev-limit 120 \
  --checkpoint-every 50 --exclude-engine rhvoice "$@"
