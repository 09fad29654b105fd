#!/usr/bin/env bash
# Score a candidate gate on dev (RHVoice's four speakers are its held-out engine) and tune its thresholds there:
#   training/recipes/wake_choose.sh NAME WEIGHTS_DIR   -> runs/wake_choose/NAME_dev/wakeword_dev.json and its DET curve
# (--tune writes the tuned thresholds to WEIGHTS_DIR/wakeword.json: give it a copy, never weights/ itself).
# A soup of two gates: `speechgraph train average A/wakeword_stage1.pt B/wakeword_stage1.pt --out D/...` per stage.
set -euo pipefail
cd "$(dirname "$0")/../.."
name=${1:?usage: wake_choose.sh NAME WEIGHTS_DIR}
weights=${2:?usage: wake_choose.sh NAME WEIGHTS_DIR}
mkdir -p runs/wake_choose
speechgraph bench wakeword --split dev --tune --weights "$weights" --cache "${CACHE:-runs/wake_features}" \
  --no-openwakeword --no-porcupine \
  --out "runs/wake_choose/${name}_dev"
