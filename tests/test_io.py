import pandas as pd
import pytest
import torch

from sparsepipe import io
from sparsepipe.errors import DataError


def test_a_failed_write_leaves_nothing_that_looks_complete(tmp_path):
    target = tmp_path / "table.parquet"
    with pytest.raises(RuntimeError), io.atomic_path(target) as tmp:
        tmp.write_bytes(b"half a file")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_tables_round_trip_and_replace_atomically(tmp_path):
    target = tmp_path / "sub" / "t.parquet"
    io.write_table(pd.DataFrame({"a": [1, 2]}), target)
    io.write_table(pd.DataFrame({"a": [3]}), target)
    assert io.read_table(target, ["a"])["a"].tolist() == [3]
    assert [p.name for p in target.parent.iterdir()] == ["t.parquet"]


def test_bad_files_are_named(tmp_path):
    with pytest.raises(DataError, match="missing.parquet: file not found"):
        io.read_table(tmp_path / "missing.parquet")
    good = tmp_path / "good.parquet"
    io.write_table(pd.DataFrame({"a": [1]}), good)
    with pytest.raises(DataError, match=r"good.parquet: missing columns \['b'\]"):
        io.read_table(good, ["a", "b"])
    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(good.read_bytes()[:20])
    with pytest.raises(DataError, match="truncated.parquet: not a readable Parquet file"):
        io.read_table(truncated)
    checkpoint = tmp_path / "model.pt"
    io.save_checkpoint({"w": torch.ones(3)}, checkpoint)
    assert io.load_checkpoint(checkpoint)["w"].sum() == 3
    checkpoint.write_bytes(checkpoint.read_bytes()[:30])
    with pytest.raises(DataError, match="model.pt: not a readable sparsepipe checkpoint"):
        io.load_checkpoint(checkpoint)
