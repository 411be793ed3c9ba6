import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import r2_score

from sparsepipe.config import check_semantics
from sparsepipe.errors import ConfigError, DataError
from sparsepipe.features import FEATURE_COLUMNS
from sparsepipe.predict import (
    KEY_COLUMNS,
    REGRESSORS,
    check_settings,
    cross_validate,
    group_kind,
    grouped_folds,
    groups_of,
    noise_ceiling,
    regressor,
    replicate_means,
)

from conftest import default_config


def _runs(target, n=100, seed=0):
    rng = np.random.default_rng(seed)
    table = pd.DataFrame(rng.normal(size=(n, len(FEATURE_COLUMNS))), columns=list(FEATURE_COLUMNS))
    table["family"] = "rnn_gru"
    table["graph_id"] = [f"g{i}" for i in range(n)]
    table["test_acc"] = target(table, rng)
    return table


def test_a_structural_signal_is_found_and_noise_is_not():
    signal = _runs(lambda t, rng: 0.7 + 0.05 * t["edges"] - 0.03 * t["density"] + rng.normal(0, 0.005, len(t)))
    scores, predictions, importance, _ = cross_validate(signal, "rnn_gru", ["bayesian_ridge", "random_forest", "mean"],
                                                        5, 2, seed=0, importance=True)
    by_name = scores.set_index("regressor")
    assert by_name.loc["bayesian_ridge", "r2_mean"] > 0.95
    assert by_name.loc["random_forest", "r2_mean"] > 0.5
    assert by_name.loc["mean", "r2_mean"] < 0.05  # the baseline knows nothing
    assert (scores["n_models"] == 100).all() and (scores["n_groups"] == 100).all()
    assert (scores["n_folds"] == 5).all() and (scores["n_repeats"] == 2).all()
    assert len(predictions) == 3 * 2 * 100  # every model predicted once per repeat and regressor
    assert predictions["predicted"].notna().all()
    assert set(importance["regressor"]) == {"random_forest"}
    top = importance.nlargest(2, "importance_mean")["feature"]
    assert set(top) == {"edges", "density"}

    noise = _runs(lambda t, rng: rng.uniform(0.5, 0.9, len(t)))
    scores, *_ = cross_validate(noise, "rnn_gru", ["bayesian_ridge"], 5, 2, seed=0)
    assert scores.loc[0, "r2_mean"] < 0.2


def test_feature_sets_are_the_papers_ablations():
    runs = _runs(lambda t, rng: 0.5 + 0.1 * t["nodes"])
    sets = ["all", "nodes_edges", "without_nodes_edges", "variances"]
    scores, *_ = cross_validate(runs, "rnn_gru", ["linear"], 4, 1, seed=0, feature_sets=sets)
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
    with pytest.raises(DataError, match=r"rnn_gru: 3 graphs \(3 trained models\) for 5-fold.*need at least 5"):
        cross_validate(_runs(lambda t, rng: rng.uniform(size=len(t)), n=3), "rnn_gru", ["bayesian_ridge"], 5, 1, 0)
    # replicates are not groups: 4 graphs trained 3 times each are 4 groups, too few for 5 folds
    replicated = _replicated(n=4, replicates=3)
    with pytest.raises(DataError, match=r"4 graphs \(12 trained models\) for 5-fold.*need at least 5"):
        cross_validate(replicated, "rnn_gru", ["bayesian_ridge"], 5, 1, 0)


def test_constant_target_and_constant_features_are_reported_not_a_crash():
    runs = _runs(lambda t, rng: np.full(len(t), 0.5))
    runs["nodes"] = 30
    scores, *_ = cross_validate(runs, "rnn_gru", ["random_forest"], 4, 1, 0, feature_sets=["all", "nodes_edges"])
    assert all("constant target" in note for note in scores["note"])
    assert "constant features dropped: nodes" in scores.loc[0, "note"]
    assert np.isnan(scores.loc[0, "r2_mean"])
    assert scores.loc[0, "mae_mean"] == pytest.approx(0.0)


# --- grouped validation, targets, noise ceiling ---------------------------------------------------------------

def _replicated(n=60, replicates=3, between=0.05, within=0.03, seed=0):
    """``n`` graphs trained ``replicates`` times: accuracy = a structural effect of sd ``between`` (from the edges)
    plus seed noise of sd ``within``."""
    rng = np.random.default_rng(seed)
    features = pd.DataFrame(rng.normal(size=(n, len(FEATURE_COLUMNS))), columns=list(FEATURE_COLUMNS))
    features["edges"] = (features["edges"] - features["edges"].mean()) / features["edges"].std()
    features["graph_id"] = [f"g{i}" for i in range(n)]
    runs = pd.concat([features.assign(replicate=r) for r in range(replicates)], ignore_index=True)
    runs["family"] = "rnn_gru"
    runs["test_acc"] = 0.8 + between * runs["edges"] + rng.normal(0, within, len(runs))
    return runs


