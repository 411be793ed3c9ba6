"""The sequence table the recurrent stages read: generated Reber strings or a user's own files, with its alphabet.

The staging rule writes one Parquet table (``split``, ``string``, ``label``, ``kind``, ``length``) whose schema
metadata records the alphabet (symbol i is token i + 1; the embedding has ``len(alphabet) + 1`` rows) and, for
files, their content digests. Files (``reber.files: {train, test}``) are CSV or Parquet with the columns ``string``
and ``valid`` (1 or 0) over any symbols; they are checked here, each problem one line naming the file and row.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sparsepipe import io
from sparsepipe.data.reber import ALPHABET, tensors_of
from sparsepipe.errors import DataError

ALPHABET_KEY = "sparsepipe_alphabet"
FILES_KEY = "sparsepipe_files"
COLUMNS = ("string", "valid")
FORMATS = (".csv", ".parquet")


def read_sequence_file(path: str | os.PathLike) -> pd.DataFrame:
    """``string`` and ``label`` (from ``valid``) of one sequence file, checked; rows are numbered from 1 as data
    rows (a CSV's row N is on line N + 1, after the header)."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise DataError(f"{path}: unknown extension {path.suffix!r}; expected a sequence file in {', '.join(FORMATS)}")
    if not path.is_file():
        raise DataError(f"{path}: sequence file not found")
    try:
        if path.suffix.lower() == ".csv":
            table = pd.read_csv(path, dtype={"string": str}, keep_default_na=False, skipinitialspace=True)
        else:
            table = io.read_table(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{path}: not a readable {path.suffix[1:].upper()} file ({' '.join(str(exc).split())})"
                        ) from None
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; expected the columns {list(COLUMNS)} (valid: 1 or 0)")
    if table.empty:
        raise DataError(f"{path}: no rows; expected sequences with the columns {list(COLUMNS)}")
    strings = table["string"].map(lambda v: "" if v is None or v != v else str(v))
    for row, string in enumerate(strings, start=1):
        if not string.strip():
            raise DataError(f"{path}: row {row}: empty string; every row needs a sequence of at least one symbol")
    labels = []
    for row, value in enumerate(table["valid"], start=1):
        label = _label(value)
        if label is None:
            raise DataError(f"{path}: row {row}: valid = {value!r}; expected 1 or 0")
        labels.append(label)
    return pd.DataFrame({"string": strings, "label": labels})


def _label(value: object) -> int | None:
    if isinstance(value, bool):
        return int(value)
    text = str(value).strip().lower()
    if text in ("1", "1.0", "true"):
        return 1
    if text in ("0", "0.0", "false"):
        return 0
    return None


def stage_files(train_path: str, test_path: str) -> tuple[pd.DataFrame, str, dict[str, str]]:
    """The sequence table of two files, its alphabet (the training split's symbols, sorted) and the files' content
    digests. A test symbol the training split never holds is an error: its embedding would never be trained."""
    train, test = read_sequence_file(train_path), read_sequence_file(test_path)
    alphabet = "".join(sorted(set().union(*map(set, train["string"]))))
    for row, string in enumerate(test["string"], start=1):
        unseen = sorted(set(string) - set(alphabet))
        if unseen:
            raise DataError(f"{test_path}: row {row}: symbol(s) {''.join(unseen)!r} never occur in the training file "
                            f"{train_path}; every test symbol must be seen in training")
    table = pd.concat([train.assign(split="train"), test.assign(split="test")], ignore_index=True)
    table["kind"] = "file"
    table["length"] = table["string"].str.len()
    digests = {"train": io.file_digest(train_path), "test": io.file_digest(test_path)}
    return table[["split", "string", "label", "kind", "length"]], alphabet, digests


def write_sequences(table: pd.DataFrame, alphabet: str, out: str, files: dict[str, str] | None = None) -> None:
    """The staged table, with its alphabet (and the digests of the files it came from) in the metadata."""
    metadata = {ALPHABET_KEY: alphabet}
    if files:
        metadata[FILES_KEY] = ",".join(f"{k}={v}" for k, v in sorted(files.items()))
    io.write_table(table, out, metadata)


@dataclass(frozen=True)
class Sequences:
    """Both splits as ``(tokens, lengths, labels)`` tensors, the alphabet, and the table's content digest."""

    train: tuple
    test: tuple
    alphabet: str
    digest: str

    @property
    def vocabulary(self) -> int:
        """Rows of the token embedding: every symbol of the alphabet and the padding token."""
        return len(self.alphabet) + 1


def alphabet_of(path: str) -> str:
    """The alphabet a staged sequence table records (tables written before it was recorded: A-Z)."""
    return io.table_metadata(path).get(ALPHABET_KEY, ALPHABET)


def load_sequences(path: str) -> Sequences:
    """The staged sequence table of ``path`` as tensors."""
    table = io.read_table(path, ("split", "string", "label"))
    alphabet = alphabet_of(path)
    train, test = (tensors_of(table, split, path, alphabet) for split in ("train", "test"))
    return Sequences((train.tokens, train.lengths, train.labels), (test.tokens, test.lengths, test.labels),
                     alphabet, io.file_digest(path))
