#!/usr/bin/env bash
# The kit's main job, from a fresh clone: set up as CI does (once), train CARL at the cpu-quick preset on the
# bundled VADER sentences, then score it beside the frozen encoder it started from and print the table.
#   bash scripts/main_job.sh            (runs/cpu-quick; re-running resumes/re-evaluates)
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 MPLBACKEND=Agg HF_HUB_DISABLE_TELEMETRY=1 TOKENIZERS_PARALLELISM=false
# the bundled data and the pip-installed MiniLM need no hub
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
OUT=${OUT:-runs/cpu-quick}

if [ -x .venv/bin/carl ]; then
  source .venv/bin/activate
else
  echo "=== setting up .venv (as .ci/run does)"
  source .ci/setup
fi
echo "=== carl train --preset cpu-quick --out $OUT (${SECONDS}s)"
carl train --preset cpu-quick --out "$OUT" --resume auto
echo "=== carl eval $OUT (${SECONDS}s)"
carl eval "$OUT"
echo "=== done in ${SECONDS}s"
