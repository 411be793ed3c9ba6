#!/usr/bin/env bash
# The four-cell structure study on the paper's task, one cell at a time (so an interrupted run leaves whole cells),
# then the predictors over the cells that finished. Usage: bash bench/four_cells.sh [OVERLAY [CELL ...]]
#   default overlay configs/paper-rnn-four-cells-laptop.yaml; default cells rnn_tanh rnn_relu gru lstm.
# Prints each cell's wall time; Snakemake's benchmark files (<results_dir>/benchmarks/train_structured/) hold each
# job's time and peak memory.
set -euo pipefail
overlay=${1:-configs/paper-rnn-four-cells-laptop.yaml}
shift || true
cells=("$@")
[ ${#cells[@]} -gt 0 ] || cells=(rnn_tanh rnn_relu gru lstm)
results=$(python -c "import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))['results_dir'])" "$overlay")
run() { snakemake --cores all --configfile configs/paper-rnn.yaml "$overlay" "$@"; }
finished=()
for cell in "${cells[@]}"; do
  start=$(date +%s)
  run -- "$results"/structure/shards/rnn_"$cell"/{barabasi_albert,watts_strogatz}-0.parquet
  finished+=("\"$cell\"")
  echo "four_cells: $cell trained in $(( $(date +%s) - start )) s" >&2
done
list=$(IFS=,; echo "${finished[*]}")
run --config "structure={\"cells\": [$list]}" -- "$results/predict/scores.parquet"
