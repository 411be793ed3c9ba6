"""The Reber grammar: valid strings by random walks, invalid ones as near misses or foreign grammars, as Parquet.

Valid strings walk Reber's finite-state grammar (B ... E), optionally *embedded* (B T <reber> T E or B P <reber> P E,
which needs memory of the second symbol). Invalid strings are a configurable mix of
- ``near_miss``: a valid string with one symbol substituted, inserted, deleted or two neighbours swapped, kept only
  if the grammar rejects it (grammar violations over the Reber alphabet);
- ``other_grammar``: walks of other random finite-state grammars over letters outside the Reber alphabet.
Classes are balanced; the whole table is a function of the seed and the settings.

Lengths: by default a walk is redrawn until it fits ``max_length`` (the walk's own length distribution, mean about
8 symbols). With ``min_length`` or ``mean_length`` set, every string's length is drawn first, over the range, in
proportion to how often a uniform walk has that length, tilted exponentially until the mean of valid strings is
``mean_length``; then a walk of exactly that length is drawn (:class:`WalkSampler`). Near misses edit such strings
and keep the range; foreign-grammar strings take their own walks' lengths within the range, tilted to
``other_grammar_mean_length`` where set. The paper's data set (valid 11-49 symbols, mean 23.6; invalid 11-48, mean
18.7, 56% with foreign letters) is drawn by ``configs/paper-rnn.yaml``.
"""

from __future__ import annotations

import math
import random
import string as _string
from collections.abc import Callable, Mapping, Sequence
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
Grammar = dict[int, list[tuple[str, int]]]  # state -> [(symbol, next state)]; the final state is len(grammar)

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


def near_miss(rng: random.Random, max_length: int, embedded: bool = False,
              valid: Callable[[], str] | None = None, min_length: int = 0) -> str:
    """A valid string (``valid()``, default: :func:`random_reber`) with one random edit that the grammar rejects,
    redrawn until its length lies in ``[min_length, max_length]``."""
    accepts = is_embedded_reber if embedded else is_reber
    while True:
        candidate = _edit(rng, list(valid() if valid else random_reber(rng, max_length, embedded)))
        if min_length <= len(candidate) <= max_length and not accepts(candidate):
            return candidate


def _edit(rng: random.Random, chars: list[str]) -> str:
    """One random substitution, insertion, deletion or swap of neighbours (may leave the string valid)."""
    edit, i = rng.randrange(4), rng.randrange(len(chars))
    if edit == 0:
        chars[i] = rng.choice(REBER_ALPHABET.replace(chars[i], ""))
    elif edit == 1:
        chars.insert(i, rng.choice(REBER_ALPHABET))
    elif edit == 2 and len(chars) > 2:
        del chars[i]
    elif edit == 3 and i + 1 < len(chars):
        chars[i], chars[i + 1] = chars[i + 1], chars[i]
    return "".join(chars)


def random_grammar(rng: random.Random, states: int = 5, other: str = OTHER_LETTERS) -> Grammar:
    """A random finite-state grammar like Reber's (two moves per state, forward progress) over ``other`` letters."""
    letters = rng.sample(other, min(6, len(other)))
    return {s: [(rng.choice(letters), rng.randint(s, states)), (rng.choice(letters), rng.randint(s + 1, states))]
            for s in range(states)}


def _frame(index: int, other: str) -> tuple[str, str]:
    """Start and end letters of foreign grammar ``index``."""
    return other[index % len(other)], other[-1 - index % len(other)]


def other_grammar_string(rng: random.Random, max_length: int, grammars: list[Grammar], other: str = OTHER_LETTERS
                         ) -> str:
    """A walk of one of the foreign grammars, framed by its own start and end letters."""
    while True:
        index = rng.randrange(len(grammars))
        grammar, final = grammars[index], len(grammars[index])
        start, end = _frame(index, other)
        symbols, state = [start], 0
        while state != final and len(symbols) < max_length - 1:
            symbol, state = rng.choice(grammar[state])
            symbols.append(symbol)
        if state == final:
            return "".join(symbols) + end


def check_settings(max_length: int, embedded: bool = False, invalid: Mapping[str, float] | None = None,
                   min_length: int | None = None, mean_length: float | None = None, alphabet: str = ALPHABET,
                   other_grammar_mean_length: float | None = None) -> dict[str, float]:
    """The ``reber`` settings the schema cannot check; returns the weights of the invalid kinds."""
    minimum = 9 if embedded else 5
    if max_length < minimum:
        raise ConfigError(f"reber.max_length: {max_length} is too short; the shortest "
                          f"{'embedded ' if embedded else ''}Reber string has {minimum} symbols")
    if min_length is not None and not minimum <= min_length <= max_length:
        raise ConfigError(f"reber.min_length: {min_length}; expected {minimum} <= min_length <= reber.max_length "
                          f"({max_length})")
    low = minimum if min_length is None else min_length
    for key, mean in (("mean_length", mean_length), ("other_grammar_mean_length", other_grammar_mean_length)):
        if mean is not None and not low < mean < max_length:
            raise ConfigError(f"reber.{key}: {mean}; expected strictly between the shortest ({low}) and the longest "
                              f"({max_length}) length")
    invalid = dict(invalid or {"near_miss": 1.0})
    unknown = sorted(set(invalid) - set(INVALID_KINDS))
    if unknown or sum(invalid.values()) <= 0 or min(invalid.values()) < 0:
        raise ConfigError(f"reber.invalid: {invalid}; expected non-negative weights of {list(INVALID_KINDS)} "
                          f"with a positive sum")
    _foreign_letters(alphabet, invalid.get("other_grammar", 0) > 0)
    return invalid


