#!/usr/bin/env bash
# A candidate recogniser measured the way one is chosen (weights/MODEL_CARD_asr.md): every speech dev row with
# its context (held-out phrasing, out-of-domain, old templates), and the wake set's dev requests after "alexa",
# 200 of them in RHVoice, the engine no recogniser here has heard. Test is for the one chosen, not for choosing.
#   training/recipes/asr_choose.sh NAME WEIGHTS     (writes runs/choose/NAME_{speech,wake}_dev.json)
set -euo pipefail
cd "$(dirname "$0")/../.."
name=${1:?usage: asr_choose.sh NAME WEIGHTS}
weights=${2:?usage: asr_choose.sh NAME WEIGHTS}
mkdir -p runs/choose
speechgraph corpus --set speech --splits dev,test >/dev/null
[ -f corpus_wake/dev.jsonl ] || speechgraph corpus --set wake >/dev/null
speechgraph bench asr --corpus corpus_speech --split dev --limit 0 --biased-only --cache runs/speech_features \
  --weights "$weights" --json "runs/choose/${name}_speech_dev.json"
speechgraph bench asr --corpus corpus_wake --split dev --limit 0 --biased-only --cache runs/wake_features \
  --weights "$weights" --json "runs/choose/${name}_wake_dev.json"
