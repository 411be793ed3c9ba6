import pandas as pd
import pytest

from sparsepipe import nas, stages
from sparsepipe.data.vision import load_vision

SETTINGS = {"seed": 0, "winner_seeds": 3,
            "train": {"epochs": 2, "batch_size": 64, "lr": 0.01, "train_samples": 600, "embedding": 4,
                      "activation": "tanh"}}
GENOMES = [nas.Genome(4, ((0, 2), (1, 2), (2, 3)), "barabasi_albert", "{}"),
           nas.Genome(6, ((0, 3), (1, 3), (2, 4), (3, 5), (4, 5)), "barabasi_albert", "{}")]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return str(tmp_path_factory.mktemp("vision"))  # digits ships with scikit-learn: nothing to stage


def test_the_winner_is_retrained_with_fresh_seeds_and_tested(tmp_path, root):
    load_vision("digits", 0.2, 0, root)
    table = tmp_path / "individuals.parquet"
    # the second genome "won" the search with a lucky 0.99 that no fresh training repeats
    pd.DataFrame({"genome": [g.to_json() for g in GENOMES], "measured": [0.5, 0.99], "trained": True}).to_parquet(table)
    out = tmp_path / "winner.parquet"
    stages.nas.search_winner("ffn_digits", SETTINGS, root, str(table), str(out))
    winner = pd.read_parquet(out)
    assert len(winner) == 3 and winner["winner_seed"].nunique() == 3
    assert (winner["genome"] == GENOMES[1].to_json()).all() and (winner["search_fitness"] == 0.99).all()
    assert winner["test_acc"].between(0, 1).all() and winner["val_acc"].between(0, 1).all()
    assert winner["test_acc"].nunique() > 1  # fresh seeds train differently
    # each row's figures are a fresh training of the winner with that row's seed, not the search's fitness
    for _, row in winner.iterrows():
        assert stages.nas.retrain_searched("ffn_digits", row["genome"], int(row["winner_seed"]), SETTINGS, root) == (
            row["val_acc"], row["test_acc"])


def test_fresh_seeds_give_other_numbers_and_the_same_seed_the_same(root):
    genome = GENOMES[1].to_json()
    first = stages.nas.retrain_searched("ffn_digits", genome, 11, SETTINGS, root)
    assert stages.nas.retrain_searched("ffn_digits", genome, 11, SETTINGS, root) == first
    assert stages.nas.retrain_searched("ffn_digits", genome, 12, SETTINGS, root) != first


def test_the_winners_fresh_seeds_are_not_the_seeds_the_search_trained_it_with(tmp_path, root, monkeypatch):
    """A real (tiny) search through stages.nas.search_architectures: the seeds it trained every genome with are recorded
    where they are used (stages.nas.train_candidates); the winner's re-trainings use none of them."""
    load_vision("digits", 0.2, 0, root)
    settings = SETTINGS | {
        "population": 4, "elites": 1, "generations": 1, "tournament": 2, "mutation_rate": 0.3, "crossover_rate": 0.5,
        "predictor": False, "predictor_model": "bayesian_ridge", "screen_factor": 2, "screen_rounds": 1,
        "generators": {"barabasi_albert": {"nodes": [6, 8], "m": [1, 2]}},
        "train": SETTINGS["train"] | {"epochs": 1, "train_samples": 300},
        "populations": {"size": "auto", "memory_gb": 1}, "winner_seeds": 2}
    trained: dict[str, set[int]] = {}
    original = stages.nas.train_candidates

    def recording(task, genomes, seeds, settings, data):
        for genome, seed in zip(genomes, seeds, strict=True):
            trained.setdefault(genome, set()).add(seed)
        return original(task, genomes, seeds, settings, data)

    monkeypatch.setattr(stages.nas, "train_candidates", recording)
    table, out = tmp_path / "individuals.parquet", tmp_path / "winner.parquet"
    stages.nas.search_architectures("ffn_digits", settings, root, str(table), str(tmp_path / "best.graphml"))
    stages.nas.search_winner("ffn_digits", settings, root, str(table), str(out))
    winner = pd.read_parquet(out)
    genome = winner["genome"].iloc[0]
    assert genome in trained and len(trained) >= 5  # the search trained the winner (and others) itself
    fresh = set(winner["winner_seed"].astype(int))
    assert len(fresh) == 2
    assert not fresh & trained[genome]  # not the seeds the search trained the winner with
    assert not fresh & set().union(*trained.values())  # nor any seed of the search