def _foreign_letters(alphabet: str, needed: bool) -> str:
    """The letters of ``alphabet`` outside Reber's (the foreign grammars' letters), checked."""
    if not alphabet or len(set(alphabet)) != len(alphabet):
        raise ConfigError(f"reber.alphabet: {alphabet!r} is empty or repeats a symbol; expected distinct symbols")
    missing = "".join(c for c in REBER_ALPHABET if c not in alphabet)
    if missing:
        raise ConfigError(f"reber.alphabet: {alphabet!r} lacks the Reber symbols {missing!r}; expected a superset "
                          f"of {REBER_ALPHABET!r}")
    other = "".join(c for c in alphabet if c not in REBER_ALPHABET)
    if needed and len(other) < 2:
        raise ConfigError(f"reber.alphabet: {alphabet!r} has {len(other)} symbol(s) outside the Reber alphabet; "
                          f"reber.invalid.other_grammar needs at least 2")
    return other


class WalkSampler:
    """Walks of a grammar with their length drawn first: ``P(length) ∝ P_walk(length) · tilt**length`` over
    ``[low, high]`` (``tilt`` 1: a uniform walk conditioned on the range), then a uniform walk conditioned on
    exactly that length. ``frame`` symbols (start and end, plus any wrapping) count towards the length."""

    def __init__(self, grammar: Grammar, low: int, high: int, frame: int = 2, mean: float | None = None):
        self.grammar, self.final, self.frame = grammar, len(grammar), frame
        moves = max(0, high - frame)
        # reach[r][s]: probability that a uniform walk from state s ends in exactly r moves
        reach = [[0.0] * (self.final + 1) for _ in range(moves + 1)]
        reach[0][self.final] = 1.0
        for r in range(1, moves + 1):
            for state, options in grammar.items():
                reach[r][state] = sum(reach[r - 1][nxt] for _, nxt in options) / len(options)
        self.reach = reach
        self.lengths = [n for n in range(max(low, frame), high + 1) if reach[n - frame][0] > 0]
        self.natural = [reach[n - frame][0] for n in self.lengths]
        if not self.reaches(mean):
            self.weights: list[float] = []
        else:
            self.weights = self._tilted(1.0) if mean is None else self._tilted(self._tilt_for(mean))

    def reaches(self, mean: float | None) -> bool:
        """Whether some length lies in the range (and, for a ``mean``, lengths on both sides of it)."""
        return bool(self.lengths) and (mean is None or self.lengths[0] < mean < self.lengths[-1])

    def _tilted(self, tilt: float) -> list[float]:
        top = max(math.log(w) + n * math.log(tilt) for n, w in zip(self.lengths, self.natural, strict=True))
        return [math.exp(math.log(w) + n * math.log(tilt) - top) for n, w in zip(self.lengths, self.natural,
                                                                                  strict=True)]

    def mean(self, weights: Sequence[float] | None = None) -> float:
        weights = self.weights if weights is None else weights
        return sum(n * w for n, w in zip(self.lengths, weights, strict=True)) / sum(weights)

    def _tilt_for(self, mean: float) -> float:
        """The tilt whose length distribution has ``mean`` (bisection on its logarithm; the mean rises with it)."""
        low, high = -10.0, 10.0
        for _ in range(100):
            middle = (low + high) / 2
            low, high = (middle, high) if self.mean(self._tilted(math.exp(middle))) < mean else (low, middle)
        return math.exp((low + high) / 2)

    def draw(self, rng: random.Random) -> list[str]:
        """The symbols of one walk (without its frame)."""
        length = rng.choices(self.lengths, self.weights)[0]
        state, symbols = 0, []
        for remaining in range(length - self.frame, 0, -1):
            options = self.grammar[state]
            symbol, state = rng.choices(options, [self.reach[remaining - 1][nxt] for _, nxt in options])[0]
            symbols.append(symbol)
        return symbols


