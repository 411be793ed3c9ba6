"""Resumable units resume only state saved under their own settings (``.partial`` files carry a settings digest)."""

from pathlib import Path

import pandas as pd
import pytest
import torch

from sparsepipe import io, populations, stages
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

    monkeypatch.setattr(stages.structure.populations, "train", train)
    stages.structure._train_shard(graphs_table, 0, settings, "barabasi_albert", "rnn_gru", out, lambda row: None,
                                  (), (), None, torch.device("cpu"))


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
    monkeypatch.setattr(stages.nas, "train_candidates",
                        lambda task, genomes, seeds, settings, data: [0.5] * len(genomes))
    settings = unit_params("search")
    out = tmp_path / "individuals.parquet"
    io.save_partial(pd.DataFrame({"generation": [0, 1, 2]}), f"{out}.partial", io.settings_digest({"other": 1}))
    with caplog.at_level("INFO"):
        stages.nas.search_architectures("ffn_digits", settings, str(tmp_path), str(out), str(tmp_path / "best.graphml"))
    assert "nas ffn_digits: settings changed, starting fresh" in caplog.text
    table = pd.read_parquet(out)
    assert table["generation"].max() == settings["generations"]
    assert not (tmp_path / "individuals.parquet.partial").exists()


# --- resumable state is bound to its inputs' content: kill, change the data, rerun, get the fresh result ---------

def _reber_table(path, seed: int) -> str:
    from sparsepipe.data.reber import generate_reber
    from sparsepipe.data.sequences import write_sequences

    write_sequences(generate_reber(64, 32, 12, seed=seed), "ABCDEFGHIJKLMNOPQRSTUVWXYZ", str(path))
    return str(path)


def _killed_after_first_population(monkeypatch):
    """populations.train that dies (as a killed job would) after its first population was saved."""
    real = stages.structure.populations.train

    def train(*args, **kwargs):
        for count, finished in enumerate(real(*args, **kwargs)):
            if count == 1:
                raise KeyboardInterrupt("killed")
            yield finished

    monkeypatch.setattr(stages.structure.populations, "train", train)
    return real


