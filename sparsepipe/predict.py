"""Predict a network's accuracy from its structure alone, scored by repeated k-fold cross-validation.

Scaling lives inside each cross-validated pipeline, so no statistic of a test fold leaks into training. Scores per
fold: R², Spearman's rho, Kendall's tau and MAE; out-of-fold predictions of every model are kept for plots, and
permutation importances are measured on the held-out folds. Feature sets reproduce the paper's ablations.
Constant features carry no information and are dropped (and reported); a constant target makes R² and the rank
correlations undefined: they are NaN with a note, never a crash.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy.stats import kendalltau, spearmanr
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import AdaBoostRegressor, GradientBoostingRegressor, RandomForestRegressor
from sklearn.inspection import permutation_importance
from sklearn.linear_model import BayesianRidge, LinearRegression
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import RepeatedKFold
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR

from sparsepipe.errors import ConfigError, DataError

REGRESSORS: dict[str, Callable[[int], object]] = {
    "bayesian_ridge": lambda seed: BayesianRidge(),
    "random_forest": lambda seed: RandomForestRegressor(n_estimators=100, random_state=seed, n_jobs=1),
    "ada_boost": lambda seed: AdaBoostRegressor(n_estimators=100, random_state=seed),
    "gradient_boosting": lambda seed: GradientBoostingRegressor(random_state=seed),
    "svr": lambda seed: SVR(),
    "knn": lambda seed: KNeighborsRegressor(n_neighbors=5),
    "linear": lambda seed: LinearRegression(),
    "mean": lambda seed: DummyRegressor(strategy="mean"),
}
FEATURE_SETS = ("all", "nodes_edges", "without_nodes_edges", "variances", "weights_only")
KEY_COLUMNS = ("graph_id", "generator", "seed", "params", "family", "test_acc", "test_loss", "epochs", "seconds")


def regressor(name: str, seed: int) -> Pipeline:
    """A scaler + regressor pipeline by name."""
    if name not in REGRESSORS:
        raise ConfigError(f"predict.regressors: unknown regressor {name!r}; expected one of {list(REGRESSORS)}")
    return make_pipeline(StandardScaler(), REGRESSORS[name](seed))


def feature_columns(table: pd.DataFrame, feature_set: str, candidates: Sequence[str]) -> list[str]:
    """The columns of one of the paper's feature sets."""
    columns = [c for c in candidates if c in table.columns]
    if feature_set == "all":
        return columns
    if feature_set == "nodes_edges":
        return [c for c in columns if c in ("nodes", "edges")]
    if feature_set == "without_nodes_edges":
        return [c for c in columns if c not in ("nodes", "edges")]
    if feature_set == "variances":
        return [c for c in columns if c.endswith("_var")]
    if feature_set == "weights_only":  # the baseline of pruned nets: how many weights survive, nothing else
        return [c for c in columns if c == "edges"]
    raise ConfigError(f"predict.feature_sets: unknown feature set {feature_set!r}; "
                      f"expected one of {list(FEATURE_SETS)}")


def _fold_scores(true: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Scores of one fold; undefined ones (constant fold targets or predictions) are NaN, never a crash."""
    varied = np.ptp(true) > 0
    ranked = varied and np.ptp(predicted) > 0
    return {
        "r2": r2_score(true, predicted) if varied else np.nan,
        "spearman": spearmanr(true, predicted).statistic if ranked else np.nan,
        "kendall": kendalltau(true, predicted).statistic if ranked else np.nan,
        "mae": mean_absolute_error(true, predicted),
    }


def cross_validate(runs: pd.DataFrame, family: str, regressors: Sequence[str], folds: int, repeats: int, seed: int,
                   target: str = "test_acc", feature_sets: Sequence[str] = ("all",),
                   candidates: Sequence[str] | None = None, importance: bool = False
                   ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Scores (one row per regressor and feature set), out-of-fold predictions, and permutation importances
    (feature set ``all``, held-out folds of the first repeat, random forest or else the first regressor) for one
    model family."""
    data = runs[runs["family"] == family].reset_index(drop=True)
    if len(data) < folds:
        raise DataError(f"family {family}: {len(data)} trained models for {folds}-fold cross-validation; "
                        f"need at least {folds} (train more graphs or lower predict.folds)")
    if candidates is None:
        candidates = [c for c in data.columns if c not in KEY_COLUMNS and pd.api.types.is_numeric_dtype(data[c])]
    y = data[target].to_numpy(dtype=float)
    constant_target = bool(np.ptp(y) == 0)
    ids = data["graph_id"].to_numpy() if "graph_id" in data else np.arange(len(data))
    # permutation importance is costly: measured for one regressor, the random forest where it is fitted
    importance_of = "random_forest" if "random_forest" in regressors else regressors[0]
    scores, predictions, importances = [], [], []
    for feature_set in feature_sets:
        columns = feature_columns(data, feature_set, candidates)
        constant = [c for c in columns if data[c].nunique(dropna=False) <= 1]
        columns = [c for c in columns if c not in constant]
        notes = []
        if constant_target:
            notes.append("constant target: R² and rank correlations undefined")
        if constant:
            notes.append(f"constant features dropped: {', '.join(constant)}")
        if not columns:
            notes.append("no informative feature: scored as the mean predictor")
        x = data[columns].to_numpy(dtype=float) if columns else np.zeros((len(data), 1))
        for name in regressors:
            fold_scores = []
            splitter = RepeatedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
            for fold, (train, test) in enumerate(splitter.split(x)):
                model = regressor(name if columns else "mean", seed).fit(x[train], y[train])
                predicted = model.predict(x[test])
                fold_scores.append(_fold_scores(y[test], predicted))
                predictions.append(pd.DataFrame({
                    "family": family, "regressor": name, "feature_set": feature_set, "repeat": fold // folds,
                    "fold": fold % folds, "graph_id": ids[test], "true": y[test], "predicted": predicted}))
                if (importance and name == importance_of and feature_set == "all" and columns and fold < folds
                        and len(test) > 1):
                    result = permutation_importance(model, x[test], y[test], n_repeats=5, random_state=seed,
                                                    scoring="neg_mean_absolute_error")
                    importances.append(pd.DataFrame({"family": family, "regressor": name, "fold": fold,
                                                     "feature": columns, "importance": result.importances_mean}))
            table = pd.DataFrame(fold_scores)
            scores.append({
                "family": family, "regressor": name, "feature_set": feature_set, "features": len(columns),
                "r2_mean": table["r2"].mean(), "r2_std": table["r2"].std(ddof=0),
                "spearman_mean": table["spearman"].mean(), "kendall_mean": table["kendall"].mean(),
                "mae_mean": table["mae"].mean(), "mae_std": table["mae"].std(ddof=0), "n_models": len(data),
                "n_folds": len(table), "note": "; ".join(notes),
            })
    importance_table = (pd.concat(importances, ignore_index=True)
                        .groupby(["family", "regressor", "feature"], as_index=False)
                        .agg(importance_mean=("importance", "mean"), importance_std=("importance", "std"))
                        if importances else pd.DataFrame(columns=["family", "regressor", "feature",
                                                                  "importance_mean", "importance_std"]))
    return pd.DataFrame(scores), pd.concat(predictions, ignore_index=True), importance_table
