"""Atomic artifact writes and checked reads.

Every artifact is written to a temporary file beside its destination and renamed into place, so a killed job
never leaves a half-written file that looks complete (Snakemake would otherwise take it as done).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from sparsepipe.errors import DataError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_table(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a tidy table as Parquet, atomically."""
    table = pa.Table.from_pandas(df.reset_index(drop=True), preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_table(path: str | os.PathLike, required: Iterable[str] = ()) -> pd.DataFrame:
    """Read a Parquet table, failing with a one-line message naming the file if it is missing or unreadable."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found (expected a Parquet table; did the stage that writes it run?)")
    try:
        df = pq.read_table(path).to_pandas()
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{path}: not a readable Parquet file ({exc}); delete it and rerun its stage") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing columns {missing}; expected at least {list(required)}")
    return df


def concat_tables(paths: Iterable[str | os.PathLike], required: Iterable[str] = ()) -> pd.DataFrame:
    """Concatenate several Parquet tables of the same kind (e.g. the shards of one stage)."""
    frames = [read_table(p, required) for p in paths]
    if not frames:
        raise DataError("no input tables given")
    return pd.concat(frames, ignore_index=True)


def save_checkpoint(obj: dict[str, Any], path: str | os.PathLike) -> None:
    """Save plain tensors and dicts (state_dict, masks, config), never a pickled module."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` on the CPU, with a clear error if it is damaged."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: checkpoint not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for truncated or foreign files
        reason = type(exc).__name__
        raise DataError(f"{path}: not a readable sparsepipe checkpoint ({reason}); rerun its stage") from None


def write_json(obj: Any, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True))
