"""structure.reuse: a study grows across runs. A model whose identity (model_key) an earlier run table holds takes
that row instead of training, and only a model with the same settings, data, graph, replicate and device does."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from sparsepipe import io, stages
from sparsepipe.config import ConfigError, check_config
from sparsepipe.data.reber import generate_reber
from sparsepipe.data.sequences import write_sequences
from sparsepipe.graphs.generators import generate_graphs

from conftest import tiny_config, unit_params

SETTINGS = unit_params("train-structured") | {"replicates": 2, "populations": {"size": 3, "memory_gb": 2}}


def _graphs(tmp_path, count: int) -> str:
    path = tmp_path / f"graphs-{count}.parquet"
    io.write_table(generate_graphs("barabasi_albert", {"count": count, "nodes": [8, 10], "m": [1, 2]}, 0), path)
    return str(path)


def _reber(tmp_path, seed: int = 1) -> str:
    path = tmp_path / f"reber-{seed}.parquet"
    write_sequences(generate_reber(96, 48, 12, seed=seed), "ABCDEFGHIJKLMNOPQRSTUVWXYZ", str(path))
    return str(path)


def _train(tmp_path, name: str, graphs: str, data: str, settings=SETTINGS, reuse=()) -> pd.DataFrame:
    out = tmp_path / f"{name}.parquet"
    stages.structure.train_structured("gru", "barabasi_albert", 0, settings, graphs, data, str(out),
                                      reuse=[str(p) for p in reuse])
    return pd.read_parquet(out).sort_values(["graph_id", "replicate"], ignore_index=True)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three graphs trained alone (two replicates each), then five graphs reusing them, and five from scratch."""
    tmp = tmp_path_factory.mktemp("reuse")
    data = _reber(tmp)
    first = _train(tmp, "first", _graphs(tmp, 3), data)
    grown = _train(tmp, "grown", _graphs(tmp, 5), data, reuse=[tmp / "first.parquet"])
    fresh = _train(tmp, "fresh", _graphs(tmp, 5), data)
    return tmp, data, first, grown, fresh


def test_a_grown_study_trains_only_its_new_models_and_equals_a_study_run_at_once(runs):
    from sparsepipe.models import fused

    if fused.library() is None:  # the plain path's batched products can round differently with other populations
        pytest.skip("no C compiler: value-for-value equality is a property of the C wavefront")
    _, _, first, grown, fresh = runs
    assert len(first) == 6 and len(grown) == 10
    assert grown["reused"].sum() == 6 and not fresh["reused"].any()
    assert set(grown.loc[grown["reused"], "model_key"]) == set(first["model_key"])
    # the reused rows are the earlier run's, and training them again here gives the same numbers: a model's result
    # does not depend on who trains beside it (population size, which other graphs)
    pd.testing.assert_frame_equal(grown.drop(columns=["seconds", "population", "reused"]),
                                  fresh.drop(columns=["seconds", "population", "reused"]))
    assert fresh["model_key"].is_unique


def test_other_settings_or_other_data_reuse_nothing(runs, caplog):
    tmp, data, first, _, _ = runs
    graphs = _graphs(tmp, 3)
    longer = SETTINGS | {"train": SETTINGS["train"] | {"epochs": SETTINGS["train"]["epochs"] + 1}}
    with caplog.at_level("INFO"):
        other = _train(tmp, "longer", graphs, data, settings=longer, reuse=[tmp / "first.parquet"])
    assert not other["reused"].any() and "0 of 6 models taken from structure.reuse" in caplog.text
    changed = _train(tmp, "changed", graphs, _reber(tmp, seed=2), reuse=[tmp / "first.parquet"])
    assert not changed["reused"].any()
    assert not set(changed["model_key"]) & set(first["model_key"])
    # how the models are batched into jobs and populations is not part of a model's identity
    resharded = _train(tmp, "resharded", graphs, data, settings=SETTINGS | {"shards": 1, "populations": {
        "size": 1, "memory_gb": 2}}, reuse=[tmp / "first.parquet"])
    assert resharded["reused"].all()


def test_a_folder_names_every_run_table_under_it(runs, tmp_path):
    tmp, _, first, _, _ = runs
    (tmp_path / "a" / "b").mkdir(parents=True)
    io.write_table(first, tmp_path / "a" / "b" / "shard.parquet")
    io.write_table(pd.DataFrame({"x": [1]}), tmp_path / "a" / "other.parquet")  # not a run table: passed over
    assert stages.structure.reuse_tables([str(tmp_path / "a")]) == [tmp_path / "a" / "b" / "shard.parquet"]


def test_a_failed_model_is_trained_again_rather_than_reused(runs):
    tmp, data, first, _, _ = runs
    failed = first.copy()
    failed.loc[0, ["test_acc", "error"]] = [float("nan"), "could not build"]
    io.write_table(failed, tmp / "failed.parquet")
    again = _train(tmp, "again", _graphs(tmp, 3), data, reuse=[tmp / "failed.parquet"])
    assert again["reused"].sum() == 5
    assert again.loc[~again["reused"], "test_acc"].item() == first.loc[0, "test_acc"]


@pytest.mark.parametrize(("reuse", "message"), [
    (["nowhere"], "structure.reuse: nowhere: no such file or folder"),
    (["config.yaml"], "structure.reuse: config.yaml: expected a Parquet run table (.parquet) or a folder of them"),
])
def test_bad_reuse_paths_are_one_line_config_errors(tmp_path, monkeypatch, reuse, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.yaml").write_text("x: 1\n")
    config = tiny_config()
    config["structure"]["reuse"] = reuse
    with pytest.raises(ConfigError, match="^config: " + re.escape(message)):
        check_config(config)


def test_archive_runs_merges_a_runs_models_by_key_and_logs_what_it_added(runs, tmp_path):
    tmp, data, first, grown, _ = runs
    results, archive = tmp_path / "results", tmp_path / "archive"
    shard = results / "structure" / "shards" / "rnn_gru" / "barabasi_albert-0.parquet"
    shard.parent.mkdir(parents=True)
    failed = first.copy()
    failed.loc[0, ["test_acc", "error"]] = [float("nan"), "could not build"]
    io.write_table(failed, shard)
    stages.structure.archive_runs(str(results), str(archive))
    table = archive / "rnn_gru" / "barabasi_albert.parquet"
    assert len(pd.read_parquet(table)) == 5  # the failed model is left out
    io.write_table(grown, shard)
    stages.structure.archive_runs(str(results), str(archive))
    archived = pd.read_parquet(table)
    assert len(archived) == 10 and archived["model_key"].is_unique and not archived["reused"].any()
    assert set(archived["model_key"]) == set(grown["model_key"])
    provenance = (archive / "PROVENANCE.md").read_text()
    assert "rnn_gru barabasi_albert: 5 new models (5 in all" in provenance
    assert "rnn_gru barabasi_albert: 5 new models (10 in all" in provenance
    # and the archive folder is what structure.reuse names: every model of the grown study comes from it
    again = _train(tmp, "from-archive", _graphs(tmp, 5), data, reuse=stages.structure.reuse_tables([str(archive)]))
    assert again["reused"].all()
    pd.testing.assert_series_equal(again["test_acc"], grown["test_acc"])
