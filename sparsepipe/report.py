"""Figures for the Snakemake report: pruning curves and structure-only predictors."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # batch jobs have no display

import matplotlib.pyplot as plt  # noqa: E402

from sparsepipe import io  # noqa: E402


def _save(fig: plt.Figure, out: str) -> None:
    with io.atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)


def pruning_figure(pruning_path: str, out: str) -> None:
    """Test accuracy against compression per method, right after pruning and after re-training (mean ± std
    over runs and models, one line per method and rate)."""
    table = io.read_table(pruning_path, ("method", "rate", "step", "compression", "acc_pruned", "acc_retrained"))
    table = table[table["step"] > 0]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours = dict(zip(sorted(table["method"].unique()), plt.cm.tab10.colors, strict=False))
    for (method, rate), group in table.groupby(["method", "rate"]):
        stats = group.groupby("step").agg(
            compression=("compression", "mean"), pruned=("acc_pruned", "mean"), pruned_std=("acc_pruned", "std"),
            retrained=("acc_retrained", "mean"), retrained_std=("acc_retrained", "std")).fillna(0.0)
        x = 100 * stats["compression"]
        ax.plot(x, 100 * stats["retrained"], "-o", color=colours[method], label=f"{method} {rate:g}%, re-trained")
        ax.fill_between(x, 100 * (stats["retrained"] - stats["retrained_std"]),
                        100 * (stats["retrained"] + stats["retrained_std"]), color=colours[method], alpha=0.15)
        ax.plot(x, 100 * stats["pruned"], "--x", color=colours[method], alpha=0.6, label=f"{method} {rate:g}%, pruned")
    if "acc_dense" in table:
        ax.axhline(100 * table["acc_dense"].mean(), color="grey", lw=1, ls=":", label="dense")
    ax.set_xlabel("compression (% of weights removed)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Magnitude pruning of feed-forward nets")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    _save(fig, out)


def predictors_figure(scores_path: str, predictions_path: str, out: str) -> None:
    """R² ± std per family and regressor, and predicted against true accuracy."""
    scores = io.read_table(scores_path, ("family", "regressor", "feature_set", "r2_mean", "r2_std"))
    predictions = io.read_table(predictions_path, ("family", "regressor", "feature_set", "true", "predicted"))
    scores, predictions = scores[scores["feature_set"] == "all"], predictions[predictions["feature_set"] == "all"]
    predictions = predictions[predictions["repeat"] == 0]  # each model once
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    labels = [f"{f}\n{r}" for f, r in zip(scores["family"], scores["regressor"], strict=True)]
    left.bar(labels, scores["r2_mean"], yerr=scores["r2_std"], capsize=4, color="tab:blue")
    left.axhline(0, color="black", lw=0.8)
    left.set_ylabel("R² (cross-validated)")
    left.set_title("Structure-only accuracy predictors")
    for (family, name), group in predictions.groupby(["family", "regressor"]):
        right.scatter(100 * group["true"], 100 * group["predicted"], s=10, alpha=0.5, label=f"{family} {name}")
    lo = 100 * min(predictions["true"].min(), predictions["predicted"].min())
    hi = 100 * max(predictions["true"].max(), predictions["predicted"].max())
    right.plot([lo, hi], [lo, hi], color="grey", lw=1, ls=":")
    right.set_xlabel("true test accuracy (%)")
    right.set_ylabel("predicted test accuracy (%)")
    right.set_title("Out-of-fold predictions")
    right.legend(fontsize=7)
    _save(fig, out)


def plots(pruning: str, scores: str, predictions: str, out_pruning: str, out_predictors: str) -> None:
    pruning_figure(pruning, out_pruning)
    predictors_figure(scores, predictions, out_predictors)
