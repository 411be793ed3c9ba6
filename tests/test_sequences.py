"""Sequence data from files (``reber.files``): checked with one line naming the file and row, tokenised over the
training file's own alphabet, and trained on by the recurrent units like generated strings."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from sparsepipe import io, stages
from sparsepipe.cli import main
from sparsepipe.data.reber import generate_reber
from sparsepipe.data.sequences import load_sequences, read_sequence_file, stage_files

from conftest import unit_params

TRAIN = "string,valid\nab,1\nba,0\naab,1\nbba,0\nabab,1\nbbbb,0\n"
TEST = "string,valid\nab,1\nbb,0\n"


def _write(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(text)
    return str(path)


def _stage(tmp_path: Path, train: str = TRAIN, test: str = TEST, capsys=None) -> tuple[int, str, Path]:
    files = {"train": _write(tmp_path, "train.csv", train), "test": _write(tmp_path, "test.csv", test)}
    params = {"reber": unit_params("reber")["reber"] | {"files": files}, "seed": 0}
    out = tmp_path / "out" / "reber.parquet"
    code = main(["reber", "--params", json.dumps(params), "--out", str(out)])
    return code, capsys.readouterr().err.strip() if capsys else "", out


def test_files_become_the_staged_table_with_their_own_alphabet(tmp_path):
    code, _, out = _stage(tmp_path)
    assert code == 0
    sequences = load_sequences(str(out))
    assert sequences.alphabet == "ab" and sequences.vocabulary == 3
    tokens, lengths, labels = sequences.train
    assert labels.tolist() == [1, 0, 1, 0, 1, 0] and lengths.tolist() == [2, 2, 3, 3, 4, 4]
    assert tokens[0, :2].tolist() == [1, 2] and tokens[1, :2].tolist() == [2, 1]  # a -> 1, b -> 2, 0 pads
    assert sequences.test[2].tolist() == [1, 0]
    # the staged table records the files' content, and a changed file changes the table's digest
    first = sequences.digest
    _write(tmp_path, "test.csv", TEST.replace("bb,0", "ba,0"))
    assert main(["reber", "--params", json.dumps({"reber": unit_params("reber")["reber"] | {"files": {
        "train": str(tmp_path / "train.csv"), "test": str(tmp_path / "test.csv")}}, "seed": 0}),
        "--out", str(out)]) == 0
    assert load_sequences(str(out)).digest != first


def test_parquet_files_and_any_symbols(tmp_path):
    train = pd.DataFrame({"string": ["x1", "1x", "xx1", "11"], "valid": [True, False, True, False]})
    io.write_table(train, tmp_path / "train.parquet")
    io.write_table(train.iloc[:2], tmp_path / "test.parquet")
    table, alphabet, digests = stage_files(str(tmp_path / "train.parquet"), str(tmp_path / "test.parquet"))
    assert alphabet == "1x" and table["label"].tolist() == [1, 0, 1, 0, 1, 0]
    assert set(digests) == {"train", "test"} and digests["train"] == io.file_digest(tmp_path / "train.parquet")


@pytest.mark.parametrize(("train", "test", "expected"), [
    ("string,label\nab,1\n", TEST, "train.csv: missing column(s) ['valid']"),
    ("string,valid\nab,1\nba,2\n", TEST, "train.csv: row 2: valid = 2; expected 1 or 0"),
    ("string,valid\nab,1\nba,yes\n", TEST, "train.csv: row 2: valid = 'yes'; expected 1 or 0"),
    ("string,valid\nab,1\n,0\n", TEST, "train.csv: row 2: empty string"),
    ("string,valid\n", TEST, "train.csv: no rows"),
    (TRAIN, "string,valid\nab,1\nabc,0\nabd,1\n", "test.csv: row 2: symbol(s) 'c' never occur in the training file"),
    ("\x00\x01binary,\n\xff", TEST, "train.csv:"),
])
def test_bad_sequence_files_give_one_line_naming_file_and_row(tmp_path, capsys, train, test, expected):
    code, err, out = _stage(tmp_path, train, test, capsys)
    assert code == 2 and expected in err and len(err.splitlines()) == 1, err
    assert not out.exists() and not list(out.parent.glob("*.tmp")) if out.parent.exists() else True


def test_a_missing_or_foreign_file_is_named():
    with pytest.raises(Exception, match="nowhere.csv: sequence file not found"):
        read_sequence_file("nowhere.csv")
    with pytest.raises(Exception, match="seq.txt: unknown extension '.txt'"):
        read_sequence_file("seq.txt")


def test_config_check_names_the_key_of_a_missing_file(tmp_path, capsys):
    overlay = tmp_path / "files.yaml"
    overlay.write_text(f"reber: {{files: {{train: {tmp_path}/train.csv, test: {tmp_path}/nope.csv}}}}\n")
    _write(tmp_path, "train.csv", TRAIN)
    code = main(["validate-config", str(overlay)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "reber.files.test:" in err and "nope.csv: file not found" in err and len(err.splitlines()) == 1


def test_dense_and_structured_recurrent_units_train_on_a_files_alphabet(tmp_path):
    """A three-symbol alphabet gives a four-row embedding; pruning checks that its data is the model's."""
    strings = generate_reber(60, 20, 12, seed=0)
    translate = str.maketrans("BTPSXVE", "abcabca")
    for split in ("train", "test"):
        part = strings[strings["split"] == split]
        pd.DataFrame({"string": part["string"].str.translate(translate).str.slice(0, 6),
                      "valid": part["label"]}).to_csv(tmp_path / f"{split}.csv", index=False)
    data = tmp_path / "reber.parquet"
    stages.rnn.reber({"reber": {"files": {"train": str(tmp_path / "train.csv"), "test": str(tmp_path / "test.csv")}},
                 "seed": 0}, str(data))
    params = unit_params("train-rnn")
    model, table = tmp_path / "m.pt", tmp_path / "m.parquet"
    stages.rnn.train_rnn("gru", 0, params, str(data), str(model), str(table))
    state = torch.load(model, weights_only=True)
    assert state["state_dict"]["embedding.weight"].shape[0] == 4 and state["config"]["alphabet"] == "abc"
    assert 0 <= pd.read_parquet(table)["test_acc"].iloc[0] <= 1
    other = tmp_path / "other.parquet"
    stages.rnn.reber({"reber": unit_params("reber")["reber"], "seed": 0}, str(other))  # generated: A-Z
    with pytest.raises(Exception, match="its alphabet .* is not the one .*m.pt was trained on"):
        stages.rnn.prune_rnn(str(model), "i2h", unit_params("prune-rnn"), str(other), str(tmp_path / "p.parquet"))
