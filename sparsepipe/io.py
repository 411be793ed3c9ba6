"""Atomic artifact writes and checked reads.

Every artifact is written to a temporary file beside its destination and renamed into place, so a killed job
never leaves a half-written file that looks complete (Snakemake would otherwise take it as done).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sparsepipe.errors import DataError

log = logging.getLogger(__name__)


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


def write_table(df: pd.DataFrame, path: str | os.PathLike, metadata: dict[str, str] | None = None) -> None:
    """Write a tidy table as Parquet, atomically; ``metadata`` goes into the file's schema metadata."""
    table = pa.Table.from_pandas(df.reset_index(drop=True), preserve_index=False)
    if metadata:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                               **{k.encode(): v.encode() for k, v in metadata.items()}})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def table_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The schema metadata a table was written with (:func:`write_table`'s ``metadata``)."""
    try:
        raw = pq.read_schema(path).metadata or {}
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{path}: not a readable Parquet file ({exc}); delete it and rerun its stage") from None
    return {k.decode(): v.decode() for k, v in raw.items()}


def file_digest(path: str | os.PathLike) -> str:
    """A short digest of a file's content: resumable state records those of its inputs, so that a rerun on
    changed data starts fresh instead of mixing old results into new ones."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


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


def collect(inputs: Iterable[str | os.PathLike], out: str | os.PathLike) -> None:
    """Concatenate per-unit tables of one kind into the stage's table (``sparsepipe collect``)."""
    write_table(concat_tables(inputs), out)


def on_cpu(state: Any) -> Any:
    """A ``state_dict()`` (an optimiser's, say) with its tensors on the CPU, so that checkpoints load anywhere."""
    torch = sys.modules.get("torch")  # a tensor means torch is loaded; this module does not import it (start-up)
    if torch is not None and isinstance(state, torch.Tensor):
        return state.cpu()
    if isinstance(state, dict):
        return {key: on_cpu(value) for key, value in state.items()}
    if isinstance(state, list):
        return [on_cpu(value) for value in state]
    return state


def save_checkpoint(obj: dict[str, Any], path: str | os.PathLike) -> None:
    """Save plain tensors and dicts (state_dict, masks, config), never a pickled module."""
    import torch  # here, not at the top: the table jobs import this module and need no torch (start-up time)

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_checkpoint(path: str | os.PathLike, required: Iterable[str] = ()) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` on the CPU, with a clear error if it is damaged or,
    with ``required`` keys (e.g. ``state_dict``, ``config``), if it is some other torch file."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for truncated or foreign files
        reason = type(exc).__name__
        raise DataError(f"{path}: not a readable sparsepipe checkpoint ({reason}); delete it and rerun the stage "
                        f"that writes it") from None
    required = list(required)
    missing = [key for key in required if not isinstance(state, dict) or key not in state]
    if missing:
        raise DataError(f"{path}: a torch file but not a sparsepipe checkpoint (lacks {missing}); expected a .pt "
                        f"written by sparsepipe train-ffn or train-rnn")
    return state


def write_json(obj: Any, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True))


# --- resumable state (``<output>.partial``) that belongs to one set of settings ---------------------------------

DIGEST_KEY = "sparsepipe_settings_digest"
_PARQUET_MAGIC = b"PAR1"


def settings_digest(settings: Any) -> str:
    """A short, stable digest of a unit's settings (any JSON-like value; keys sorted, so order does not matter).

    A ``.partial`` file records it; a rerun with other settings sees a different digest and starts fresh.
    """
    text = json.dumps(settings, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def save_partial(state: pd.DataFrame | dict[str, Any], path: str | os.PathLike, digest: str) -> None:
    """Write resumable state with the digest of the settings it belongs to, atomically.

    A table (finished rows so far) is written as Parquet with the digest in its metadata; a dict (model and
    optimizer state) with :func:`torch.save`, the digest under the key ``sparsepipe_settings_digest``.
    """
    if isinstance(state, pd.DataFrame):
        table = pa.Table.from_pandas(state.reset_index(drop=True), preserve_index=False)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), DIGEST_KEY.encode(): digest.encode()})
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)
    else:
        save_checkpoint({**state, DIGEST_KEY: digest}, path)


def load_partial(path: str | os.PathLike, digest: str, label: str = "") -> pd.DataFrame | dict[str, Any] | None:
    """The state saved by :func:`save_partial` at ``path`` if it belongs to the settings of ``digest``, else None.

    None means: absent; stale (saved under other settings; logged 'settings changed, starting fresh' and
    removed); or unreadable (moved aside to ``<path>.corrupt``, logged). Never raises for a bad ``.partial``,
    so a rerun never loops on it.
    """
    path = Path(path)
    if not path.is_file():
        return None
    name = label or str(path)
    try:
        with open(path, "rb") as handle:
            is_table = handle.read(4) == _PARQUET_MAGIC
        if is_table:
            table = pq.read_table(path)
            saved = (table.schema.metadata or {}).get(DIGEST_KEY.encode(), b"").decode()
            state: pd.DataFrame | dict[str, Any] = table.to_pandas()
        else:
            import torch

            state = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(state, dict):
                raise TypeError(f"expected a dict, got {type(state).__name__}")
            saved = state.pop(DIGEST_KEY, "")
    except Exception as exc:  # truncated, foreign or damaged: never resume from it
        aside = path.with_name(path.name + ".corrupt")
        os.replace(path, aside)
        log.warning("%s: %s is unreadable (%s); moved aside to %s, starting fresh", name, path,
                    type(exc).__name__, aside)
        return None
    if saved != digest:
        path.unlink(missing_ok=True)
        log.info("%s: settings changed, starting fresh (%s was saved under other settings)", name, path)
        return None
    return state
