import pytest

from sparsepipe.data.reber import PAD, REBER_ALPHABET, generate_reber, is_embedded_reber, is_reber, tensors_of
from sparsepipe.errors import ConfigError, DataError


@pytest.mark.parametrize("string", ["BTXSE", "BPVVE", "BTSSXXTVVE", "BPTVPSE", "BPTTVPXVVE"])
def test_grammar_accepts_reber_strings(string):
    assert is_reber(string)


@pytest.mark.parametrize("string", ["BTXE", "TXSE", "BTXS", "BPVE", "BTSXSXE", "", "BE"])
def test_grammar_rejects_others(string):
    assert not is_reber(string)


def test_table_is_balanced_labelled_and_seeded():
    table = generate_reber(200, 100, 18, seed=3)
    assert table.equals(generate_reber(200, 100, 18, seed=3))
    assert not table.equals(generate_reber(200, 100, 18, seed=4))
    assert table.groupby("split").size().to_dict() == {"test": 100, "train": 200}
    assert table.groupby(["split", "label"]).size().nunique() == 2  # 50 and 100: balanced per split
    assert all(is_reber(s) == bool(label) for s, label in zip(table["string"], table["label"], strict=True))
    assert table["length"].max() <= 18


def test_tensors_are_padded_and_keep_true_lengths():
    table = generate_reber(40, 20, 14, seed=0)
    t = tensors_of(table, "train")
    assert t.tokens.shape == (40, int(t.lengths.max()))
    for row, length in enumerate(t.lengths.tolist()):
        assert (t.tokens[row, :length] != PAD).all()
        assert (t.tokens[row, length:] == PAD).all()


def test_bad_inputs():
    with pytest.raises(ConfigError, match="max_length"):
        generate_reber(10, 10, 3, 0)
    table = generate_reber(10, 10, 12, 0)
    table.loc[0, "string"] = "B1E"
    with pytest.raises(DataError, match="my.parquet: strings outside the alphabet"):
        tensors_of(table, table.loc[0, "split"], "my.parquet")


def test_embedded_strings_and_the_mix_of_invalid_kinds():
    table = generate_reber(400, 40, 24, seed=1, embedded=True, invalid={"near_miss": 1, "other_grammar": 3})
    assert all(is_embedded_reber(s) == bool(label) for s, label in zip(table["string"], table["label"], strict=True))
    invalid = table[table["label"] == 0]
    share = (invalid["kind"] == "other_grammar").mean()
    assert 0.6 < share < 0.9  # weights 1:3
    foreign = invalid[invalid["kind"] == "other_grammar"]["string"]
    assert all(not set(s) & set(REBER_ALPHABET) for s in foreign)
    near = invalid[invalid["kind"] == "near_miss"]["string"]
    assert all(set(s) <= set(REBER_ALPHABET) for s in near)
    with pytest.raises(ConfigError, match="reber.invalid"):
        generate_reber(10, 10, 20, 0, invalid={"typo": 1.0})
    with pytest.raises(ConfigError, match="embedded Reber string has 9 symbols"):
        generate_reber(10, 10, 8, 0, embedded=True)


def _paper_task() -> dict:
    import yaml

    from conftest import REPO

    return yaml.safe_load((REPO / "configs/paper-rnn.yaml").read_text())["reber"]


def test_the_paper_preset_draws_the_papers_task():
    """25,000 strings as the paper's data set has them: valid plain Reber strings of 11-49 symbols, mean 23.6;
    invalid 11-48, mean 18.7, 56% with letters outside the Reber alphabet; 18,750 / 6,250; balanced."""
    spec = _paper_task()
    table = generate_reber(spec["train"], spec["test"], spec["max_length"], seed=0, embedded=spec["embedded"],
                           invalid=spec["invalid"], min_length=spec["min_length"], mean_length=spec["mean_length"],
                           other_grammar_mean_length=spec["other_grammar_mean_length"])
    assert len(table) == 25_000 and table.groupby("split").size().to_dict() == {"test": 6_250, "train": 18_750}
    assert table["label"].mean() == 0.5
    valid, invalid = table[table["label"] == 1], table[table["label"] == 0]
    assert valid["string"].map(is_reber).all() and not invalid["string"].map(is_reber).any()
    assert valid["length"].min() == 11 and valid["length"].max() == 49
    assert abs(valid["length"].mean() - 23.6) < 0.5
    assert invalid["length"].min() == 11 and 47 <= invalid["length"].max() <= 49
    assert abs(invalid["length"].mean() - 18.7) < 0.5
    foreign = invalid["string"].map(lambda s: bool(set(s) - set(REBER_ALPHABET))).mean()
    assert abs(foreign - 0.56) < 0.03
    # the preset's strings are three times the default's (mean 7.8): the default keeps its own table
    default = generate_reber(2000, 10, 20, seed=0, invalid={"near_miss": 0.5, "other_grammar": 0.5})
    assert default[default["label"] == 1]["length"].mean() < 10


def test_lengths_follow_the_range_and_the_mean_and_another_mean_moves_them():
    short = generate_reber(2000, 2, 30, seed=2, min_length=8, mean_length=12.0)
    long = generate_reber(2000, 2, 30, seed=2, min_length=8, mean_length=20.0)
    for table, mean in ((short, 12.0), (long, 20.0)):
        valid = table[table["label"] == 1]["length"]
        assert valid.between(8, 30).all() and table["length"].between(8, 30).all()
        assert abs(valid.mean() - mean) < 0.6
    # without a mean: a uniform walk conditioned on the range, whose mean lies near the shortest lengths
    natural = generate_reber(2000, 2, 30, seed=2, min_length=8)
    assert 8 < natural[natural["label"] == 1]["length"].mean() < 12


def test_the_alphabet_sets_the_foreign_letters_and_is_checked():
    table = generate_reber(400, 2, 20, seed=0, invalid={"other_grammar": 1.0}, alphabet="BTPSXVEQZ", min_length=6)
    foreign = table[table["label"] == 0]["string"]
    assert set("".join(foreign)) <= set("QZ") and len(foreign) == 201  # 200 train + 1 test
    for alphabet, match in (("BTPSXV", "lacks the Reber symbols 'E'"), ("BTPSXVEE", "repeats"),
                            ("BTPSXVEQ", "other_grammar needs at least 2")):
        with pytest.raises(ConfigError, match=f"reber.alphabet: .*{match}"):
            generate_reber(10, 10, 20, 0, invalid={"other_grammar": 1.0}, alphabet=alphabet)
    with pytest.raises(ConfigError, match="reber.min_length: 30; expected 5 <= min_length <= reber.max_length"):
        generate_reber(10, 10, 20, 0, min_length=30)
    with pytest.raises(ConfigError, match="reber.mean_length: 40"):
        generate_reber(10, 10, 20, 0, min_length=6, mean_length=40)
