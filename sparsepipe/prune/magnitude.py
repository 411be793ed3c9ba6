"""Magnitude pruning: a saliency (|w|) plus a selection rule, expressed with torch.nn.utils.prune.

- class-blinded: one global threshold over all layers (``prune.global_unstructured``);
- class-uniform: the same fraction of every layer's remaining weights (one ``l1_unstructured`` per layer).
Rates are percentages of the *remaining* weights, as in the paper's iterative schedule.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils import prune

from sparsepipe.errors import ConfigError

METHODS = ("class_blinded", "class_uniform")


class LayerEmptied(Exception):
    """Raised before a step that would remove every remaining weight of some layer; the step is not applied."""


def check_method(method: str) -> None:
    if method not in METHODS:
        raise ConfigError(f"ffn.prune.methods: unknown method {method!r}; expected one of {list(METHODS)}")


def current_mask(layer: nn.Linear) -> torch.Tensor:
    return getattr(layer, "weight_mask", torch.ones_like(layer.weight))


def remaining(layers: Sequence[nn.Linear]) -> list[int]:
    """Unpruned weights per layer."""
    return [int(current_mask(layer).sum().item()) for layer in layers]


def _removals(layers: Sequence[nn.Linear], method: str, rate: float) -> list[int]:
    """How many weights each layer would lose in this step."""
    left = remaining(layers)
    if method == "class_uniform":
        return [round(rate / 100 * n) for n in left]
    count = round(rate / 100 * sum(left))
    if count == 0:
        return [0] * len(layers)
    scores = torch.cat([(layer.weight.detach().abs()[current_mask(layer).bool()]) for layer in layers])
    owner = torch.cat([torch.full((n,), i) for i, n in enumerate(left)])
    # the same selection as L1Unstructured's topk over the remaining weights
    chosen = owner[torch.topk(scores, count, largest=False).indices]
    return [int((chosen == i).sum().item()) for i in range(len(layers))]


def prune_step(layers: Sequence[nn.Linear], method: str, rate: float) -> None:
    """Remove ``rate`` percent of the remaining weights by ``method``; masks live in ``weight_mask`` buffers."""
    check_method(method)
    if not 0 < rate < 100:
        raise ConfigError(f"ffn.prune.rates: {rate} is outside (0, 100)")
    removals = _removals(layers, method, rate)
    emptied = [i for i, (n, r) in enumerate(zip(remaining(layers), removals, strict=True)) if r >= n]
    if emptied:
        raise LayerEmptied(f"a {rate}% {method} step would empty layer(s) {emptied}")
    if method == "class_blinded":
        prune.global_unstructured([(layer, "weight") for layer in layers], prune.L1Unstructured,
                                  amount=sum(removals))
    else:
        for layer, count in zip(layers, removals, strict=True):
            prune.l1_unstructured(layer, "weight", amount=count)
