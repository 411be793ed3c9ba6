"""One pruning step: a method is a saliency plus a selection rule, applied through torch.nn.utils.prune masks.

| method            | saliency                            | selection                                   |
|-------------------|-------------------------------------|---------------------------------------------|
| random            | uniform random scores               | global: a uniformly random subset           |
| class_blinded     | abs(w)                              | global: one threshold over all layers       |
| class_uniform     | abs(w)                              | per layer: the same fraction of every layer |
| class_distributed | abs(w) / std of the layer's weights | global (Han et al. 2015)                    |
| obd               | 0.5 * h_ii * w^2, exact diagonal    | global (LeCun et al. 1990)                  |
| lobs              | w^2 / (2 [H^-1]_qq), layer-wise H   | per layer, then compensation (Dong et al.)  |

L-OBS selects per layer because its saliencies are errors of different layers' outputs, not of one loss, and
Dong et al. prune layer by layer. Amounts are ``rate`` percent of the *remaining* weights (the paper's iterative
schedule) or an absolute ``count``; per-layer methods share either in proportion to what each layer has left.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real

import torch
from torch import nn

from sparsepipe.errors import ConfigError
from sparsepipe.models.masks import mask_of
from sparsepipe.prune import lobs, obd, saliency
from sparsepipe.prune.selection import (
    LayerEmptied,
    apply_masks,
    global_count,
    keep_masks,
    per_layer_counts,
)

METHODS = ("random", "class_blinded", "class_uniform", "class_distributed", "obd", "lobs")
PER_LAYER = ("class_uniform", "lobs")
NEEDS_DATA = ("obd", "lobs")


def check_method(method: str) -> None:
    if method not in METHODS:
        raise ConfigError(f"ffn.prune.methods: unknown method {method!r}; expected one of {list(METHODS)}")


def _check_amount(rate: float | None, count: int | None) -> str:
    """Validate the amount; returns how to name it in messages."""
    if (rate is None) == (count is None):
        raise ConfigError("prune_step: give exactly one of rate= (percent of the remaining weights, in (0, 100)) "
                          f"or count= (number of remaining weights to remove, >= 1); got rate={rate}, count={count}")
    if rate is not None:
        if isinstance(rate, bool) or not isinstance(rate, Real) or not 0 < rate < 100:
            raise ConfigError(f"ffn.prune.rates: {rate} is outside (0, 100)")
        return f"{rate}%"
    if isinstance(count, bool) or not isinstance(count, Integral) or count < 1:
        raise ConfigError(f"prune_step: count={count!r} must be an integer >= 1 (remaining weights to remove)")
    return f"{count}-weight"


def prune_step(layers: Sequence[nn.Linear], method: str, rate: float | None = None, *, count: int | None = None,
               model: nn.Module | None = None, data: tuple[torch.Tensor, torch.Tensor] | None = None,
               generator: torch.Generator | None = None) -> None:
    """Remove ``rate`` percent of the remaining weights, or ``count`` of them, by ``method``.

    ``model`` (the module holding ``layers``) and ``data`` = (x, y) calibration tensors are needed by obd and
    lobs; ``generator`` seeds random. Raises LayerEmptied, applying nothing, if some layer would lose every
    remaining weight; ConfigError for an unknown method, a bad amount or missing model/data.
    """
    check_method(method)
    amount = _check_amount(rate, count)
    if method in NEEDS_DATA and (model is None or data is None):
        raise ConfigError(f"prune method {method!r} needs model= (the nn.Module holding the layers) and "
                          "data=(x, y) calibration tensors, e.g. validation samples")
    masks = [mask_of(layer) for layer in layers]
    left = [int(m.sum().item()) for m in masks]
    counts = per_layer_counts(left, rate, count) if method in PER_LAYER else global_count(left, rate, count)
    emptied = ([i for i, (n, r) in enumerate(zip(left, counts, strict=True)) if r >= n] if method in PER_LAYER
               else list(range(len(left))) if counts >= sum(left) else [])
    if emptied:  # known before any saliency is computed
        raise LayerEmptied(f"a {amount} {method} step would empty layer(s) {emptied}")
    if method == "random":
        scores = saliency.random(layers, generator)
    elif method in ("class_blinded", "class_uniform"):
        scores = saliency.magnitude(layers)
    elif method == "class_distributed":
        scores = saliency.magnitude_over_spread(layers)
    elif method == "obd":
        scores = obd.saliency(model, layers, data[0])
    else:
        h = lobs.hessians(model, layers, data[0])
        h_inv = [lobs.inverse(hl) for hl in h]
        scores = [lobs.saliency(layer, hi) for layer, hi in zip(layers, h_inv, strict=True)]
    new = keep_masks(scores, masks, counts)
    emptied = [i for i, mask in enumerate(new) if not mask.any()]
    if emptied:  # a global selection took all of some layer
        raise LayerEmptied(f"a {amount} {method} step would empty layer(s) {emptied}")
    if method == "lobs":
        for layer, hl, hi, keep in zip(layers, h, h_inv, new, strict=True):
            lobs.compensate(layer, hl, hi, keep)
    apply_masks(layers, new)
