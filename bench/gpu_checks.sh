#!/usr/bin/env bash
# The checks a lent GPU machine runs, in one go: `bash bench/gpu_checks.sh tests|bench|study [WHEELS]`.
#   tests: the CUDA tests (CUDA-graph steps against eager ones, the fallback, the Triton steps against the plain
#          ops, populations);
#   bench: bench/cuda_graphs.py (eager against captured populations, the paper-scale estimate; the wavefront's steps
#          as Triton kernels), then GRU again with fewer, wider buckets (--bucket-overhead 1024);
#   study: the four-cell paper study (800 nets) through snakemake on the GPU (configs/paper-rnn-gpu.yaml).
# WHEELS: a folder of wheels of what the machine lacks (snakemake and its plugins, submitit, jsonschema), installed
# with --no-deps into /tmp/site. Logs go to $OUT (default gpu-out/). docs/benchmarks.md, "CUDA graphs", has figures.
set -uo pipefail
out=${OUT:-gpu-out}
mkdir -p "$out"
if [ -n "${2:-}" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$2"/*.whl \
    || exit 1
  export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH
fi
export PYTHONPATH=${PYTHONPATH:-$PWD} PYTHONUNBUFFERED=1
if ! command -v sparsepipe > /dev/null; then  # the rules call `sparsepipe`: this checkout's, uninstalled
  mkdir -p /tmp/sparsepipe-bin
  printf '#!/bin/sh\nexec python3 -m sparsepipe.cli "$@"\n' > /tmp/sparsepipe-bin/sparsepipe
  chmod +x /tmp/sparsepipe-bin/sparsepipe
  export PATH=/tmp/sparsepipe-bin:$PATH
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
case "$1" in
  tests) python3 -m pytest -q -p no:cacheprovider tests/test_capture.py tests/test_gpu_steps.py tests/test_population.py \
           --deselect tests/test_gpu_steps.py::test_the_triton_steps_train_like_the_plain_path 2>&1 \
           | tee "$out/tests.log" ;;
  bench) { python3 bench/cuda_graphs.py; python3 bench/cuda_graphs.py --cells gru --bucket-overhead 1024; } 2>&1 \
           | tee "$out/bench.log" ;;
  study) start=$(date +%s)
         SNAKEMAKE_ARGS="--resources gpu=1" bash bench/four_cells.sh configs/paper-rnn-gpu.yaml > "$out/study.log" 2>&1
         status=$?
         echo "study: exit $status, $(( $(date +%s) - start )) s of wall time"
         grep -h "replayed\|capture failed\|population .* of .* members" results/paper-rnn-gpu/logs/structure/*.log | tail -20
         cat results/paper-rnn-gpu/benchmarks/train_structured/*.tsv | sort -u
         cp results/paper-rnn-gpu/structure/runs.parquet "$out/" 2>/dev/null
         python3 bench/paper_task_summary.py results/paper-rnn-gpu > "$out/summary.txt" 2>&1
         tail -40 "$out/summary.txt"
         exit $status ;;
  *) echo "usage: bash bench/gpu_checks.sh tests|bench|study [WHEELS]" >&2; exit 2 ;;
esac