def _pruned_ids(seeds, methods=("obd",), rates=(50.0,), runs=(0, 1), steps=(1, 2)):
    return pd.DataFrame({"graph_id": [f"digits/100/{s}/{m}/{r}/{u}/{t}" for s in seeds for m in methods
                                      for r in rates for u in runs for t in steps]})


def test_groups_are_graphs_or_dense_nets_or_dense_net_method_and_rate():
    structure = pd.DataFrame({"graph_id": ["barabasi_albert-0001", "barabasi_albert-0001", "watts_strogatz-0001"]})
    assert list(groups_of(structure, "rnn_gru", 4)) == list(structure["graph_id"])
    assert group_kind(structure, "rnn_gru", 4) == "graphs"
    # as many dense nets as folds: every net pruned from one dense net is one group
    five = _pruned_ids(seeds=range(5), methods=("obd", "random"), rates=(50.0, 25.0))
    assert sorted(set(groups_of(five, "pruned_ffn_digits", 5))) == [f"digits/100/{s}" for s in range(5)]
    assert group_kind(five, "pruned_ffn_digits", 5) == "dense nets"
    # fewer dense nets than folds: dense net, method and rate; a run and its steps never form a group of their own
    groups = groups_of(five, "pruned_ffn_digits", 10)
    assert len(set(groups)) == 5 * 2 * 2 and "digits/100/0/obd/50.0" in set(groups)
    assert group_kind(five, "pruned_ffn_digits", 10) == "(dense net, method, rate) groups"
    one = _pruned_ids(seeds=[0])
    assert set(groups_of(one, "pruned_ffn_digits", 4)) == {"digits/100/0/obd/50.0"}
    assert len(set(groups_of(one, "pruned_ffn_digits", 4, level="run"))) == 2  # the old, leaky grouping
    with pytest.raises(DataError, match="graph_id 'digits/100/0' is not dataset/arch/model_seed/method/rate/run/step"):
        groups_of(pd.DataFrame({"graph_id": ["digits/100/0"]}), "pruned_ffn_digits", 4)


def test_too_few_pruned_groups_name_the_grouping():
    runs = _pruned_ids(seeds=[0], methods=("class_blinded",), rates=(50.0, 25.0), runs=(0, 1, 2))
    runs = runs.assign(family="pruned_ffn_digits", test_acc=np.linspace(0.5, 0.9, len(runs)), edges=range(len(runs)))
    with pytest.raises(DataError, match=r"pruned_ffn_digits: 2 \(dense net, method, rate\) groups \(12 trained "
                                        r"models\) for 4-fold.*prune with more dense nets, methods or rates"):
        cross_validate(runs, "pruned_ffn_digits", ["bayesian_ridge"], 4, 1, 0)


@pytest.fixture(scope="module")
def pruned_twice(tmp_path_factory):
    """One dense digits net pruned by class-blinded and class-uniform magnitude pruning, 2 runs per method and
    rate, through the pipeline's units (train_ffn, prune_ffn, pruned_runs)."""
    from sparsepipe import stages

    tmp = tmp_path_factory.mktemp("pruned")
    train = {"optimizer": "sgd", "epochs": 2, "batch_size": 64, "lr": 0.05, "momentum": 0.9,
             "validation_fraction": 0.1, "plateau_patience": 0}
    stages.ffn.train_ffn("digits", "16", 0, {"train": train, "seed": 0}, str(tmp), str(tmp / "dense.pt"), device="cpu")
    prune = {"schedule": "iterative", "strategy": "percent", "rates": [50, 25], "max_steps": 2,
             "min_remaining": 0.01, "runs": 2, "calibration_samples": 100, "network_features": True, "seed": 0,
             "retrain": {"mode": "fixed", "epochs": 1, "max_epochs": 2, "min_gain": 0.0, "lr": 0.3,
                         "optimizer_state": "keep"}}
    tables = []
    for method in ("class_blinded", "class_uniform"):
        stages.ffn.prune_ffn(str(tmp / "dense.pt"), method, prune, str(tmp), str(tmp / f"{method}.parquet"),
                             device="cpu")
        tables.append(pd.read_parquet(tmp / f"{method}.parquet"))
    pd.concat(tables).to_parquet(tmp / "pruning.parquet")
    stages.predict.pruned_runs(str(tmp / "pruning.parquet"), str(tmp / "runs.parquet"))
    return pd.read_parquet(tmp / "runs.parquet")


