"""Length-bucketed mini-batches of token strings: a drop-in for :func:`sparsepipe.train.batches`.

A recurrent batch costs as many time steps as its longest string. Reber strings (max_length 20) average about 8
symbols, but a random batch of 32 holds one of ~16 on average, so plain shuffling pays for ~2x the steps it needs.
Here each pool of ``pool`` batches' worth of randomly drawn strings is sorted by length and cut into batches,
then all batches are shuffled: batches carry little padding, every string is seen once per epoch, and the
composition of the batches still changes from epoch to epoch (a pool is a fresh random draw each time). The price:
a batch holds strings of (nearly) one length, so where length and label correlate (the shortest near misses),
a batch can be all one class; the epoch as a whole is unchanged. Each batch's tokens are cut to its longest string.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from sparsepipe.data.reber import is_string_batch
from sparsepipe.train import batches


def length_batches(lengths: torch.Tensor, batch_size: int, generator: torch.Generator | None = None,
                   pool: int = 64) -> list[torch.Tensor]:
    """Index batches covering ``range(len(lengths))`` once, each of similar lengths.

    With ``generator``: a seeded random permutation is cut into pools of ``pool * batch_size``, each pool is
    sorted by length (stably, so ties keep their random order) and cut into batches, and the batch order is
    shuffled. Without: all strings sorted by length, batches in that order (for evaluation, where the order of
    batches does not matter). Only the last batch of a pool can be smaller than ``batch_size``.
    """
    n = len(lengths)
    if generator is None:
        order = torch.sort(lengths, stable=True).indices
        return list(torch.split(order, batch_size))
    order = torch.randperm(n, generator=generator)
    result: list[torch.Tensor] = []
    for chunk in torch.split(order, pool * batch_size):
        result.extend(torch.split(chunk[torch.sort(lengths[chunk], stable=True).indices], batch_size))
    shuffle = torch.randperm(len(result), generator=generator)
    return [result[int(i)] for i in shuffle]


def bucketed_batches(tensors: tuple[torch.Tensor, ...], batch_size: int, generator: torch.Generator | None = None,
                     pool: int = 64) -> Iterator[tuple[torch.Tensor, ...]]:
    """Same signature and contract as :func:`sparsepipe.train.batches` (aligned tensors, labels last, every
    example once, shuffled and reproducible when a generator is given), with length-bucketed batches for
    ``(tokens, lengths, ..., labels)``; any other layout (images) falls back to ``batches`` unchanged.
    """
    if not is_string_batch(tensors):
        yield from batches(tensors, batch_size, generator)
        return
    tokens, lengths, *rest = tensors
    for index in length_batches(lengths, batch_size, generator, pool):
        yield (tokens[index, : int(lengths[index].max())], lengths[index], *(t[index] for t in rest))
