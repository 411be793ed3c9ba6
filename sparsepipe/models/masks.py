"""Reading weights through torch.nn.utils.prune masks without calling the module that owns them: the one home of
the mask helpers (pruning, populations and the fast recurrent paths all read masks through these)."""

from __future__ import annotations

import torch
from torch import nn


def mask_of(module: nn.Module, name: str = "weight") -> torch.Tensor:
    """The ``<name>_mask`` buffer where torch.nn.utils.prune masks ``name``, else all ones."""
    mask = getattr(module, f"{name}_mask", None)
    return torch.ones_like(getattr(module, name)) if mask is None else mask


def trainable(module: nn.Module, name: str = "weight") -> torch.Tensor:
    """The parameter behind ``name``: ``<name>_orig`` where torch.nn.utils.prune masks it, else ``name`` itself."""
    return getattr(module, f"{name}_orig") if hasattr(module, f"{name}_mask") else getattr(module, name)


def effective_weight(module: nn.Module, name: str = "weight") -> torch.Tensor:
    """The weight the module computes with: ``orig * mask`` where torch.nn.utils.prune masks it.

    Computed afresh rather than read from the attribute prune's forward pre-hook caches: the fast paths never call
    the module, so that cached product would be stale after an optimizer step.
    """
    mask = getattr(module, f"{name}_mask", None)
    return getattr(module, name) if mask is None else getattr(module, f"{name}_orig") * mask
