"""Predict a network's accuracy from its structure alone, scored by repeated k-fold cross-validation.

Scaling lives inside each cross-validated pipeline, so no statistic of a test fold leaks into training.
Scores per fold: R², Spearman's rho, Kendall's tau and MAE; predictions of every model are kept for plots.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import kendalltau, spearmanr
from sklearn.base import clone
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import BayesianRidge
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import RepeatedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from sparsepipe.errors import ConfigError, DataError
from sparsepipe.features import FEATURE_COLUMNS


def regressor(name: str, seed: int) -> Pipeline:
    """A scaler + regressor pipeline by name."""
    if name == "random_forest":
        model = RandomForestRegressor(n_estimators=200, random_state=seed, n_jobs=1)
    elif name == "bayesian_ridge":
        model = BayesianRidge()
    else:
        raise ConfigError(f"predict.regressors: unknown regressor {name!r}; expected random_forest or bayesian_ridge")
    return make_pipeline(StandardScaler(), model)


FEATURE_SETS = {"all": FEATURE_COLUMNS}


def cross_validate(runs: pd.DataFrame, family: str, regressors: Sequence[str], folds: int, repeats: int,
                   seed: int, target: str = "test_acc") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scores (one row per regressor and feature set) and out-of-fold predictions for one model family."""
    data = runs[runs["family"] == family]
    if len(data) < folds:
        raise DataError(f"family {family}: {len(data)} trained models for {folds}-fold cross-validation; "
                        f"need at least {folds} (train more graphs or lower predict.folds)")
    y = data[target].to_numpy(dtype=float)
    constant_target = bool(np.ptp(y) == 0)
    scores, predictions = [], []
    for feature_set, columns in FEATURE_SETS.items():
        x = data[list(columns)].to_numpy(dtype=float)
        for name in regressors:
            fold_scores = []
            splitter = RepeatedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
            for fold, (train, test) in enumerate(splitter.split(x)):
                model = clone(regressor(name, seed)).fit(x[train], y[train])
                predicted = model.predict(x[test])
                fold_scores.append(_fold_scores(y[test], predicted))
                predictions.append(pd.DataFrame({
                    "family": family, "regressor": name, "feature_set": feature_set, "repeat": fold // folds,
                    "fold": fold % folds, "graph_id": data["graph_id"].to_numpy()[test], "true": y[test],
                    "predicted": predicted}))
            table = pd.DataFrame(fold_scores)
            scores.append({
                "family": family, "regressor": name, "feature_set": feature_set,
                "r2_mean": table["r2"].mean(), "r2_std": table["r2"].std(ddof=0),
                "spearman_mean": table["spearman"].mean(), "kendall_mean": table["kendall"].mean(),
                "mae_mean": table["mae"].mean(), "n_models": len(data), "n_folds": len(table),
                "note": "constant target: R² and rank correlations undefined" if constant_target else "",
            })
    return pd.DataFrame(scores), pd.concat(predictions, ignore_index=True)


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
