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