def test_two_runs_of_a_deterministic_method_share_a_fold(pruned_twice):
    runs = pruned_twice
    parts = runs["graph_id"].str.rsplit("/", n=2, expand=True).rename(columns={0: "method_rate", 1: "run", 2: "step"})
    features = [c for c in runs.columns if c not in KEY_COLUMNS and pd.api.types.is_numeric_dtype(runs[c])]
    # why: both runs of a magnitude method prune the same weights of the same dense net, so their first steps are
    # the same graph (later steps differ only by the re-training's batch order)
    first, second = (runs[mask].set_index(parts.loc[mask, "method_rate"])
                     for mask in ((parts["run"] == r) & (parts["step"] == "1") for r in ("0", "1")))
    assert len(first) == 4
    pd.testing.assert_frame_equal(first[features], second[features].loc[first.index])
    _, predictions, _, _ = cross_validate(runs, "pruned_ffn_digits", ["bayesian_ridge"], 4, 3, seed=0)
    predictions = predictions.assign(method_rate=predictions["graph_id"].str.rsplit("/", n=2).str[0])
    assert predictions.groupby(["repeat", "method_rate"])["fold"].nunique().max() == 1
    assert predictions["group"].nunique() == 4  # 2 methods x 2 rates of one dense net
    # the old grouping by run would have tested on copies of training rows
    _, leaky, _, _ = cross_validate(runs, "pruned_ffn_digits", ["bayesian_ridge"], 4, 3, seed=0, group_level="run")
    leaky = leaky.assign(method_rate=leaky["graph_id"].str.rsplit("/", n=2).str[0])
    assert leaky.groupby(["repeat", "method_rate"])["fold"].nunique().max() == 2


def test_no_graph_is_in_two_folds_and_every_row_is_tested_once_per_repeat():
    groups = np.repeat([f"g{i}" for i in range(23)], 3)  # 23 graphs, 3 replicates each
    seen = {}
    for repeat, _, train, test in grouped_folds(groups, 5, 4, seed=1):
        assert not set(groups[train]) & set(groups[test])
        assert {len(set(groups[test]))} <= {4, 5}  # groups dealt evenly over folds
        for row in test:
            seen.setdefault(repeat, []).append(row)
    assert all(sorted(rows) == list(range(len(groups))) for rows in seen.values())
    assert len(seen) == 4
    # each repeat deals the groups afresh
    tests = [tuple(sorted(set(groups[test]))) for _, fold, _, test in grouped_folds(groups, 5, 2, 1) if fold == 0]
    assert tests[0] != tests[1]
    again = [test.tolist() for *_, test in grouped_folds(groups, 5, 2, 1)]
    assert again == [test.tolist() for *_, test in grouped_folds(groups, 5, 2, 1)]  # seeded


def test_cross_validation_keeps_replicates_of_a_graph_in_one_fold():
    runs = _replicated(n=30)
    _, predictions, _, _ = cross_validate(runs, "rnn_gru", ["random_forest"], 5, 2, seed=0)
    assert predictions.groupby(["repeat", "graph_id"])["fold"].nunique().max() == 1
    assert len(predictions) == 2 * 90


def test_pooled_r2_is_computed_on_each_repeats_out_of_fold_predictions():
    runs = _runs(lambda t, rng: 0.7 + 0.05 * t["edges"] + rng.normal(0, 0.03, len(t)), n=40)
    scores, predictions, _, _ = cross_validate(runs, "rnn_gru", ["linear"], 10, 3, seed=0,
                                               feature_sets=["nodes_edges"])
    per_repeat = [r2_score(p["true"], p["predicted"]) for _, p in predictions.groupby("repeat")]
    assert len(set(per_repeat)) == 3
    assert scores.loc[0, "r2_mean"] == pytest.approx(np.mean(per_repeat))
    assert scores.loc[0, "r2_std"] == pytest.approx(np.std(per_repeat, ddof=1))
    assert scores.loc[0, "r2_low"] == pytest.approx(np.percentile(per_repeat, 2.5))
    assert scores.loc[0, "r2_high"] == pytest.approx(np.percentile(per_repeat, 97.5))
    assert 0.5 < scores.loc[0, "r2_low"] <= scores.loc[0, "r2_mean"] <= scores.loc[0, "r2_high"] < 1
    # the mean of per-fold R² (4 models a fold) is biased low against the pooled one
    assert scores.loc[0, "r2_fold_mean"] < scores.loc[0, "r2_mean"]