def test_a_killed_shard_rerun_on_changed_data_gives_exactly_the_fresh_result(tmp_path, graphs_table, monkeypatch,
                                                                             caplog):
    settings = unit_params("train-structured") | {"populations": {"size": 2, "memory_gb": 2}}
    old, new = _reber_table(tmp_path / "old.parquet", 1), _reber_table(tmp_path / "new.parquet", 2)
    out = str(tmp_path / "shard.parquet")
    real = _killed_after_first_population(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        stages.structure.train_structured("gru", "barabasi_albert", 0, settings, graphs_table, old, out)
    assert len(pd.read_parquet(f"{out}.partial")) == 2  # one population of two finished on the old data
    monkeypatch.setattr(stages.structure.populations, "train", real)
    with caplog.at_level("INFO"):
        stages.structure.train_structured("gru", "barabasi_albert", 0, settings, graphs_table, new, out)
    assert "settings changed, starting fresh" in caplog.text
    fresh = str(tmp_path / "fresh.parquet")
    stages.structure.train_structured("gru", "barabasi_albert", 0, settings, graphs_table, new, fresh)
    resumed, expected = pd.read_parquet(out), pd.read_parquet(fresh)
    pd.testing.assert_frame_equal(resumed.drop(columns="seconds"), expected.drop(columns="seconds"))
    # and the same data resumes (the digest is the content's, not the path's or the file's time)
    with pytest.raises(KeyboardInterrupt):
        _killed_after_first_population(monkeypatch)
        stages.structure.train_structured("gru", "barabasi_albert", 0, settings, graphs_table, new, out)
    monkeypatch.setattr(stages.structure.populations, "train", real)
    copy = tmp_path / "copy.parquet"
    copy.write_bytes(Path(new).read_bytes())
    caplog.clear()
    with caplog.at_level("INFO"):
        stages.structure.train_structured("gru", "barabasi_albert", 0, settings, graphs_table, str(copy), out)
    assert "starting fresh" not in caplog.text
    pd.testing.assert_frame_equal(pd.read_parquet(out).drop(columns="seconds"), expected.drop(columns="seconds"))


def test_a_killed_dense_rnn_rerun_on_changed_data_gives_exactly_the_fresh_result(tmp_path, monkeypatch, caplog):
    import sparsepipe.train as train_module

    params = unit_params("train-rnn")
    old, new = _reber_table(tmp_path / "old.parquet", 1), _reber_table(tmp_path / "new.parquet", 2)
    model, table = tmp_path / "m.pt", tmp_path / "m.parquet"
    real = train_module.save_partial

    def save_then_die(*args, **kwargs):
        real(*args, **kwargs)
        raise KeyboardInterrupt("killed after the first epoch's checkpoint")

    monkeypatch.setattr(train_module, "save_partial", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        stages.rnn.train_rnn("gru", 0, params, old, str(model), str(table))
    assert Path(f"{model}.partial").exists()
    monkeypatch.setattr(train_module, "save_partial", real)
    with caplog.at_level("INFO"):
        stages.rnn.train_rnn("gru", 0, params, new, str(model), str(table))
    assert "settings changed, starting fresh" in caplog.text
    stages.rnn.train_rnn("gru", 0, params, new, str(tmp_path / "f.pt"), str(tmp_path / "f.parquet"))
    assert pd.read_parquet(table)["test_acc"].iloc[0] == pd.read_parquet(tmp_path / "f.parquet")["test_acc"].iloc[0]
    resumed, fresh = torch.load(model, weights_only=True), torch.load(tmp_path / "f.pt", weights_only=True)
    for name, tensor in fresh["state_dict"].items():
        assert torch.equal(resumed["state_dict"][name], tensor), name


def test_a_new_population_removes_checkpoints_it_supersedes(tmp_path, caplog):
    from sparsepipe.data.reber import generate_reber, tensors_of
    from sparsepipe.graphs.generators import graph_from_row
    from sparsepipe.graphs.layering import layered_dag
    from sparsepipe.models.structured import StructuredRNN

    graphs = generate_graphs("barabasi_albert", {"count": 2, "nodes": [6], "m": [1]}, 0)
    strings = tensors_of(generate_reber(32, 8, 10, seed=0), "train")
    split = (strings.tokens, strings.lengths, strings.labels)
    candidates = [populations.Candidate(row["graph_id"], 1, lambda row=row: StructuredRNN(
        layered_dag(graph_from_row(row), row["graph_id"]), "gru", 27, 4)) for row in graphs.to_dict("records")]
    prefix = tmp_path / "shard.parquet.population"
    stale = tmp_path / "shard.parquet.population.0123456789abcdef.partial"
    stale.write_bytes(b"a checkpoint of older settings")
    unrelated = tmp_path / "other.parquet.population.0123456789abcdef.partial"
    unrelated.write_bytes(b"another unit's")
    with caplog.at_level("INFO"):
        list(populations.train(candidates, split, split, make_optimizer=lambda p: torch.optim.Adam(p, lr=0.01),
                               epochs=1, batch_size=16, batch_seed=0, populations={"size": "auto"},
                               device=torch.device("cpu"), checkpoint=str(prefix), settings={"a": 1}))
    assert not stale.exists() and unrelated.exists()
    assert f"removed {stale}" in caplog.text


def test_a_job_killed_after_training_but_before_its_model_is_written_resumes_at_the_end(tmp_path, monkeypatch,
                                                                                       caplog):
    """The checkpoint outlives training until the unit's output is written: a kill while evaluating or writing
    (SLURM lets a cancelled job run for KillWait seconds) must not lose the finished training."""
    params = unit_params("train-rnn")
    data = _reber_table(tmp_path / "data.parquet", 1)
    model, table = tmp_path / "m.pt", tmp_path / "m.parquet"
    real = io.save_checkpoint

    def killed_writing_the_model(obj, path):
        if Path(path) == model:
            raise KeyboardInterrupt("killed while writing the model")
        real(obj, path)

    monkeypatch.setattr(io, "save_checkpoint", killed_writing_the_model)
    with pytest.raises(KeyboardInterrupt):
        stages.rnn.train_rnn("gru", 0, params, data, str(model), str(table))
    assert Path(f"{model}.partial").exists() and not model.exists()
    monkeypatch.setattr(io, "save_checkpoint", real)
    with caplog.at_level("INFO"):
        stages.rnn.train_rnn("gru", 0, params, data, str(model), str(table))
    assert f"after epoch {params['train']['epochs']}" in caplog.text
    assert model.exists() and not Path(f"{model}.partial").exists()
    stages.rnn.train_rnn("gru", 0, params, data, str(tmp_path / "f.pt"), str(tmp_path / "f.parquet"))
    resumed, fresh = torch.load(model, weights_only=True), torch.load(tmp_path / "f.pt", weights_only=True)
    for name, tensor in fresh["state_dict"].items():
        assert torch.equal(resumed["state_dict"][name], tensor), name
