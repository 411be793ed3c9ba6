"""The Reber grammar: valid strings by random walks, invalid ones as near misses, as a Parquet table.

Valid strings walk Reber's finite-state grammar (B ... E). Invalid strings are near misses: a valid string
with one symbol substituted, inserted, deleted or two neighbours swapped, kept only if the grammar rejects it.
Classes are balanced; the whole table is a function of the seed and the sizes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pandas as pd
import torch

from sparsepipe.errors import ConfigError, DataError

ALPHABET = "BTPSXVE"
PAD = 0  # token 0 is padding; symbol i of ALPHABET is token i + 1
READ_COLUMNS = ("split", "string", "label")

# state -> [(symbol, next state)]; state 5 emits the final E.
_TRANSITIONS: dict[int, list[tuple[str, int]]] = {
    0: [("T", 1), ("P", 2)],
    1: [("S", 1), ("X", 3)],
    2: [("T", 2), ("V", 4)],
    3: [("X", 2), ("S", 5)],
    4: [("P", 3), ("V", 5)],
}


def is_reber(string: str) -> bool:
    """Whether ``string`` is a word of the Reber grammar."""
    if len(string) < 2 or string[0] != "B" or string[-1] != "E":
        return False
    state = 0
    for symbol in string[1:-1]:
        moves = dict(_TRANSITIONS.get(state, []))
        if symbol not in moves:
            return False
        state = moves[symbol]
    return state == 5


def random_reber(rng: random.Random, max_length: int) -> str:
    """A uniformly branching random walk through the grammar, redrawn until it fits ``max_length``."""
    while True:
        symbols, state = ["B"], 0
        while state != 5 and len(symbols) < max_length:
            symbol, state = rng.choice(_TRANSITIONS[state])
            symbols.append(symbol)
        if state == 5 and len(symbols) < max_length:
            return "".join(symbols) + "E"


def near_miss(rng: random.Random, max_length: int) -> str:
    """A valid string with one random edit that the grammar rejects."""
    while True:
        chars = list(random_reber(rng, max_length))
        edit, i = rng.randrange(4), rng.randrange(len(chars))
        if edit == 0:
            chars[i] = rng.choice(ALPHABET.replace(chars[i], ""))
        elif edit == 1:
            chars.insert(i, rng.choice(ALPHABET))
        elif edit == 2 and len(chars) > 2:
            del chars[i]
        elif edit == 3 and i + 1 < len(chars):
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        candidate = "".join(chars)
        if len(candidate) <= max_length and not is_reber(candidate):
            return candidate


def generate_reber(train: int, test: int, max_length: int, seed: int) -> pd.DataFrame:
    """The string table: ``split`` (train/test), ``string``, ``label`` (1 valid, 0 invalid), ``length``."""
    if max_length < 5:
        raise ConfigError(f"reber.max_length: {max_length} is too short; the shortest Reber string has 5 symbols")
    rng = random.Random(seed)
    rows = []
    for split, size in (("train", train), ("test", test)):
        for index in range(size):
            label = index % 2
            string = random_reber(rng, max_length) if label else near_miss(rng, max_length)
            rows.append({"split": split, "string": string, "label": label, "length": len(string)})
    table = pd.DataFrame(rows)
    # shuffle within each split so batches mix classes; deterministic by seed
    shuffled = table.sample(frac=1.0, random_state=seed % (2**32))
    return shuffled.sort_values("split", kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class ReberTensors:
    """Padded token ids (N, T), true lengths (N,) and labels (N,) of one split."""

    tokens: torch.Tensor
    lengths: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)


VOCABULARY = len(ALPHABET) + 1  # with padding


def tensors_of(table: pd.DataFrame, split: str, source: str = "reber table") -> ReberTensors:
    """Tokenise one split of the string table once, into padded tensors."""
    part = table[table["split"] == split]
    if part.empty:
        raise DataError(f"{source}: no rows with split={split!r}")
    index = {c: i + 1 for i, c in enumerate(ALPHABET)}
    strings = list(part["string"])
    bad = [s for s in strings if not s or any(c not in index for c in s)]
    if bad:
        raise DataError(f"{source}: strings outside the alphabet {ALPHABET!r} or empty, e.g. {bad[0]!r}")
    lengths = torch.tensor([len(s) for s in strings], dtype=torch.long)
    tokens = torch.full((len(strings), int(lengths.max())), PAD, dtype=torch.long)
    for row, string in enumerate(strings):
        tokens[row, : len(string)] = torch.tensor([index[c] for c in string])
    labels = torch.tensor(list(part["label"]), dtype=torch.long)
    return ReberTensors(tokens, lengths, labels)
