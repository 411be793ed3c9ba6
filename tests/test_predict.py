import numpy as np
import pandas as pd
import pytest

from sparsepipe.errors import ConfigError, DataError
from sparsepipe.features import FEATURE_COLUMNS
from sparsepipe.predict import REGRESSORS, cross_validate, regressor


def _runs(target, n=100, seed=0):
    rng = np.random.default_rng(seed)
    table = pd.DataFrame(rng.normal(size=(n, len(FEATURE_COLUMNS))), columns=list(FEATURE_COLUMNS))
    table["family"] = "rnn_gru"
    table["graph_id"] = [f"g{i}" for i in range(n)]
    table["test_acc"] = target(table, rng)
    return table


def test_a_structural_signal_is_found_and_noise_is_not():
    signal = _runs(lambda t, rng: 0.7 + 0.05 * t["edges"] - 0.03 * t["density"] + rng.normal(0, 0.005, len(t)))
    scores, predictions, importance = cross_validate(signal, "rnn_gru", ["bayesian_ridge", "random_forest", "mean"],
                                                     5, 2, seed=0, importance=True)
    by_name = scores.set_index("regressor")
    assert by_name.loc["bayesian_ridge", "r2_mean"] > 0.95
    assert by_name.loc["random_forest", "r2_mean"] > 0.5
    assert by_name.loc["mean", "r2_mean"] < 0.05  # the baseline knows nothing
    assert (scores["n_models"] == 100).all() and (scores["n_folds"] == 10).all()
    assert len(predictions) == 3 * 2 * 100  # every model predicted once per repeat and regressor
    assert set(importance["regressor"]) == {"random_forest"}
    top = importance.nlargest(2, "importance_mean")["feature"]
    assert set(top) == {"edges", "density"}

    noise = _runs(lambda t, rng: rng.uniform(0.5, 0.9, len(t)))
    scores, _, _ = cross_validate(noise, "rnn_gru", ["bayesian_ridge"], 5, 2, seed=0)
    assert scores.loc[0, "r2_mean"] < 0.2


def test_feature_sets_are_the_papers_ablations():
    runs = _runs(lambda t, rng: 0.5 + 0.1 * t["nodes"])
    sets = ["all", "nodes_edges", "without_nodes_edges", "variances"]
    scores, _, _ = cross_validate(runs, "rnn_gru", ["linear"], 4, 1, seed=0, feature_sets=sets)
    by_set = scores.set_index("feature_set")
    assert by_set.loc["nodes_edges", "features"] == 2
    assert by_set.loc["all", "features"] == len(FEATURE_COLUMNS)
    assert by_set.loc["without_nodes_edges", "features"] == len(FEATURE_COLUMNS) - 2
    assert by_set.loc["nodes_edges", "r2_mean"] > 0.99 > by_set.loc["without_nodes_edges", "r2_mean"]
    with pytest.raises(ConfigError, match="unknown feature set"):
        cross_validate(runs, "rnn_gru", ["linear"], 4, 1, seed=0, feature_sets=["shiny"])


def test_every_regressor_is_a_scaled_pipeline():
    for name in REGRESSORS:
        assert regressor(name, 0).steps[0][0] == "standardscaler"
    with pytest.raises(ConfigError, match="unknown regressor 'xgb'"):
        regressor("xgb", 0)


def test_fewer_models_than_folds_says_how_many_are_needed():
    with pytest.raises(DataError, match="3 trained models for 5-fold.*need at least 5"):
        cross_validate(_runs(lambda t, rng: rng.uniform(size=len(t)), n=3), "rnn_gru", ["bayesian_ridge"], 5, 1, 0)


def test_constant_target_and_constant_features_are_reported_not_a_crash():
    runs = _runs(lambda t, rng: np.full(len(t), 0.5))
    runs["nodes"] = 30
    scores, _, _ = cross_validate(runs, "rnn_gru", ["random_forest"], 4, 1, 0, feature_sets=["all", "nodes_edges"])
    assert all("constant target" in note for note in scores["note"])
    assert "constant features dropped: nodes" in scores.loc[0, "note"]
    assert np.isnan(scores.loc[0, "r2_mean"])
    assert scores.loc[0, "mae_mean"] == pytest.approx(0.0)
