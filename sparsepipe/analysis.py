"""Summaries of the pruning study: accuracy at a given compression, and the paper's comparisons.

Each run of the iterative schedule reaches a sequence of compressions (e.g. 50%, 75%, 87.5% at rate 50); the
accuracy *at* a target compression is interpolated linearly between the two steps that bracket it (runs that never
reach the target give no value and are counted as such). Comparisons between methods are paired by
(dataset, arch, model_seed, rate, run): the same dense model, the same rate, the same run index.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import ttest_1samp, ttest_rel, wilcoxon

RUN_KEY = ["dataset", "arch", "model_seed", "method", "rate", "run"]


def at_compression(pruning: pd.DataFrame, target: float | Sequence[float] = 0.8) -> pd.DataFrame:
    """One row per run and target: accuracy after pruning and after re-training interpolated at ``target``
    compression (one target or several; each run's curve is read once for all of them)."""
    targets = np.atleast_1d(np.asarray(target, dtype=float))
    rows = []
    for key, run in pruning[pruning["step"] > 0].sort_values("step").groupby(RUN_KEY):
        x = np.concatenate([[0.0], run["compression"].to_numpy()])
        dense = float(run["acc_dense"].iloc[0])
        reached = x[-1] >= targets
        curves = {column: np.where(reached, np.interp(targets, x, np.concatenate([[dense], run[column].to_numpy()])),
                                   np.nan)
                  for column in ("acc_pruned", "acc_retrained")}
        for i, t in enumerate(targets):
            rows.append(dict(zip(RUN_KEY, key, strict=True)) | {
                "target": float(t), "reached": bool(reached[i]), "acc_pruned": float(curves["acc_pruned"][i]),
                "acc_retrained": float(curves["acc_retrained"][i]), "acc_dense": dense})
    return pd.DataFrame(rows)


def method_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std over runs per (dataset, arch, method) of the interpolated accuracies."""
    return (runs.groupby(["dataset", "arch", "method"])
            .agg(target=("target", "first"), runs=("run", "size"), runs_reaching=("reached", "sum"),
                 acc_dense=("acc_dense", "mean"), acc_pruned_mean=("acc_pruned", "mean"),
                 acc_pruned_std=("acc_pruned", "std"), acc_retrained_mean=("acc_retrained", "mean"),
                 acc_retrained_std=("acc_retrained", "std"))
            .reset_index())


def compare_methods(runs: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """Paired comparison of re-trained accuracy, ``a`` against ``b`` (t-test and Wilcoxon), per dataset/arch."""
    rows = []
    pair_key = ["dataset", "arch", "model_seed", "rate", "run"]
    for (dataset, arch), group in runs.groupby(["dataset", "arch"]):
        left = group[group["method"] == a].set_index(pair_key)["acc_retrained"]
        right = group[group["method"] == b].set_index(pair_key)["acc_retrained"]
        paired = pd.concat([left.rename("a"), right.rename("b")], axis=1, join="inner").dropna()
        rows.append(_paired_row(dataset, arch, f"{a} vs {b}", paired["a"].to_numpy(), paired["b"].to_numpy()))
    return pd.DataFrame(rows)


def compare_with_dense(runs: pd.DataFrame, method: str) -> pd.DataFrame:
    """Re-trained accuracy of ``method`` against its dense model's accuracy, paired per run."""
    rows = []
    for (dataset, arch), group in runs[runs["method"] == method].groupby(["dataset", "arch"]):
        group = group.dropna(subset=["acc_retrained"])
        rows.append(_paired_row(dataset, arch, f"{method} vs dense", group["acc_retrained"].to_numpy(),
                                group["acc_dense"].to_numpy()))
    return pd.DataFrame(rows)


def _paired_row(dataset: str, arch: str, comparison: str, a: np.ndarray, b: np.ndarray) -> dict[str, object]:
    diff = a - b
    n = len(diff)
    varied = n > 1 and np.ptp(diff) > 0
    return {
        "dataset": dataset, "arch": arch, "comparison": comparison, "pairs": n,
        "mean_a": float(a.mean()) if n else np.nan, "mean_b": float(b.mean()) if n else np.nan,
        "mean_difference": float(diff.mean()) if n else np.nan,
        "std_difference": float(diff.std(ddof=1)) if n > 1 else np.nan,
        "t_pvalue": float(ttest_rel(a, b).pvalue) if varied else np.nan,
        "wilcoxon_pvalue": float(wilcoxon(diff).pvalue) if varied and np.count_nonzero(diff) > 0 else np.nan,
        "one_sample_pvalue": float(ttest_1samp(diff, 0.0).pvalue) if varied else np.nan,
    }


def paper_check(pruning: pd.DataFrame, target: float = 0.8) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The paper's check: per-method accuracy at ``target`` compression, and the two comparisons it makes."""
    runs = at_compression(pruning, target)
    summary = method_summary(runs)
    methods = set(runs["method"])
    comparisons = []
    if "class_blinded" in methods:
        comparisons.append(compare_with_dense(runs, "class_blinded"))
        if "class_uniform" in methods:
            comparisons.append(compare_methods(runs, "class_blinded", "class_uniform"))
    table = pd.concat(comparisons, ignore_index=True) if comparisons else pd.DataFrame()
    return summary, table
