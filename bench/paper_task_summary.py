"""The four cells on the paper's task in numbers: `python bench/paper_task_summary.py RESULTS_DIR [RESULTS_DIR ...]`.

Reads what `bash bench/four_cells.sh` wrote (structure/runs.parquet and predict/families/rnn_*/scores.parquet of each
results folder; docs/structure-study.md says how to run it) and prints markdown tables per cell, every estimate with
its 95% interval and its n:

1. accuracy of replicate 0 (one training per graph, what the paper reports): mean with its t-interval over graphs,
   the standard deviation over graphs, per generator too;
2. predictors (feature set ``all``): R² on pooled out-of-fold predictions of grouped 10-fold x 3 cross-validation
   with its bootstrap interval over graphs, for each regressor; the noise ceiling with its interval where the cell
   has replicates; and R² minus the ceiling with its paired interval (same bootstrap draws) for the random forest,
   the paper's regressor, chosen before looking (not the best of several, which would be a maximum of noisy
   estimates). The verdict in words is read off that interval;
3. the spread of R² over single random 90/10 splits (the paper's protocol), random forest, all features;
4. the embedding-width confound: Spearman of accuracy with the number of source nodes (the embedding's width under
   ``embedding: sources``), replicate 0, with a bootstrap interval over graphs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from scipy.stats import t as student_t
from structure_summary import fmt

REGRESSORS = ["random_forest", "bayesian_ridge", "gradient_boosting", "mean"]
CHOSEN = "random_forest"  # the paper's regressor: the one the ceiling verdict reads, fixed in advance


def mean_interval(values: pd.Series) -> str:
    """``mean [low, high]`` in percent: the 95% t-interval of the mean over the values' units."""
    n = len(values)
    if n < 2:
        return f"{100 * values.mean():.1f}"
    half = student_t.ppf(0.975, n - 1) * values.std(ddof=1) / np.sqrt(n)
    return f"{100 * values.mean():.1f} [{100 * (values.mean() - half):.1f}, {100 * (values.mean() + half):.1f}]"


def spearman_interval(x: np.ndarray, y: np.ndarray, draws: int = 1000, seed: int = 0) -> str:
    """Spearman's rho with its 95% bootstrap interval over the rows (graphs)."""
    rng = np.random.default_rng(seed)
    rho = spearmanr(x, y).statistic
    boot = [spearmanr(x[pick], y[pick]).statistic for pick in rng.integers(0, len(x), (draws, len(x)))]
    low, high = np.nanpercentile(boot, [2.5, 97.5])
    return f"{fmt(rho)} [{fmt(low)}, {fmt(high)}]"


def ceiling_words(row: pd.Series) -> str:
    """What R² minus the ceiling says, from its paired interval only."""
    low, high = row.get("ceiling_gap_low", np.nan), row.get("ceiling_gap_high", np.nan)
    if pd.isna(low):
        return "– (no replicates: no ceiling)"
    words = ("below the ceiling" if high < 0 else "above the ceiling" if low > 0
             else "not distinguishable from the ceiling")
    return f"{fmt(row['ceiling_gap'])} [{fmt(low)}, {fmt(high)}]: {words}"


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

    print("Accuracy of replicate 0 (%), mean [95% t-interval over graphs], sd over graphs:\n")
    print("| cell | graphs | models | all graphs | sd | Barabási–Albert | Watts–Strogatz |"
          "\n|---|---|---|---|---|---|---|")
    for cell in cells:
        rows = runs_all[runs_all["family"] == cell]
        first = rows[rows["replicate"] == 0]
        per = [first[first["generator"] == g]["test_acc"] for g in ("barabasi_albert", "watts_strogatz")]
        print(f"| {cell.removeprefix('rnn_')} | {rows['graph_id'].nunique()} | {len(rows)} | "
              f"{mean_interval(first['test_acc'])} | {100 * first['test_acc'].std():.1f} | "
              + " | ".join(f"{mean_interval(v)} (n = {len(v)})" for v in per) + " |")

    table = scores_all[(scores_all["feature_set"] == "all") & scores_all["regressor"].isin(args.regressors)]
    print("\nR² (feature set all), pooled out-of-fold, mean over 3 repeats [95% bootstrap interval over graphs]; "
          "noise ceiling [95% bootstrap interval over graphs]:\n")
    print("| cell | target | graphs (models) | " + " | ".join(args.regressors)
          + " | noise ceiling | random forest minus ceiling [95%, paired] |\n|---|---|---|"
          + "---|" * (len(args.regressors) + 2))
    for (family, target), part in table.groupby(["family", "target"], sort=True):
        by = part.set_index("regressor")
        first = by.iloc[0]
        r2 = [f"{fmt(by.loc[r, 'r2_mean'])} [{fmt(by.loc[r, 'r2_ci_low'])}, {fmt(by.loc[r, 'r2_ci_high'])}]"
              if r in by.index else "–" for r in args.regressors]
        ceiling = (f"{fmt(first['noise_ceiling'])} [{fmt(first['noise_ceiling_low'])}, "
                   f"{fmt(first['noise_ceiling_high'])}]" if pd.notna(first.get("noise_ceiling")) else "–")
        gap = ceiling_words(by.loc[CHOSEN]) if CHOSEN in by.index else "–"
        print(f"| {family.removeprefix('rnn_')} | {target} | {first['n_groups']} ({first['n_models']}) | "
              + " | ".join(r2) + f" | {ceiling} | {gap} |")

    print("\nSpearman / Kendall of the random forest's out-of-fold predictions with accuracy (mean over repeats):\n")
    print("| cell | target | Spearman | Kendall |\n|---|---|---|---|")
    for _, row in table[table["regressor"] == CHOSEN].sort_values(["family", "target"]).iterrows():
        print(f"| {row['family'].removeprefix('rnn_')} | {row['target']} | {fmt(row['spearman_mean'])} | "
              f"{fmt(row['kendall_mean'])} |")

    spread = scores_all[scores_all.get("r2_split_median", pd.Series(dtype=float)).notna()]
    print("\n| cell | target | R² over single 90/10 splits: min / 5% / median / 95% / max | splits |"
          "\n|---|---|---|---|")
    for _, row in spread.sort_values(["family", "target"]).iterrows():
        print(f"| {row['family'].removeprefix('rnn_')} | {row['target']} | {fmt(row['r2_split_min'])} / "
              f"{fmt(row['r2_split_p05'])} / {fmt(row['r2_split_median'])} / {fmt(row['r2_split_p95'])} / "
              f"{fmt(row['r2_split_max'])} | {row['n_splits']} |")

    print("\n| cell | Spearman(accuracy, source nodes), replicate 0 [95% bootstrap over graphs] |\n|---|---|")
    for cell in cells:
        first = runs_all[(runs_all["family"] == cell) & (runs_all["replicate"] == 0)]
        print(f"| {cell.removeprefix('rnn_')} | "
              f"{spearman_interval(first['test_acc'].to_numpy(), first['source_nodes'].to_numpy())} |")


if __name__ == "__main__":
    main()
