"""The structure -> performance study in numbers: `python bench/structure_summary.py [--results results]`.

Reads what the paper-scale runs wrote (docs/structure-study.md says how to run them) and prints markdown tables:

1. every cell and regressor (feature set ``all``, single-seed targets): R² on pooled out-of-fold predictions of
   grouped 10-fold x 3 cross-validation, mean and [2.5, 97.5] percentiles over repeats, Spearman, MAE, n graphs,
   and the noise ceiling where replicates exist; for GRU also the mean-of-replicates target;
2. the embedding confound: GRU with the embedding tied to the sources against a fixed width of 8, both on the same
   200 graphs with one seed each (replicate 0 of the replicate study, whose seeds and batch order are those of a
   single-seed run), scored here with the same grouped cross-validation;
3. the spread of R² over 200 single random 90/10 splits (the paper's protocol), random forest, all features.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from sparsepipe.predict import cross_validate

STUDIES = {"replicates": "paper-rnn-gru-replicates", "fixed": "paper-rnn-fixed-embedding",
           "cells": "paper-rnn-cells-100"}


def scores(folder: Path) -> pd.DataFrame:
    paths = sorted(folder.glob("predict/families/rnn_*/scores.parquet"))
    return pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True) if paths else pd.DataFrame()


def fmt(value: float, digits: int = 2) -> str:
    return "–" if pd.isna(value) else f"{value:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results", help="folder holding the studies' results folders")
    parser.add_argument("--regressors", nargs="+", default=["random_forest", "gradient_boosting", "bayesian_ridge",
                                                            "mean"])
    args = parser.parse_args()
    root = Path(args.results)
    table = pd.concat([scores(root / name).assign(study=key) for key, name in STUDIES.items()], ignore_index=True)
    table = table[(table["feature_set"] == "all") & (table["study"] != "fixed")]
    print("| cell | target | regressor | R² pooled [95% over repeats] | Spearman | MAE | graphs (models) | "
          "noise ceiling [95%] |\n|---|---|---|---|---|---|---|---|")
    for _, row in table[table["regressor"].isin(args.regressors)].sort_values(
            ["family", "target", "regressor"]).iterrows():
        ceiling = (f"{fmt(row['noise_ceiling'])} [{fmt(row['noise_ceiling_low'])}, {fmt(row['noise_ceiling_high'])}]"
                   if pd.notna(row.get("noise_ceiling")) else "–")
        print(f"| {row['family'].removeprefix('rnn_')} | {row['target']} | {row['regressor']} | "
              f"{fmt(row['r2_mean'])} [{fmt(row['r2_low'])}, {fmt(row['r2_high'])}] | {fmt(row['spearman_mean'])} | "
              f"{fmt(row['mae_mean'], 3)} | {row['n_groups']} ({row['n_models']}) | {ceiling} |")

    runs = {key: root / name / "structure/runs.parquet" for key, name in STUDIES.items()}
    if runs["replicates"].is_file() and runs["fixed"].is_file():
        tied = pd.read_parquet(runs["replicates"])
        tied = tied[tied["replicate"] == 0]
        fixed = pd.read_parquet(runs["fixed"])
        print("\n| GRU, single seed, 200 graphs | regressor | R² pooled [95%] | Spearman | "
              "accuracy ~ source nodes (Spearman) |\n|---|---|---|---|---|")
        for label, frame in (("embedding = sources", tied), ("embedding = 8", fixed)):
            result = cross_validate(frame, "rnn_gru", args.regressors, 10, 3, seed=0, feature_sets=["all"])
            correlation = frame["test_acc"].corr(frame["source_nodes"], method="spearman")
            for _, row in result.scores.iterrows():
                print(f"| {label} | {row['regressor']} | {fmt(row['r2_mean'])} [{fmt(row['r2_low'])}, "
                      f"{fmt(row['r2_high'])}] | {fmt(row['spearman_mean'])} | {fmt(correlation)} |")
        for label, frame in (("embedding = sources", tied), ("embedding = 8", fixed)):
            print(f"{label}: test accuracy mean {frame['test_acc'].mean():.4f}, std {frame['test_acc'].std():.4f}, "
                  f"min {frame['test_acc'].min():.4f}")

    spread = pd.concat([scores(root / name).assign(study=key) for key, name in STUDIES.items()], ignore_index=True)
    if "r2_split_median" in spread:
        spread = spread[spread["r2_split_median"].notna()]
        print("\n| study | cell | target | R² over single 90/10 splits: min / 5% / median / 95% / max | splits |"
              "\n|---|---|---|---|---|")
        for _, row in spread.iterrows():
            print(f"| {row['study']} | {row['family'].removeprefix('rnn_')} | {row['target']} | "
                  f"{fmt(row['r2_split_min'])} / {fmt(row['r2_split_p05'])} / {fmt(row['r2_split_median'])} / "
                  f"{fmt(row['r2_split_p95'])} / {fmt(row['r2_split_max'])} | {row['n_splits']} |")


if __name__ == "__main__":
    main()