class _RangedStrings:
    """Valid strings, near misses and foreign-grammar strings with lengths in ``[low, high]`` (WalkSampler)."""

    def __init__(self, rng: random.Random, low: int, high: int, mean: float | None, embedded: bool, other: str,
                 other_mean: float | None = None):
        self.rng, self.low, self.high, self.embedded = rng, low, high, embedded
        self.valid = WalkSampler(_TRANSITIONS, low, high, frame=6 if embedded else 2, mean=mean)
        self.foreign: list[tuple[WalkSampler, str, str]] = []
        for _ in range(1000):  # grammars that cannot reach the range (or its mean) are drawn again
            if not other or len(self.foreign) == 4:
                break
            sampler = WalkSampler(random_grammar(rng, other=other), low, high, mean=other_mean)
            if sampler.reaches(other_mean):
                self.foreign.append((sampler, *_frame(len(self.foreign), other)))
        if other and not self.foreign:
            raise ConfigError(f"reber.other_grammar_mean_length: {other_mean}: no foreign grammar reaches it within "
                              f"[{low}, {high}]; choose a mean nearer reber.min_length")

    def valid_string(self) -> str:
        inner = "B" + "".join(self.valid.draw(self.rng)) + "E"
        if not self.embedded:
            return inner
        wrap = self.rng.choice("TP")
        return f"B{wrap}{inner}{wrap}E"

    def near_miss(self) -> str:
        return near_miss(self.rng, self.high, self.embedded, self.valid_string, self.low)

    def other_grammar(self) -> str:
        sampler, start, end = self.rng.choice(self.foreign)
        return start + "".join(sampler.draw(self.rng)) + end


def generate_reber(train: int, test: int, max_length: int, seed: int, embedded: bool = False,
                   invalid: Mapping[str, float] | None = None, min_length: int | None = None,
                   mean_length: float | None = None, alphabet: str = ALPHABET,
                   other_grammar_mean_length: float | None = None) -> pd.DataFrame:
    """The string table: ``split`` (train/test), ``string``, ``label`` (1 valid, 0 invalid), ``kind``, ``length``.

    ``invalid`` weighs the kinds of invalid strings (default: near misses only); ``alphabet`` is every symbol a
    string may hold (the foreign grammars draw from its non-Reber letters); ``min_length`` / ``mean_length`` /
    ``other_grammar_mean_length``: see the module's docstring (all unset: walks redrawn until they fit
    ``max_length``, as before these keys existed, so older tables stay the same).
    """
    invalid = check_settings(max_length, embedded, invalid, min_length, mean_length, alphabet,
                             other_grammar_mean_length)
    other = _foreign_letters(alphabet, invalid.get("other_grammar", 0) > 0)
    rng = random.Random(seed)
    kinds, weights = zip(*invalid.items(), strict=True)
    if min_length is None and mean_length is None and other_grammar_mean_length is None:
        grammars = [random_grammar(rng, other=other or OTHER_LETTERS) for _ in range(4)]

        def draw(kind: str) -> str:
            if kind == "valid":
                return random_reber(rng, max_length, embedded)
            if kind == "near_miss":
                return near_miss(rng, max_length, embedded)
            return other_grammar_string(rng, max_length, grammars, other)
    else:
        ranged = _RangedStrings(rng, min_length or (9 if embedded else 5), max_length, mean_length, embedded, other,
                                other_grammar_mean_length)

        def draw(kind: str) -> str:
            return getattr(ranged, f"{kind}_string" if kind == "valid" else kind)()

    rows = []
    for split, size in (("train", train), ("test", test)):
        for index in range(size):
            label = index % 2
            kind = "valid" if label else rng.choices(kinds, weights)[0]
            string = draw(kind)
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


def is_string_batch(tensors: tuple[torch.Tensor, ...]) -> bool:
    """Whether ``tensors`` are a batch of strings: (tokens (N, T), lengths (N,) integers, ..., labels (N,)), the
    layout of :class:`ReberTensors` (images come as (x, labels))."""
    return (len(tensors) >= 3 and tensors[0].dim() == 2 and tensors[1].dim() == 1
            and not tensors[1].is_floating_point())


def tensors_of(table: pd.DataFrame, split: str, source: str = "reber table", alphabet: str = ALPHABET
               ) -> ReberTensors:
    """Tokenise one split of the string table once, into padded tensors (symbol i of ``alphabet`` is token i + 1)."""
    part = table[table["split"] == split]
    if part.empty:
        raise DataError(f"{source}: no rows with split={split!r}")
    index = {c: i + 1 for i, c in enumerate(alphabet)}
    strings = list(part["string"])
    bad = [s for s in strings if not s or any(c not in index for c in s)]
    if bad:
        raise DataError(f"{source}: strings outside the alphabet {alphabet!r} or empty, e.g. {bad[0]!r}")
    lengths = torch.tensor([len(s) for s in strings], dtype=torch.long)
    tokens = torch.full((len(strings), int(lengths.max())), PAD, dtype=torch.long)
    for row, string in enumerate(strings):
        tokens[row, : len(string)] = torch.tensor([index[c] for c in string])
    labels = torch.tensor(list(part["label"]), dtype=torch.long)
    return ReberTensors(tokens, lengths, labels)