def test_the_r2_interval_is_over_graphs_and_narrows_with_more_of_them():
    from sparsepipe.predict import r2_interval

    rng = np.random.default_rng(0)
    widths = []
    for graphs in (20, 320):
        y = rng.normal(0, 1, graphs)
        predicted = y + rng.normal(0, 0.7, (2, graphs))  # 2 repeats; R² about 0.5
        low, high = r2_interval(y, predicted, np.arange(graphs), seed=0)
        r2 = np.mean([r2_score(y, p) for p in predicted])
        assert low < r2 < high
        widths.append(high - low)
    assert widths[1] < widths[0] / 2.5  # about sqrt(16) = 4 times narrower
    # replicates of a graph move together: ten copies of 20 graphs are as uncertain as the 20 graphs, not narrower
    y = rng.normal(0, 1, 20)
    predicted = y + rng.normal(0, 0.7, (1, 20))
    alone = r2_interval(y, predicted, np.arange(20), seed=1)
    copies = r2_interval(np.tile(y, 10), np.tile(predicted, 10), np.tile(np.arange(20), 10), seed=1)
    assert copies[1] - copies[0] > 0.6 * (alone[1] - alone[0])
    assert np.isnan(r2_interval(y[:3], predicted[:, :3], np.zeros(3), seed=0)).all()  # one group: no interval


def test_cross_validation_reports_the_r2_interval_over_graphs_around_its_mean():
    runs = _runs(lambda t, rng: 0.7 + 0.05 * t["edges"] + rng.normal(0, 0.03, len(t)), n=40)
    scores, *_ = cross_validate(runs, "rnn_gru", ["linear"], 10, 2, seed=0, feature_sets=["nodes_edges"])
    row = scores.iloc[0]
    assert row["r2_ci_low"] < row["r2_mean"] < row["r2_ci_high"]
    one, *_ = cross_validate(runs, "rnn_gru", ["linear"], 10, 1, seed=0, feature_sets=["nodes_edges"])
    assert one[["r2_low", "r2_high", "r2_std"]].isna().all(axis=None)  # one repeat has no spread, not a zero one


def test_noise_ceiling_recovers_a_known_between_graph_share():
    # sigma_b = 0.05, sigma_w = 0.03: 0.0025 / (0.0025 + 0.0009) = 0.735 for single seeds,
    # 0.0025 / (0.0025 + 0.0009 / 4) = 0.917 for the mean of 4 replicates
    rng = np.random.default_rng(3)
    graphs, replicates = 500, 4
    y = 0.8 + rng.normal(0, 0.05, graphs)[:, None] + rng.normal(0, 0.03, (graphs, replicates))
    ids = np.repeat(np.arange(graphs), replicates)
    single = noise_ceiling(y.ravel(), ids)
    assert single["noise_ceiling"] == pytest.approx(0.735, abs=0.03)
    assert single["between_var"] == pytest.approx(0.0025, rel=0.15)
    assert single["within_var"] == pytest.approx(0.0009, rel=0.1)
    assert single["noise_ceiling_low"] < single["noise_ceiling"] < single["noise_ceiling_high"]
    assert single["noise_ceiling_high"] - single["noise_ceiling_low"] < 0.1
    mean = noise_ceiling(y.ravel(), ids, replicates="data")
    assert mean["noise_ceiling"] == pytest.approx(0.917, abs=0.02)
    assert noise_ceiling(y.ravel(), ids, replicates=4)["noise_ceiling"] == pytest.approx(mean["noise_ceiling"])
    # unbalanced: drop one replicate of half the graphs; the estimate stays put
    keep = ~((ids % 2 == 0) & (np.tile(np.arange(replicates), graphs) == 0))
    assert noise_ceiling(y.ravel()[keep], ids[keep])["noise_ceiling"] == pytest.approx(0.735, abs=0.04)
    # pure seed noise: no structure to find
    noise = noise_ceiling(0.8 + rng.normal(0, 0.03, graphs * replicates), ids)
    assert noise["noise_ceiling"] < 0.05


def test_the_gap_to_the_ceiling_is_zero_for_the_graphs_own_effect_and_negative_for_a_weaker_predictor():
    from sparsepipe.predict import ceiling_gap

    rng = np.random.default_rng(4)
    graphs, replicates = 150, 2
    effect = rng.normal(0, 0.05, graphs)
    y = (0.8 + effect[:, None] + rng.normal(0, 0.03, (graphs, replicates))).ravel()
    ids = np.repeat(np.arange(graphs), replicates)
    oracle = (0.8 + effect)[ids][None, :]  # what structure could know at best: the graph's own effect
    gap, low, high = ceiling_gap(y, oracle, ids, y, ids)
    assert low < 0 < high and abs(gap) < 0.1
    weak = (0.8 + 0.5 * effect + rng.normal(0, 0.03, graphs))[ids][None, :]
    gap, low, high = ceiling_gap(y, weak, ids, y, ids)
    assert high < 0 and low < gap < high
    assert np.isnan(ceiling_gap(y[::2], oracle[:, ::2], ids[::2], y[::2], ids[::2])).all()  # no replicates


