"""Reading weights through torch.nn.utils.prune masks without calling the module that owns them."""

from __future__ import annotations

import torch
from torch import nn


def effective_weight(module: nn.Module, name: str) -> torch.Tensor:
    """The weight the module computes with: ``orig * mask`` where torch.nn.utils.prune masks it.

    Computed afresh rather than read from the attribute prune's forward pre-hook caches: the fast paths never call
    the module, so that cached product would be stale after an optimizer step.
    """
    mask = getattr(module, f"{name}_mask", None)
    return getattr(module, name) if mask is None else getattr(module, f"{name}_orig") * mask
