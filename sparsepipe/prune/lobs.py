"""Layer-wise Optimal Brain Surgeon (Dong et al. 2017): each layer is pruned to keep its own output, X W^T + b.

- Hessian of a layer's output error: H = (1/N) [X 1]^T [X 1] from its inputs X over the calibration data,
  collected with forward hooks in one pass (every layer from the current network, as Dong et al. prune each layer
  from the unpruned network's inputs). The constant column treats the bias: it is never pruned but is compensated
  with the weights, which is the exact least-squares update of everything left free in a row.
- Damping ``damping * mean(diag H)`` on the diagonal keeps H positive definite when inputs are constant or
  collinear (dead pixels, dead units); it is then inverted through its Cholesky factor. Float64 throughout,
  as the damped H can still be ill-conditioned.
- Saliency w_q^2 / (2 [H^-1]_qq): the error increase of deleting w_q alone with optimal compensation.
- Compensation is exact for the set Q of all pruned entries of a row, earlier ones included, so they stay zero:
  delta = -H^-1[:, Q] (H^-1[Q, Q])^-1 w_Q, or the equivalent delta_K = H[K, K]^-1 H[K, Q] w_Q on the kept set
  K when Q is the larger one (the cheaper of two equal solves).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from sparsepipe.models.masks import effective_weight

DAMPING = 1e-4  # relative to the mean diagonal of H


@torch.no_grad()
def hessians(model: nn.Module, layers: Sequence[nn.Linear], x: torch.Tensor, damping: float = DAMPING,
             batch_size: int = 4096) -> list[torch.Tensor]:
    """Damped (1/N) [X 1]^T [X 1] per layer, (in + 1) x (in + 1), the last index standing for the bias."""
    if any(layer.bias is None for layer in layers):
        raise ValueError("L-OBS compensates the bias with the weights: every layer needs one (nn.Linear's default)")
    grams = [torch.zeros(layer.in_features + 1, layer.in_features + 1, dtype=torch.float64,
                         device=layer.weight.device) for layer in layers]

    def accumulate(index: int):
        def hook(_module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            _accumulate_gram(grams[index], args[0].detach().to(torch.float64))
        return hook

    handles = [layer.register_forward_pre_hook(accumulate(i)) for i, layer in enumerate(layers)]
    try:
        for xb in x.to(layers[0].weight).split(batch_size):
            model(xb)
    finally:
        for handle in handles:
            handle.remove()
    result = []
    for gram in grams:
        h = gram / len(x)
        h.diagonal().add_(damping * h.diagonal().mean())  # the bias entry is 1, so the mean is positive
        result.append(h)
    return result


def _accumulate_gram(gram: torch.Tensor, inputs: torch.Tensor) -> None:
    """gram += [X 1]^T [X 1], without building [X 1]: the bias row and column are column sums and N.

    On the CPU the product goes through numpy, which recognises X^T X and computes one triangle (BLAS syrk):
    half the work of torch's general matrix product, which is most of the time L-OBS spends."""
    features = inputs.shape[1]
    if inputs.device.type == "cpu":
        array = inputs.contiguous().numpy()
        gram[:features, :features] += torch.from_numpy(array.T @ array)
    else:
        gram[:features, :features] += inputs.T @ inputs
    column_sums = inputs.sum(0)
    gram[:features, features] += column_sums
    gram[features, :features] += column_sums
    gram[features, features] += len(inputs)


def inverse(h: torch.Tensor) -> torch.Tensor:
    """H^-1 through its Cholesky factor (H is symmetric positive definite once damped)."""
    return torch.cholesky_inverse(torch.linalg.cholesky(h))


def saliency(layer: nn.Linear, h_inv: torch.Tensor) -> torch.Tensor:
    """w_q^2 / (2 [H^-1]_qq) for every weight; the same H for every row, as all rows see the same inputs."""
    weight = effective_weight(layer).detach().to(torch.float64)
    return (weight.square() / (2 * h_inv.diagonal()[:-1])).to(layer.weight.dtype)


def _solve_spd(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.cholesky_solve(b.unsqueeze(1), torch.linalg.cholesky(a)).squeeze(1)


@torch.no_grad()
def compensate(layer: nn.Linear, h: torch.Tensor, h_inv: torch.Tensor, keep: torch.Tensor) -> None:
    """Write the optimally compensated weights (into ``weight_orig`` once pruned) and bias for the new mask
    ``keep``; entries outside it become exactly zero in the effective weight."""
    weight = effective_weight(layer).detach().to(torch.float64)
    rows = torch.cat([weight, layer.bias.detach().to(torch.float64).unsqueeze(1)], dim=1)
    kept = torch.cat([keep.bool(), torch.ones_like(keep[:, :1], dtype=torch.bool)], dim=1)
    for row, mask in zip(rows, kept, strict=True):
        pruned, free = (~mask).nonzero().squeeze(1), mask.nonzero().squeeze(1)
        if not len(pruned):
            continue
        if len(pruned) <= len(free):
            row -= h_inv[:, pruned] @ _solve_spd(h_inv[pruned][:, pruned], row[pruned])
        else:
            row[free] += _solve_spd(h[free][:, free], h[free][:, pruned] @ row[pruned])
        row[pruned] = 0
    stored = layer.weight_orig if hasattr(layer, "weight_orig") else layer.weight
    # entries pruned now or before keep their original values under the mask, as torch.nn.utils.prune does
    stored.copy_(torch.where(keep.bool(), rows[:, :-1].to(stored.dtype), stored))
    layer.bias.copy_(rows[:, -1].to(layer.bias.dtype))
