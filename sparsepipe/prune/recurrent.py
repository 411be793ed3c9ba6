"""Magnitude pruning of recurrent nets: input-to-hidden, hidden-to-hidden or both weights, one global threshold.

As the paper prunes its recurrent classifiers: the targeted weights (``weight_ih_l0`` and/or ``weight_hh_l0`` of
every recurrent layer, all gates together) are ranked by |w| across all layers at once, and the smallest ``percent``
of them are masked with torch.nn.utils.prune (``prune.global_unstructured`` with L1 saliency, so ``*_orig`` and
``*_mask`` sit beside each other and re-training keeps pruned weights at zero). Biases are never pruned.

Counting: ``percent`` is of the targeted weights that are still unpruned (on a dense model: all of them), and the
count removed is ``floor(percent / 100 * n + 1/2)`` -- nearest integer, halves rounded up -- so 50% of 5 weights
removes 3. At 100% every targeted weight goes; a layer left without a targeted weight still computes from its
biases (and its other, untargeted matrix), so the model's outputs stay finite, and the layer is reported.
"""

from __future__ import annotations

import math

from torch import nn
from torch.nn.utils import prune

from sparsepipe.errors import ConfigError
from sparsepipe.models.masks import effective_weight, mask_of

TARGETS: dict[str, tuple[str, ...]] = {
    "i2h": ("weight_ih_l0",),
    "h2h": ("weight_hh_l0",),
    "both": ("weight_ih_l0", "weight_hh_l0"),
}


def check_target(target: str) -> tuple[str, ...]:
    """The weight names ``target`` prunes; unknown names are a configuration error."""
    if target not in TARGETS:
        raise ConfigError(f"rnn pruning target {target!r} is unknown; expected one of {list(TARGETS)}")
    return TARGETS[target]


def targeted_weights(model: nn.Module, target: str) -> list[tuple[str, nn.RNNBase, str]]:
    """``(qualified name, module, weight name)`` of every targeted weight of every recurrent layer in ``model``."""
    names = check_target(target)
    found = [(f"{path}.{name}", module, name) for path, module in model.named_modules()
             if isinstance(module, nn.RNNBase) for name in names]
    if not found:
        raise ConfigError(f"{type(model).__name__} has no recurrent layers to prune")
    return found


def removal_count(percent: float, weights: int) -> int:
    """How many of ``weights`` a ``percent`` step removes: nearest integer, halves rounded up."""
    return min(weights, math.floor(percent / 100 * weights + 0.5))


def prune_recurrent(model: nn.Module, target: str, percent: float) -> list[str]:
    """Mask the ``percent`` smallest-magnitude ``target`` weights over all recurrent layers (one threshold).

    Returns the qualified names (e.g. ``recurrent.0.weight_hh_l0``) of the targeted weight matrices left without
    any weight, so callers can record which layers were emptied; empty when none was.
    """
    if not 0 <= percent <= 100:
        raise ConfigError(f"rnn pruning percent {percent} is outside [0, 100]")
    weights = targeted_weights(model, target)
    parameters = [(module, name) for _, module, name in weights]
    scores = {(module, name): effective_weight(module, name).detach().abs() for module, name in parameters}
    remaining = sum(int(mask_of(module, name).sum()) for module, name in parameters)
    prune.global_unstructured(parameters, prune.L1Unstructured, importance_scores=scores,
                              amount=removal_count(percent, remaining))
    return [qualified for qualified, module, name in weights if not bool(mask_of(module, name).any())]
