"""Summaries of the pruning study: accuracy at a given compression, and the paper's comparisons.

Each run of the iterative schedule reaches a sequence of compressions (e.g. 50%, 75%, 87.5% at rate 50); the
accuracy *at* a target compression is interpolated linearly between the two steps that bracket it (runs that never
reach the target give no value and are counted as such).

The unit of replication is the dense net (``model_seed``): the rates and runs of one dense net are prunings of the
same trained weights, so they are not independent replicates of a claim about a training procedure. Comparisons
pair two methods on the same runs (dataset, arch, model_seed, rate, run), average each dense net's paired
differences, and test and bound the mean over dense nets: ``n_dense_nets`` is the n, ``ci_low`` / ``ci_high`` the
95% t-interval of the mean difference over dense nets, ``t_pvalue`` the paired t-test over dense nets (with one dense
net there is no interval and no test: NaN). ``pairs`` counts the runs behind them; ``runs_std_difference`` is the
spread of the differences within dense nets, for reference only.

Verdicts (:func:`verdict`, :func:`verdict_text`) are the one place where a comparison becomes words, for the report
and the README's tables. A claim is a difference ``a − b`` above (or below) a margin (:class:`Claim`; the paper's
"class-blinded ends 0.5 points above dense" is ``Claim(margin=0.005)``). With the 95% interval over the units (dense
nets; search seeds for the search): *shown* when the interval lies wholly on the claimed side of the margin,
*contradicted* when it lies wholly on the other side, *not shown* when it straddles the margin, and *too few dense
nets* with fewer than 2 units (no interval). The mean difference alone decides nothing. :func:`structure_verdict`
and :func:`search_verdict` word the report's other rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import t as student_t
from scipy.stats import ttest_1samp, wilcoxon

RUN_KEY = ["dataset", "arch", "model_seed", "method", "rate", "run"]
NET_KEY = ["dataset", "arch", "model_seed"]


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
    """Per (dataset, arch, method) the interpolated accuracies: mean ± std over runs, and over dense nets (each
    dense net's mean over its rates and runs) with the 95% t-interval of the mean (NaN with one dense net)."""
    summary = (runs.groupby(["dataset", "arch", "method"])
               .agg(target=("target", "first"), runs=("run", "size"), runs_reaching=("reached", "sum"),
                    dense_nets=("model_seed", "nunique"), acc_dense=("acc_dense", "mean"),
                    acc_pruned_mean=("acc_pruned", "mean"), acc_pruned_std=("acc_pruned", "std"),
                    acc_retrained_mean=("acc_retrained", "mean"), acc_retrained_std=("acc_retrained", "std"))
               .reset_index())
    per_net = runs.groupby(["dataset", "arch", "method", "model_seed"])["acc_retrained"].mean().dropna()
    bounds = per_net.groupby(level=["dataset", "arch", "method"]).agg(
        acc_retrained_net_std="std", acc_retrained_ci_low=lambda v: _interval(v.to_numpy())[0],
        acc_retrained_ci_high=lambda v: _interval(v.to_numpy())[1])
    return summary.merge(bounds.reset_index(), on=["dataset", "arch", "method"], how="left")


def _interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The ``level`` t-interval of the mean of ``values`` (NaN for fewer than two)."""
    n = len(values)
    if n < 2:
        return np.nan, np.nan
    half = student_t.ppf(0.5 + level / 2, n - 1) * values.std(ddof=1) / np.sqrt(n)
    return float(values.mean() - half), float(values.mean() + half)


def compare_methods(runs: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """Re-trained accuracy of ``a`` against ``b``, paired per run and compared over dense nets, per dataset/arch."""
    rows = []
    pair_key = NET_KEY + ["rate", "run"]
    for (dataset, arch), group in runs.groupby(["dataset", "arch"]):
        left = group[group["method"] == a].set_index(pair_key)["acc_retrained"]
        right = group[group["method"] == b].set_index(pair_key)["acc_retrained"]
        paired = pd.concat([left.rename("a"), right.rename("b")], axis=1, join="inner").dropna()
        rows.append(_paired_row(dataset, arch, f"{a} vs {b}", paired.reset_index()))
    return pd.DataFrame(rows)


def compare_with_dense(runs: pd.DataFrame, method: str) -> pd.DataFrame:
    """Re-trained accuracy of ``method`` against its dense net's accuracy, compared over dense nets."""
    rows = []
    for (dataset, arch), group in runs[runs["method"] == method].groupby(["dataset", "arch"]):
        paired = group.dropna(subset=["acc_retrained"]).rename(columns={"acc_retrained": "a", "acc_dense": "b"})
        rows.append(_paired_row(dataset, arch, f"{method} vs dense", paired))
    return pd.DataFrame(rows)


def paired_difference(a: Sequence[float], b: Sequence[float]) -> dict[str, float]:
    """``a − b`` paired by position (one pair per unit, e.g. per search seed): the mean difference, its 95%
    t-interval (``ci_low``, ``ci_high``; NaN below 2 units), the paired t-test's p-value and ``n``."""
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    low, high = _interval(diff)
    varied = len(diff) > 1 and np.ptp(diff) > 0
    return {"n": len(diff), "mean_difference": float(diff.mean()) if len(diff) else np.nan, "ci_low": low,
            "ci_high": high, "t_pvalue": float(ttest_1samp(diff, 0.0).pvalue) if varied else np.nan}


def _paired_row(dataset: str, arch: str, comparison: str, paired: pd.DataFrame) -> dict[str, object]:
    """``paired``: one row per run with its dense net's key and accuracies ``a`` and ``b``."""
    paired = paired.assign(diff=paired["a"] - paired["b"])
    nets = paired.groupby("model_seed")[["a", "b", "diff"]].mean()
    diff = nets["diff"].to_numpy()
    n = len(diff)
    varied = n > 1 and np.ptp(diff) > 0
    low, high = _interval(diff)
    return {
        "dataset": dataset, "arch": arch, "comparison": comparison, "unit": "dense net", "n_dense_nets": n,
        "pairs": len(paired),
        "mean_a": float(nets["a"].mean()) if n else np.nan, "mean_b": float(nets["b"].mean()) if n else np.nan,
        "mean_difference": float(diff.mean()) if n else np.nan, "ci_low": low, "ci_high": high,
        "std_difference": float(diff.std(ddof=1)) if n > 1 else np.nan,
        "runs_std_difference": float(paired["diff"].std(ddof=1)) if len(paired) > 1 else np.nan,
        "t_pvalue": float(ttest_1samp(diff, 0.0).pvalue) if varied else np.nan,
        "wilcoxon_pvalue": float(wilcoxon(diff).pvalue) if varied and np.count_nonzero(diff) > 0 else np.nan,
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


# --- verdicts: a comparison in words ------------------------------------------------------------------------------

SHOWN, NOT_SHOWN, CONTRADICTED = "shown", "not shown", "contradicted"
MIN_UNITS = 2  # an interval needs at least two units


@dataclass(frozen=True)
class Claim:
    """The claim ``a − b > margin`` (``side="above"``) or ``a − b < margin`` (``side="below"``), in accuracy
    fractions: ``Claim(margin=0.005)`` is "a ends more than 0.5 points above b"."""

    margin: float = 0.0
    side: str = "above"

    def __post_init__(self) -> None:
        if self.side not in ("above", "below"):
            raise ValueError(f"Claim.side: expected 'above' or 'below', got {self.side!r}")


PAPER_CLAIMS: dict[str, Claim] = {
    "class_blinded vs dense": Claim(margin=0.005),  # 97.5% pruned and re-trained against 97.0% dense (MNIST)
    "class_blinded vs class_uniform": Claim(),  # "class-uniform is significantly worse"
}


def too_few(unit: str = "dense nets") -> str:
    return f"too few {unit}"


def verdict(low: float, high: float, n: int, claim: Claim = Claim(), unit: str = "dense nets") -> str:
    """``shown``, ``not shown``, ``contradicted`` or ``too few <unit>``: where the 95% interval ``[low, high]``
    over ``n`` units lies against the claim's margin (see the module's docstring)."""
    if n < MIN_UNITS:
        return too_few(unit)
    if low != low or high != high:  # no interval (NaN): nothing is shown
        return NOT_SHOWN
    claimed, other = (low > claim.margin, high < claim.margin) if claim.side == "above" else (
        high < claim.margin, low > claim.margin)
    return SHOWN if claimed else CONTRADICTED if other else NOT_SHOWN


def _points(value: float) -> str:
    return f"{100 * value:+.2f}"


def verdict_text(low: float, high: float, n: int, claim: Claim = Claim(), unit: str = "dense nets") -> str:
    """:func:`verdict` with its reason, e.g. ``shown: the 95% interval over 5 dense nets, [+0.57, +0.90] points,
    lies above +0.00``."""
    word = verdict(low, high, n, claim, unit)
    if word == too_few(unit):
        return f"{word}: {n}, and an interval needs at least {MIN_UNITS}"
    other = "below" if claim.side == "above" else "above"
    where = {SHOWN: f"lies {claim.side}", CONTRADICTED: f"lies {other}", NOT_SHOWN: "straddles"}
    return (f"{word}: the 95% interval over {n} {unit}, [{_points(low)}, {_points(high)}] points, {where[word]} "
            f"{_points(claim.margin)}")


def comparison_verdict(row: pd.Series | dict, claim: Claim | None = None) -> str:
    """:func:`verdict_text` of a row of ``ffn/comparisons.parquet`` against ``claim`` (default: the paper's,
    :data:`PAPER_CLAIMS`, else ``a − b > 0``)."""
    name = row["comparison"] if "comparison" in row else getattr(row, "name", "")  # or a comparison-indexed row
    claim = claim or PAPER_CLAIMS.get(str(name), Claim())
    return verdict_text(float(row["ci_low"]), float(row["ci_high"]), int(row["n_dense_nets"]), claim)


def structure_verdict(r2_low: float, r2_high: float, paper_r2: float, n_groups: int,
                      ceiling_low: float = float("nan"), ceiling_high: float = float("nan")) -> str:
    """The structure claim (R² of structure-only predictors reaches the paper's figure) from the 95% interval of
    R² over graphs (:func:`sparsepipe.predict.r2_interval`), never from the mean: ``shown`` when the interval lies
    above the paper's figure, ``contradicted`` when below, ``not shown`` when it straddles it, with n; and the noise
    ceiling when its interval lies wholly below the paper's figure (no structure-only predictor can be expected to
    reach it then). No single split decides anything: one 90/10 split is one of many noisy draws."""
    if n_groups < MIN_UNITS or r2_low != r2_low or r2_high != r2_high:
        text = f"not shown: no interval over graphs (n = {n_groups})"
    else:
        word = SHOWN if r2_low >= paper_r2 else CONTRADICTED if r2_high < paper_r2 else NOT_SHOWN
        where = {SHOWN: "lies above", CONTRADICTED: "lies below", NOT_SHOWN: "straddles"}[word]
        text = f"{word}: the 95% interval over {n_groups} graphs, [{r2_low:.2f}, {r2_high:.2f}], {where} {paper_r2}"
    if ceiling_high == ceiling_high and ceiling_high < paper_r2:
        text += (f" (the noise ceiling's interval, [{ceiling_low:.2f}, {ceiling_high:.2f}], lies below {paper_r2}: "
                 f"no structure-only predictor can be expected to reach it here)")
    return text


def search_verdict(fitness: float, val: Sequence[float]) -> str:
    """Whether the search's own maximum (``fitness``, the winner's validation accuracy in the search: the largest of
    many single-seed draws) overstates the winner: the 95% t-interval over fresh seeds of ``fitness`` minus each
    fresh seed's validation accuracy (same split, so the gap is selection, not the split)."""
    gap = paired_difference([fitness] * len(val), val)
    word = verdict(gap["ci_low"], gap["ci_high"], gap["n"], unit="fresh seeds")
    if word == too_few("fresh seeds"):
        return f"{word}: {gap['n']}, and an interval needs at least {MIN_UNITS}"
    says = {SHOWN: "the search's maximum overstates its winner", CONTRADICTED: "the search's maximum understates its "
            "winner", NOT_SHOWN: "the search's maximum is not distinguishable from its winner"}[word]
    return (f"{says}: {_points(gap['mean_difference'])} points on the validation split, 95% interval over "
            f"{gap['n']} fresh seeds [{_points(gap['ci_low'])}, {_points(gap['ci_high'])}]")
