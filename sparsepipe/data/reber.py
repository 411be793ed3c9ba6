"""The Reber grammar: valid strings by random walks, invalid ones as near misses or foreign grammars, as Parquet.

Valid strings walk Reber's finite-state grammar (B ... E), optionally *embedded* (B T <reber> T E or B P <reber> P E,
which needs memory of the second symbol). Invalid strings are a configurable mix of
- ``near_miss``: a valid string with one symbol substituted, inserted, deleted or two neighbours swapped, kept only
  if the grammar rejects it (grammar violations over the Reber alphabet);
- ``other_grammar``: walks of other random finite-state grammars over letters outside the Reber alphabet.
Classes are balanced; the whole table is a function of the seed and the settings.
"""

from __future__ import annotations

import random
import string as _string
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd
import torch

from sparsepipe.errors import ConfigError, DataError

REBER_ALPHABET = "BTPSXVE"
OTHER_LETTERS = "".join(c for c in _string.ascii_uppercase if c not in REBER_ALPHABET)
ALPHABET = _string.ascii_uppercase  # tokens cover every letter: foreign grammars use the others
PAD = 0  # token 0 is padding; letter i of ALPHABET is token i + 1
VOCABULARY = len(ALPHABET) + 1  # with padding
INVALID_KINDS = ("near_miss", "other_grammar")

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


def is_embedded_reber(string: str) -> bool:
    """Whether ``string`` is B T <reber> T E or B P <reber> P E."""
    return (len(string) >= 9 and string[0] == "B" and string[-1] == "E" and string[1] in "TP"
            and string[-2] == string[1] and is_reber(string[2:-2]))


def _walk(rng: random.Random, max_length: int) -> str:
    symbols, state = ["B"], 0
    while state != 5 and len(symbols) < max_length:
        symbol, state = rng.choice(_TRANSITIONS[state])
        symbols.append(symbol)
    return "".join(symbols) + "E" if state == 5 else ""


def random_reber(rng: random.Random, max_length: int, embedded: bool = False) -> str:
    """A uniformly branching random walk through the grammar, redrawn until it fits ``max_length``."""
    while True:
        inner = _walk(rng, max_length - (4 if embedded else 0))
        if inner and len(inner) <= max_length - (4 if embedded else 0):
            if not embedded:
                return inner
            wrap = rng.choice("TP")
            return f"B{wrap}{inner}{wrap}E"


def near_miss(rng: random.Random, max_length: int, embedded: bool = False) -> str:
    """A valid string with one random edit that the grammar rejects."""
    accepts = is_embedded_reber if embedded else is_reber
    while True:
        chars = list(random_reber(rng, max_length, embedded))
        edit, i = rng.randrange(4), rng.randrange(len(chars))
        if edit == 0:
            chars[i] = rng.choice(REBER_ALPHABET.replace(chars[i], ""))
        elif edit == 1:
            chars.insert(i, rng.choice(REBER_ALPHABET))
        elif edit == 2 and len(chars) > 2:
            del chars[i]
        elif edit == 3 and i + 1 < len(chars):
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        candidate = "".join(chars)
        if len(candidate) <= max_length and not accepts(candidate):
            return candidate


def random_grammar(rng: random.Random, states: int = 5) -> dict[int, list[tuple[str, int]]]:
    """A random finite-state grammar like Reber's (two moves per state, forward progress) over other letters."""
    letters = rng.sample(OTHER_LETTERS, 6)
    return {s: [(rng.choice(letters), rng.randint(s, states)), (rng.choice(letters), rng.randint(s + 1, states))]
            for s in range(states)}


def other_grammar_string(rng: random.Random, max_length: int, grammars: list[dict[int, list[tuple[str, int]]]]
                         ) -> str:
    """A walk of one of the foreign grammars, framed by its own start and end letters."""
    while True:
        index = rng.randrange(len(grammars))
        grammar, final = grammars[index], len(grammars[index])
        start, end = OTHER_LETTERS[index % len(OTHER_LETTERS)], OTHER_LETTERS[-1 - index % len(OTHER_LETTERS)]
        symbols, state = [start], 0
        while state != final and len(symbols) < max_length - 1:
            symbol, state = rng.choice(grammar[state])
            symbols.append(symbol)
        if state == final:
            return "".join(symbols) + end


def check_settings(max_length: int, embedded: bool = False, invalid: Mapping[str, float] | None = None
                   ) -> dict[str, float]:
    """The ``reber`` settings the schema cannot check; returns the weights of the invalid kinds."""
    minimum = 9 if embedded else 5
    if max_length < minimum:
        raise ConfigError(f"reber.max_length: {max_length} is too short; the shortest "
                          f"{'embedded ' if embedded else ''}Reber string has {minimum} symbols")
    invalid = dict(invalid or {"near_miss": 1.0})
    unknown = sorted(set(invalid) - set(INVALID_KINDS))
    if unknown or sum(invalid.values()) <= 0 or min(invalid.values()) < 0:
        raise ConfigError(f"reber.invalid: {invalid}; expected non-negative weights of {list(INVALID_KINDS)} "
                          f"with a positive sum")
    return invalid


def generate_reber(train: int, test: int, max_length: int, seed: int, embedded: bool = False,
                   invalid: Mapping[str, float] | None = None) -> pd.DataFrame:
    """The string table: ``split`` (train/test), ``string``, ``label`` (1 valid, 0 invalid), ``kind``, ``length``.

    ``invalid`` weighs the kinds of invalid strings (default: near misses only).
    """
    invalid = check_settings(max_length, embedded, invalid)
    rng = random.Random(seed)
    grammars = [random_grammar(rng) for _ in range(4)]
    kinds, weights = zip(*invalid.items(), strict=True)
    rows = []
    for split, size in (("train", train), ("test", test)):
        for index in range(size):
            label = index % 2
            if label:
                kind, string = "valid", random_reber(rng, max_length, embedded)
            else:
                kind = rng.choices(kinds, weights)[0]
                string = (near_miss(rng, max_length, embedded) if kind == "near_miss"
                          else other_grammar_string(rng, max_length, grammars))
            rows.append({"split": split, "string": string, "label": label, "kind": kind, "length": len(string)})
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
