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


def test_partial_state_belongs_to_its_settings(tmp_path, caplog):
    digest, other = io.settings_digest({"a": 1, "b": [1, 2]}), io.settings_digest({"a": 2, "b": [1, 2]})
    assert digest == io.settings_digest({"b": [1, 2], "a": 1}) and digest != other
    table, state = tmp_path / "t.parquet.partial", tmp_path / "m.pt.partial"
    assert io.load_partial(table, digest) is None  # absent
    io.save_partial(pd.DataFrame({"graph_id": ["g0"]}), table, digest)
    io.save_partial({"epoch": 2, "w": torch.ones(2)}, state, digest)
    assert io.load_partial(table, digest)["graph_id"].tolist() == ["g0"]
    loaded = io.load_partial(state, digest)
    assert loaded["epoch"] == 2 and io.DIGEST_KEY not in loaded
    with caplog.at_level("INFO"):
        assert io.load_partial(table, other, "shard 0") is None  # stale: removed, starts fresh
        assert io.load_partial(state, other, "model") is None
    assert "shard 0: settings changed, starting fresh" in caplog.text
    assert not table.exists() and not state.exists()


@pytest.mark.parametrize("content", [b"PAR1 but not parquet", b"\x80\x02 not a torch file", b""])
def test_a_corrupt_partial_is_moved_aside(tmp_path, caplog, content):
    partial = tmp_path / "out.parquet.partial"
    partial.write_bytes(content)
    with caplog.at_level("WARNING"):
        assert io.load_partial(partial, "abc", "nas ffn_digits") is None
    assert not partial.exists() and (tmp_path / "out.parquet.partial.corrupt").read_bytes() == content
    assert "nas ffn_digits" in caplog.text and "moved aside" in caplog.text
    assert io.load_partial(partial, "abc") is None  # a rerun starts fresh instead of looping


def test_a_partial_without_a_digest_is_stale(tmp_path):
    old = tmp_path / "old.partial"
    io.write_table(pd.DataFrame({"a": [1]}), old)  # written before digests existed
    assert io.load_partial(old, io.settings_digest({})) is None and not old.exists()
