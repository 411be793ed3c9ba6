"""Stage ``predict`` (workflow/rules/predict.smk): structure-only accuracy predictors, cross-validated per model
family, including the nets left by pruning. Subcommands: ``sparsepipe pruned-runs``, ``predict``."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from sparsepipe import io
from sparsepipe.predict import cross_validate, targets_of
from sparsepipe.seeds import derive_seed

log = logging.getLogger(__name__)


def pruned_runs(pruning_path: str, out: str) -> None:
    """Every pruned feed-forward net (one per pruning step) as a row of the runs contract: family
    ``pruned_ffn_<dataset>``, its re-trained test accuracy, and the features of the graph of its surviving weights."""
    from sparsepipe.sweep import PRUNING_COLUMNS  # here: the sweep imports torch, which fit_predictors' jobs skip

    pruning = io.read_table(pruning_path, PRUNING_COLUMNS)
    pruning = pruning[(pruning["step"] > 0) & pruning.get("edges", pd.Series(dtype=float)).notna()]
    keys = ["dataset", "arch", "model_seed", "method", "rate", "run", "step"]
    runs = pd.DataFrame({
        "graph_id": ["/".join(map(str, k)) for k in pruning[keys].itertuples(index=False)],
        "generator": pruning["method"], "family": "pruned_ffn_" + pruning["dataset"],
        "test_acc": pruning["acc_retrained"], "test_loss": float("nan"), "epochs": pruning["retrain_epochs"],
        "seconds": pruning["seconds"]})
    features = pruning.drop(columns=[c for c in pruning.columns if c in PRUNING_COLUMNS])
    io.write_table(pd.concat([runs.reset_index(drop=True), features.reset_index(drop=True)], axis=1), out)

def fit_predictors(runs_paths: Sequence[str], settings: Mapping[str, Any], out_scores: str, out_predictions: str,
                   out_importance: str, family: str | None = None, out_noise_ceiling: str | None = None) -> None:
    """Cross-validated structure-only accuracy predictors, per model family (or of one ``family``): grouped
    repeated k-fold (:mod:`sparsepipe.predict`), the targets of ``predict.target``, the spread over single random
    splits (``predict.single_splits``) and the noise ceiling from replicates (also written to ``out_noise_ceiling``)."""
    runs = io.concat_tables(runs_paths, ("family", "test_acc", "graph_id"))
    failed = runs["test_acc"].isna()
    if failed.any():  # members whose graph could not be built (their error is in the runs table)
        log.warning("predictors: %d models without accuracy left out: %s", int(failed.sum()),
                    ", ".join(runs.loc[failed, "graph_id"].astype(str).head(5)))
        runs = runs[~failed]
    families = [family] if family is not None else sorted(runs["family"].unique())
    results = [cross_validate(runs, name, settings["regressors"], settings["folds"], settings["repeats"],
                              derive_seed(settings["seed"], "predict", name), feature_sets=settings["feature_sets"],
                              importance=True, targets=targets_of(settings.get("target", "single")),
                              single_splits=settings.get("single_splits"))
               for name in families]
    outs = (out_scores, out_predictions, out_importance, out_noise_ceiling)
    for index, out in enumerate(outs):
        if out is not None:
            io.write_table(pd.concat([r[index] for r in results], ignore_index=True), out)


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    """This stage's ``sparsepipe`` subcommands (``add``: :func:`sparsepipe.cli.add_unit` on the subparsers)."""
    p = add("pruned-runs", pruned_runs, "pruned feed-forward nets as rows of the runs contract",
            settings=False)
    p.add_argument("--pruning", required=True, dest="pruning_path")
    p.add_argument("--out", required=True)

    p = add("predict", fit_predictors, "cross-validated accuracy predictors from structure")
    p.add_argument("--runs", nargs="+", required=True, dest="runs_paths", help="tables of the runs contract")
    p.add_argument("--out-scores", required=True)
    p.add_argument("--out-predictions", required=True)
    p.add_argument("--out-importance", required=True)
    p.add_argument("--family", help="only this model family (default: every family in the runs)")
    p.add_argument("--out-noise-ceiling", help="variance components and noise ceiling per family and target")
