"""Resumable units resume only state saved under their own settings (``.partial`` files carry a settings digest)."""

import pandas as pd
import pytest

from sparsepipe import io, units
from sparsepipe.graphs.generators import generate_graphs

from conftest import unit_params


@pytest.fixture
def graphs_table(tmp_path):
    path = tmp_path / "graphs.parquet"
    io.write_table(generate_graphs("barabasi_albert", {"count": 4, "nodes": [8], "m": [1, 2]}, 0), path)
    return str(path)


def _shard(graphs_table, out, settings, trained, die_after=None):
    def train_one(row, seed):
        if die_after is not None and len(trained) == die_after:
            raise KeyboardInterrupt("killed")
        trained.append(row["graph_id"])
        return 0.5, 1.0

    units._train_shard(graphs_table, 0, settings, "barabasi_albert", "rnn_gru", out, train_one)


def test_a_shard_resumes_its_own_partial_and_starts_fresh_after_a_settings_change(tmp_path, graphs_table, caplog):
    settings = unit_params("train-structured")
    out = str(tmp_path / "shard.parquet")
    trained: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        _shard(graphs_table, out, settings, trained, die_after=2)
    assert len(pd.read_parquet(f"{out}.partial")) == 2

    resumed: list[str] = []
    _shard(graphs_table, out, settings, resumed)  # same settings: only the two that were left
    assert resumed == ["barabasi_albert-0002", "barabasi_albert-0003"]

    with pytest.raises(KeyboardInterrupt):
        _shard(graphs_table, out, settings, [], die_after=2)
    changed = settings | {"train": settings["train"] | {"epochs": 7}}
    fresh: list[str] = []
    with caplog.at_level("INFO"):
        _shard(graphs_table, out, changed, fresh)
    assert len(fresh) == 4 and "settings changed, starting fresh" in caplog.text
    assert (pd.read_parquet(out)["epochs"] == 7).all()


def test_a_search_does_not_resume_another_searchs_generations(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(units, "train_candidate", lambda task, genome, seed, settings, data: 0.5)
    settings = unit_params("search")
    out = tmp_path / "individuals.parquet"
    io.save_partial(pd.DataFrame({"generation": [0, 1, 2]}), f"{out}.partial", io.settings_digest({"other": 1}))
    with caplog.at_level("INFO"):
        units.search_architectures("ffn_digits", settings, str(tmp_path), str(out), str(tmp_path / "best.graphml"))
    assert "nas ffn_digits: settings changed, starting fresh" in caplog.text
    table = pd.read_parquet(out)
    assert table["generation"].max() == settings["generations"]
    assert not (tmp_path / "individuals.parquet.partial").exists()