def test_no_replicates_no_ceiling_with_a_note():
    result = noise_ceiling([0.5, 0.6, 0.7], ["a", "b", "c"])
    assert np.isnan(result["noise_ceiling"]) and "no replicates" in result["note"]
    scores, _, _, ceiling = cross_validate(_runs(lambda t, rng: rng.uniform(size=len(t)), n=20), "rnn_gru",
                                           ["mean"], 4, 1, 0)
    assert np.isnan(scores.loc[0, "noise_ceiling"]) and "no replicates" in scores.loc[0, "note"]
    assert "no replicates" in ceiling.loc[0, "note"]


def test_targets_single_and_replicate_mean_with_the_ceiling_beside_every_r2():
    runs = _replicated(n=60, replicates=3)
    scores, predictions, _, ceiling = cross_validate(
        runs, "rnn_gru", ["bayesian_ridge"], 5, 2, seed=0, feature_sets=["all", "nodes_edges"],
        targets=("single", "replicate_mean"))
    by = scores.set_index(["target", "feature_set"])
    assert by.loc[("single", "all"), "n_models"] == 180 and by.loc[("replicate_mean", "all"), "n_models"] == 60
    assert (scores["n_groups"] == 60).all()
    truth = {"single": 0.0025 / (0.0025 + 0.0009), "replicate_mean": 0.0025 / (0.0025 + 0.0003)}
    for target, expected in truth.items():
        assert by.loc[(target, "all"), "noise_ceiling"] == pytest.approx(expected, abs=0.1)
        # edges carry the whole structural effect: the predictor reaches about the ceiling, not beyond it
        assert by.loc[(target, "nodes_edges"), "r2_mean"] == pytest.approx(expected, abs=0.1)
    assert by.loc[("replicate_mean", "all"), "noise_ceiling"] > by.loc[("single", "all"), "noise_ceiling"]
    assert set(ceiling["target"]) == {"single", "replicate_mean"}
    means = replicate_means(runs)
    assert len(means) == 60 and (means["n_replicates"] == 3).all()
    assert means.set_index("graph_id").loc["g0", "test_acc"] == pytest.approx(
        runs[runs["graph_id"] == "g0"]["test_acc"].mean())
    assert len(predictions[predictions["target"] == "replicate_mean"]) == 2 * 2 * 60  # feature sets x repeats


def test_the_spread_of_single_90_10_splits_is_reported():
    runs = _runs(lambda t, rng: 0.7 + 0.05 * t["edges"] + rng.normal(0, 0.03, len(t)), n=100)
    splits = {"count": 50, "test_fraction": 0.1, "regressors": ["linear"], "feature_sets": ["nodes_edges"]}
    scores, _, _, _ = cross_validate(runs, "rnn_gru", ["linear", "mean"], 5, 1, 0,
                                     feature_sets=["all", "nodes_edges"], single_splits=splits)
    row = scores.set_index(["regressor", "feature_set"]).loc[("linear", "nodes_edges")]
    assert row["n_splits"] == 50
    assert row["r2_split_min"] <= row["r2_split_p05"] < row["r2_split_median"] < row["r2_split_p95"]
    assert row["r2_split_p95"] <= row["r2_split_max"]
    assert row["r2_split_p95"] - row["r2_split_p05"] > 0.1  # 10 test models: one split is a lottery
    assert abs(row["r2_split_median"] - row["r2_mean"]) < 0.15
    others = scores[(scores["regressor"] != "linear") | (scores["feature_set"] != "nodes_edges")]
    assert others["r2_split_median"].isna().all() and (others["n_splits"] == 0).all()


def test_predict_settings_are_checked_with_the_config():
    config = default_config()
    check_semantics(config)
    with pytest.raises(ConfigError, match=r"predict.single_splits.regressors: \['svr'\] not in predict.regressors"):
        check_settings(config["predict"] | {"regressors": ["random_forest"], "single_splits": {
            "count": 5, "test_fraction": 0.1, "regressors": ["svr"], "feature_sets": ["all"]}})
    with pytest.raises(ConfigError, match="predict.target: expected one of"):
        check_settings(config["predict"] | {"target": "median"})
