"""The same models trained by two code versions: `python bench/paired_runs.py NEW_RESULTS ARCHIVE`.

A change that reorders floating-point sums (a faster kernel) changes every trained model's numbers at float rounding,
which 15 epochs of training amplify like a change of seed: the check is statistical, not value for value. Both
folders' run tables (every Parquet file below them with ``model_key`` and ``test_acc`` columns, such as a study's
``structure/shards/`` and an archive under ``studies/``) are joined on ``model_key`` (the same graph, cell, seeds,
data and training), and for each family (cell) the script prints n, both means, how many pairs are equal to the
bit, and the mean paired difference with its 95% t interval over models. A difference whose interval holds 0 is
not distinguishable from none at that n; the spread of the differences says how far one model moves.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from scipy import stats


def runs(root: Path) -> pd.DataFrame:
    """Every run row under ``root`` (one row per model_key; a key met twice keeps its first row)."""
    frames = []
    for path in sorted(root.rglob("*.parquet")):
        if ".snakemake" in path.parts:
            continue
        frame = pd.read_parquet(path)
        if {"model_key", "test_acc", "family"} <= set(frame.columns):
            frames.append(frame[["model_key", "family", "test_acc"]])
    if not frames:
        raise SystemExit(f"{root}: no run tables (Parquet files with model_key, family and test_acc columns)")
    return pd.concat(frames).drop_duplicates("model_key")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("new", type=Path)
    parser.add_argument("archive", type=Path)
    args = parser.parse_args()
    pairs = runs(args.new).merge(runs(args.archive), on=["model_key", "family"], suffixes=("_new", "_archive"))
    if pairs.empty:
        raise SystemExit("no model_key in both folders: nothing to compare")
    print(f"{'family':12s} {'n':>4s} {'new':>7s} {'archive':>7s} {'equal':>6s} {'new - archive [95% CI]':>28s} "
          f"{'sd of differences':>18s}")
    for family, group in pairs.groupby("family"):
        diff = group["test_acc_new"] - group["test_acc_archive"]
        n, mean, sd = len(diff), diff.mean(), diff.std(ddof=1)
        half = stats.t.ppf(0.975, n - 1) * sd / n**0.5 if n > 1 else float("nan")
        print(f"{family:12s} {n:4d} {group['test_acc_new'].mean():7.4f} {group['test_acc_archive'].mean():7.4f} "
              f"{int((diff == 0).sum()):6d} {mean:+9.4f} [{mean - half:+.4f}, {mean + half:+.4f}] {sd:18.4f}")


if __name__ == "__main__":
    main()
