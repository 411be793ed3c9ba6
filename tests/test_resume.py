"""Resumable units resume only state saved under their own settings (``.partial`` files carry a settings digest)."""

import pandas as pd
import pytest

from sparsepipe import io, populations, units
from sparsepipe.graphs.generators import generate_graphs

from conftest import unit_params


@pytest.fixture
def graphs_table(tmp_path):
    path = tmp_path / "graphs.parquet"
    io.write_table(generate_graphs("barabasi_albert", {"count": 4, "nodes": [8], "m": [1, 2]}, 0), path)
    return str(path)


def _shard(graphs_table, out, settings, trained, die_after=None, monkeypatch=None):
    """The shard's bookkeeping with a stand-in trainer: populations of two, each member 'trained' instantly."""
    def train(candidates, *args, **kwargs):
        for start in range(0, len(candidates), 2):
            if die_after is not None and len(trained) == die_after:
                raise KeyboardInterrupt("killed")
            members = candidates[start : start + 2]
            trained.extend(c.key.rpartition("#")[0] for c in members)
            yield [populations.Outcome(c.key, 0.5, 1.0, 0.1, len(members)) for c in members]

    monkeypatch.setattr(units.populations, "train", train)
    units._train_shard(graphs_table, 0, settings, "barabasi_albert", "rnn_gru", out, lambda row: None, (), (),
                       None, None)


def test_a_shard_resumes_its_own_partial_and_starts_fresh_after_a_settings_change(tmp_path, graphs_table, caplog,
                                                                                 monkeypatch):
    settings = unit_params("train-structured")
    out = str(tmp_path / "shard.parquet")
    trained: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        _shard(graphs_table, out, settings, trained, die_after=2, monkeypatch=monkeypatch)
    assert len(pd.read_parquet(f"{out}.partial")) == 2

    resumed: list[str] = []
    _shard(graphs_table, out, settings, resumed, monkeypatch=monkeypatch)  # same settings: only the two that were left
    assert resumed == ["barabasi_albert-0002", "barabasi_albert-0003"]

    with pytest.raises(KeyboardInterrupt):
        _shard(graphs_table, out, settings, [], die_after=2, monkeypatch=monkeypatch)
    changed = settings | {"train": settings["train"] | {"epochs": 7}}
    fresh: list[str] = []
    with caplog.at_level("INFO"):
        _shard(graphs_table, out, changed, fresh, monkeypatch=monkeypatch)
    assert len(fresh) == 4 and "settings changed, starting fresh" in caplog.text
    assert (pd.read_parquet(out)["epochs"] == 7).all()


def test_a_search_does_not_resume_another_searchs_generations(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(units, "train_candidates", lambda task, genomes, seeds, settings, data: [0.5] * len(genomes))
    settings = unit_params("search")
    out = tmp_path / "individuals.parquet"
    io.save_partial(pd.DataFrame({"generation": [0, 1, 2]}), f"{out}.partial", io.settings_digest({"other": 1}))
    with caplog.at_level("INFO"):
        units.search_architectures("ffn_digits", settings, str(tmp_path), str(out), str(tmp_path / "best.graphml"))
    assert "nas ffn_digits: settings changed, starting fresh" in caplog.text
    table = pd.read_parquet(out)
    assert table["generation"].max() == settings["generations"]
    assert not (tmp_path / "individuals.parquet.partial").exists()
