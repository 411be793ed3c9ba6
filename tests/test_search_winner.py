import pandas as pd
import pytest

from sparsepipe import nas, units
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
    units.search_winner("ffn_digits", SETTINGS, root, str(table), str(out))
    winner = pd.read_parquet(out)
    assert len(winner) == 3 and winner["winner_seed"].nunique() == 3
    assert (winner["genome"] == GENOMES[1].to_json()).all() and (winner["search_fitness"] == 0.99).all()
    assert winner["test_acc"].between(0, 1).all() and winner["val_acc"].between(0, 1).all()
    assert winner["test_acc"].nunique() > 1  # fresh seeds train differently
    assert winner["val_acc"].max() < 0.99  # the report's figure is not the search's lucky maximum


def test_fresh_seeds_give_other_numbers_and_the_same_seed_the_same(root):
    genome = GENOMES[1].to_json()
    first = units.retrain_searched("ffn_digits", genome, 11, SETTINGS, root)
    assert units.retrain_searched("ffn_digits", genome, 11, SETTINGS, root) == first
    assert units.retrain_searched("ffn_digits", genome, 12, SETTINGS, root) != first
