#!/usr/bin/env bash
# Every CPU table of BENCHMARKS.md in one go (about 25-30 minutes on 2 cores; run it on an otherwise idle machine).
# Each script prints its own header (command, machine, date, versions); outputs land in OUT_DIR/*.md.
#
#   bash bench/run_cpu.sh [OUT_DIR]       # default /tmp/carl_bench
set -uo pipefail
OUT_DIR=${1:-/tmp/carl_bench}
mkdir -p "$OUT_DIR"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} MKL_NUM_THREADS=${MKL_NUM_THREADS:-2}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_VERBOSITY=error TQDM_DISABLE=1
PY=${PYTHON:-python}
T0=$(date +%s)
run() {  # run NAME CMD...
  local name=$1; shift
  local t=$(date +%s)
  "$@" > "$OUT_DIR/$name.md" 2> "$OUT_DIR/$name.err" || echo "FAILED: $name (rc $?)" >> "$OUT_DIR/progress.log"
  echo "$name: $(( $(date +%s) - t )) s (at $(( $(date +%s) - T0 )) s)" >> "$OUT_DIR/progress.log"
}
run step_ratios $PY bench/bench_step.py --section ratios --rounds 7 --warmup 2
run step_breakdown $PY bench/bench_step.py --section breakdown,profile --trainable-layers -1 --rounds 6 --warmup 2
run losses $PY bench/bench_losses.py --repeats 20
run queue $PY bench/bench_queue.py --repeats 100
run eval $PY bench/bench_eval.py --rounds 3
run step_scaling $PY bench/bench_step.py --section scaling --trainable-layers -1 --scaling-rounds 3
run encoders $PY bench/bench_encoders.py
run saliency $PY bench/bench_saliency.py
run step_options $PY bench/bench_step.py --section options --trainable-layers=-1,2 --rounds 6 --warmup 1
echo "all done at $(( $(date +%s) - T0 )) s" >> "$OUT_DIR/progress.log"
