"""Selection: turn per-weight saliencies into torch.nn.utils.prune masks, over all layers or layer by layer.

The new masks are computed once (the lowest saliencies among the remaining weights, the rule L1Unstructured's
``topk`` applies) and stored with ``prune.custom_from_mask``, so the emptied-layer check and the masks applied
cannot disagree, ties included. Masks are ``weight_mask`` buffers beside ``weight_orig``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils import prune

from sparsepipe.models.masks import mask_of


class LayerEmptied(Exception):
    """Raised before a step that would remove every remaining weight of some layer; the step is not applied."""


def remaining(layers: Sequence[nn.Linear]) -> list[int]:
    """Unpruned weights per layer."""
    return [int(mask_of(layer).sum().item()) for layer in layers]


def global_count(left: Sequence[int], rate: float | None, count: int | None) -> int:
    """Weights to remove over all layers: ``rate`` percent of the remaining ones, or ``count``."""
    return round(rate / 100 * sum(left)) if rate is not None else int(count)


def per_layer_counts(left: Sequence[int], rate: float | None, count: int | None) -> list[int]:
    """The same fraction of every layer; ``count`` is shared in proportion to what each layer has left
    (largest remainders get the rounding), so the counts add up to it exactly."""
    if rate is not None:
        return [round(rate / 100 * n) for n in left]
    shares = [count * n / sum(left) for n in left]
    counts = [int(s) for s in shares]
    by_remainder = sorted(range(len(left)), key=lambda i: counts[i] - shares[i])
    for i in by_remainder[: count - sum(counts)]:
        counts[i] += 1
    return counts


def _drop_lowest(scores: Sequence[torch.Tensor], masks: Sequence[torch.Tensor], k: int) -> list[torch.Tensor]:
    """Masks with the ``k`` lowest-scoring remaining entries (taken together) set to zero."""
    flat_mask = torch.cat([m.flatten() for m in masks])
    alive = flat_mask.nonzero().squeeze(1)
    flat_scores = torch.cat([s.detach().flatten().to(flat_mask.device) for s in scores])[alive]
    new = flat_mask.clone()
    new[alive[torch.topk(flat_scores, min(k, len(alive)), largest=False).indices]] = 0
    return [part.view_as(m) for part, m in zip(new.split([m.numel() for m in masks]), masks, strict=True)]


def keep_masks(scores: Sequence[torch.Tensor], masks: Sequence[torch.Tensor], counts: int | Sequence[int]
               ) -> list[torch.Tensor]:
    """New masks: an int ``counts`` is one global selection over all layers, a list one selection per layer."""
    if isinstance(counts, int):
        return _drop_lowest(scores, masks, counts)
    return [_drop_lowest([s], [m], k)[0] for s, m, k in zip(scores, masks, counts, strict=True)]


def apply_masks(layers: Sequence[nn.Linear], masks: Sequence[torch.Tensor]) -> None:
    for layer, mask in zip(layers, masks, strict=True):
        prune.custom_from_mask(layer, "weight", mask)
