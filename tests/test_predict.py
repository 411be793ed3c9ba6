import numpy as np
import pandas as pd
import pytest

from sparsepipe.errors import DataError
from sparsepipe.features import FEATURE_COLUMNS
from sparsepipe.predict import cross_validate, regressor


def _runs(target, n=40, seed=0):
    rng = np.random.default_rng(seed)
    table = pd.DataFrame(rng.normal(size=(n, len(FEATURE_COLUMNS))), columns=list(FEATURE_COLUMNS))
    table["family"] = "rnn_gru"
    table["graph_id"] = [f"g{i}" for i in range(n)]
    table["test_acc"] = target(table, rng)
    return table


def test_a_structural_signal_is_found_and_noise_is_not():
    signal = _runs(lambda t, rng: 0.7 + 0.05 * t["edges"] - 0.03 * t["density"] + rng.normal(0, 0.005, len(t)))
    scores, predictions = cross_validate(signal, "rnn_gru", ["bayesian_ridge", "random_forest"], 5, 2, seed=0)
    by_name = scores.set_index("regressor")
    assert by_name.loc["bayesian_ridge", "r2_mean"] > 0.95
    assert by_name.loc["random_forest", "r2_mean"] > 0.5
    assert (scores["n_models"] == 40).all() and (scores["n_folds"] == 10).all()
    assert len(predictions) == 2 * 2 * 40  # every model predicted once per repeat and regressor

    noise = _runs(lambda t, rng: rng.uniform(0.5, 0.9, len(t)))
    scores, _ = cross_validate(noise, "rnn_gru", ["bayesian_ridge"], 5, 2, seed=0)
    assert scores.loc[0, "r2_mean"] < 0.2


def test_scaling_is_fitted_inside_the_cross_validated_pipeline():
    assert regressor("random_forest", 0).steps[0][0] == "standardscaler"


def test_fewer_models_than_folds_says_how_many_are_needed():
    with pytest.raises(DataError, match="3 trained models for 5-fold.*need at least 5"):
        cross_validate(_runs(lambda t, rng: rng.uniform(size=len(t)), n=3), "rnn_gru", ["bayesian_ridge"], 5, 1, 0)


def test_a_constant_target_is_reported_not_a_crash():
    scores, _ = cross_validate(_runs(lambda t, rng: np.full(len(t), 0.5)), "rnn_gru", ["random_forest"], 4, 1, 0)
    assert "constant target" in scores.loc[0, "note"]
    assert np.isnan(scores.loc[0, "r2_mean"])
    assert scores.loc[0, "mae_mean"] == pytest.approx(0.0)
