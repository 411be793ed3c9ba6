#!/usr/bin/env bash
# The structure study on the paper's task for the named cells: every cell's shards in one Snakemake call (so a core
# freed by one shard starts the next), the first named cell's shards first, then each cell's predictors.
# Usage: bash bench/four_cells.sh [OVERLAY ...] [-- CELL ...]
#   overlays on configs/paper-rnn.yaml (default configs/paper-rnn-four-cells.yaml); cells: default the overlays'
#   structure.cells. DRY_RUN=1 prints the jobs instead of running them.
# SNAKEMAKE_ARGS: more arguments for snakemake (e.g. "--resources gpu=1": one training job at a time on one GPU).
# Prints the wall time of the training; Snakemake's benchmark files (<results_dir>/benchmarks/train_structured/) hold
# each job's time, CPU time and peak memory.
set -euo pipefail
overlays=() cells=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do overlays+=("$1"); shift; done
[ $# -gt 0 ] && shift && cells=("$@")
[ ${#overlays[@]} -gt 0 ] || overlays=(configs/paper-rnn-four-cells.yaml)
mapfile -t settings < <(python -c "
import sys
from sparsepipe.config import load_config
config = load_config('configs/paper-rnn.yaml', *sys.argv[1:])
print(config['results_dir']); print(' '.join(config['structure']['cells'])); print(config['structure']['shards'])
print(' '.join(sorted(config['graphs'])))
" "${overlays[@]}")
results=${settings[0]} shards=${settings[2]}
read -r -a generators <<< "${settings[3]}"
[ ${#cells[@]} -gt 0 ] || read -r -a cells <<< "${settings[1]}"
shards_of() { for g in "${generators[@]}"; do for ((s = 0; s < shards; s++)); do
  echo "$results/structure/shards/rnn_$1/$g-$s.parquet"; done; done; }
targets=(); for cell in "${cells[@]}"; do mapfile -t -O ${#targets[@]} targets < <(shards_of "$cell"); done
mapfile -t first < <(shards_of "${cells[0]}")
run() { snakemake --cores all ${DRY_RUN:+--dry-run --quiet} ${SNAKEMAKE_ARGS:-} --configfile configs/paper-rnn.yaml "${overlays[@]}" "$@"; }
start=$(date +%s)
run --prioritize "${first[@]}" -- "${targets[@]}"
echo "four_cells: ${cells[*]} trained in $(( $(date +%s) - start )) s" >&2
# the named cells' predictor tables only (predict/scores.parquet would also pull in the config's pruning study)
mapfile -t scores < <(for cell in "${cells[@]}"; do echo "$results/predict/families/rnn_$cell/scores.parquet"; done)
list=$(printf '"%s",' "${cells[@]}")  # and the runs table of the named cells only
run --config "structure={\"cells\": [${list%,}]}" -- "${scores[@]}"
