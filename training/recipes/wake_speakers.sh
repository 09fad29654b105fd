#!/usr/bin/env bash
# The wake-word gate trained once more from the one in weights/ (for the shipped gate's run: the gate before it,
# `git show ac3aa64~1:weights/`) on the wake set with its `speakers` rows (6,000 more
# train positives and look-alikes, each in a train voice of espeak-ng, MBROLA or Pico: corpus/wake.py), with the
# shipped recipe's speaker and channel perturbation; the speech set's train split (RHVoice left out) as negative
# streams. Resumable: run it again and each stage goes on from its checkpoint in the run folder.
#   THREADS=1 training/recipes/wake_speakers.sh   (run folder: RUN, default runs/wake_speakers; FEATURES: a
#   feature cache of the same set to reuse, default the run folder's own)
# Then average it with the shipped gate and choose on dev (training/recipes/wake_choose.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
speechgraph corpus --set wake  # resumes; renders the rows the set has gained
run=${RUN:-runs/wake_speakers}
exec nice -n 5 speechgraph train wakeword --corpus corpus_wake --run "$run" \
  --features "${FEATURES:-$run/features}" --negative-features "${NEGATIVE_FEATURES:-runs/asr_grown/features}" \
  --init-dir weights --weights-dir "$run/weights" --stage1-steps 1500 --stage2-steps 2000 \
  --vtlp 0.12 --tilt 1.0 --tempo 0 --threads "${THREADS:-1}" "$@"
