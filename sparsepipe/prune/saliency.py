"""Data-free saliencies (importance per weight; the lowest are pruned): random, magnitude, magnitude over spread."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from sparsepipe.models.masks import effective_weight, mask_of


def random(layers: Sequence[nn.Linear], generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """I.i.d. uniform scores: the lowest ``k`` of them are a uniformly random ``k``-subset of the remaining
    weights. Drawn on the CPU so that a CPU generator seeds any device the same way."""
    return [torch.rand(layer.weight.shape, generator=generator).to(layer.weight.device) for layer in layers]


def magnitude(layers: Sequence[nn.Linear]) -> list[torch.Tensor]:
    """|w|: class-blinded (one global threshold) and class-uniform (per layer) pruning."""
    return [effective_weight(layer).detach().abs() for layer in layers]


def magnitude_over_spread(layers: Sequence[nn.Linear]) -> list[torch.Tensor]:
    """|w| / std of the layer's remaining weights (Han et al. 2015): one global selection then prunes below
    ``quality * std`` in every layer, so layers of larger spread keep proportionally larger weights.
    Population std (no Bessel correction), so a single remaining weight does not give NaN."""
    scores = []
    for layer in layers:
        weight = effective_weight(layer).detach()
        spread = weight[mask_of(layer).bool()].std(correction=0)
        scores.append(weight.abs() / spread.clamp_min(torch.finfo(weight.dtype).tiny))
    return scores
