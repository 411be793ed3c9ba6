"""The four cells on the paper's task in numbers: `python bench/paper_task_summary.py RESULTS_DIR [RESULTS_DIR ...]`.

Reads what `bash bench/four_cells.sh` wrote (structure/runs.parquet and predict/families/rnn_*/scores.parquet of each
results folder; docs/structure-study.md says how to run it) and prints markdown tables per cell:

1. accuracy: mean ± std over the nets of replicate 0 (one training per graph, what the paper reports), per generator
   too, the number of graphs and of trained models;
2. predictors (feature set ``all``): R² on pooled out-of-fold predictions of grouped 10-fold x 3 cross-validation,
   mean and [2.5, 97.5] percentiles over repeats, Spearman and Kendall, and the noise ceiling with its interval
   where the cell has replicates, on single-seed targets and (with replicates) on replicate means;
3. the spread of R² over single random 90/10 splits (the paper's protocol), random forest, all features;
4. the embedding-width confound: Spearman of accuracy with the number of source nodes (the embedding's width under
   ``embedding: sources``), replicate 0.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from structure_summary import fmt

REGRESSORS = ["bayesian_ridge", "random_forest", "gradient_boosting", "mean"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="results folders (results_dir of each run)")
    parser.add_argument("--regressors", nargs="+", default=REGRESSORS)
    args = parser.parse_args()
    runs, scores = [], []
    for folder in map(Path, args.results):
        table = pd.read_parquet(folder / "structure/runs.parquet")
        runs.append(table[table["family"].str.startswith("rnn_")])
        scores += [pd.read_parquet(p) for p in sorted(folder.glob("predict/families/rnn_*/scores.parquet"))]
    runs_all, scores_all = pd.concat(runs, ignore_index=True), pd.concat(scores, ignore_index=True)
    cells = sorted(runs_all["family"].unique())

    print("| cell | graphs | models | accuracy, replicate 0 (mean ± std) | Barabási–Albert | Watts–Strogatz |"
          "\n|---|---|---|---|---|---|")
    for cell in cells:
        rows = runs_all[runs_all["family"] == cell]
        first = rows[rows["replicate"] == 0]
        per = {g: first[first["generator"] == g]["test_acc"] for g in ("barabasi_albert", "watts_strogatz")}
        print(f"| {cell.removeprefix('rnn_')} | {rows['graph_id'].nunique()} | {len(rows)} | "
              f"{100 * first['test_acc'].mean():.1f} ± {100 * first['test_acc'].std():.1f} | "
              + " | ".join(f"{100 * v.mean():.1f} ± {100 * v.std():.1f}" for v in per.values()) + " |")

    table = scores_all[(scores_all["feature_set"] == "all") & scores_all["regressor"].isin(args.regressors)]
    print("\n| cell | target | regressor | R² pooled [95% over repeats] | Spearman | Kendall | graphs (models) | "
          "noise ceiling [95%] |\n|---|---|---|---|---|---|---|---|")
    for _, row in table.sort_values(["family", "target", "regressor"]).iterrows():
        ceiling = (f"{fmt(row['noise_ceiling'])} [{fmt(row['noise_ceiling_low'])}, {fmt(row['noise_ceiling_high'])}]"
                   if pd.notna(row.get("noise_ceiling")) else "– (one training per graph)")
        print(f"| {row['family'].removeprefix('rnn_')} | {row['target']} | {row['regressor']} | "
              f"{fmt(row['r2_mean'])} [{fmt(row['r2_low'])}, {fmt(row['r2_high'])}] | {fmt(row['spearman_mean'])} | "
              f"{fmt(row['kendall_mean'])} | {row['n_groups']} ({row['n_models']}) | {ceiling} |")

    spread = scores_all[scores_all.get("r2_split_median", pd.Series(dtype=float)).notna()]
    print("\n| cell | target | R² over single 90/10 splits: min / 5% / median / 95% / max | splits |"
          "\n|---|---|---|---|")
    for _, row in spread.sort_values(["family", "target"]).iterrows():
        print(f"| {row['family'].removeprefix('rnn_')} | {row['target']} | {fmt(row['r2_split_min'])} / "
              f"{fmt(row['r2_split_p05'])} / {fmt(row['r2_split_median'])} / {fmt(row['r2_split_p95'])} / "
              f"{fmt(row['r2_split_max'])} | {row['n_splits']} |")

    print("\n| cell | Spearman(accuracy, source nodes), replicate 0 |\n|---|---|")
    for cell in cells:
        first = runs_all[(runs_all["family"] == cell) & (runs_all["replicate"] == 0)]
        correlation = first["test_acc"].corr(first["source_nodes"], method="spearman")
        print(f"| {cell.removeprefix('rnn_')} | {fmt(correlation)} |")


if __name__ == "__main__":
    main()
