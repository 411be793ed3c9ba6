"""Optimal Brain Damage (LeCun et al. 1990): saliency 0.5 * h_ii * w_i^2 with the exact Hessian diagonal.

For a Linear/ReLU chain the logits are affine in any single weight (ReLU is piecewise linear and the inputs of a
layer do not depend on its own weights), so the term of the Hessian with second derivatives of the logits vanishes
on the diagonal, and h_ii = mean_n J_ni^T (diag p_n - p_n p_n^T) J_ni exactly, J_ni the logits' Jacobian column of
weight i. For weight (i, j) of a layer J_ni = B_n[:, i] * a_nj, with a the layer input and B the Jacobian of the
logits w.r.t. the layer's pre-activations, so one batched backward sweep of B (classes x units per sample) gives
every weight's entry: h_ij = mean_n a_nj^2 (sum_c p_c B_ci^2 - (sum_c p_c B_ci)^2). The labels drop out: the
cross-entropy's Hessian in the logits, diag(p) - p p^T, does not depend on them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from sparsepipe.models.masks import effective_weight, mask_of


def _check_chain(model: nn.Module, layers: Sequence[nn.Linear]) -> None:
    """The sweep below backpropagates through ReLUs between consecutive ``layers`` and nothing else."""
    children = list(model.children()) if isinstance(model, nn.Sequential) else []
    linear = [m for m in children if isinstance(m, nn.Linear)]
    if (not children or not isinstance(children[-1], nn.Linear) or [id(m) for m in linear] != [id(m) for m in layers]
            or not all(isinstance(m, nn.Linear | nn.ReLU) for m in children)):
        raise ValueError("OBD's exact Hessian diagonal needs an nn.Sequential of Linear and ReLU modules ending in "
                         "a Linear (sparsepipe.models.ffn.MLP) whose Linear layers are exactly `layers`")


@torch.no_grad()
def hessian_diagonal(model: nn.Module, layers: Sequence[nn.Linear], x: torch.Tensor,
                     batch_size: int = 4096) -> list[torch.Tensor]:
    """d^2 L / dw_ij^2 of the mean cross-entropy over ``x`` (any labels) for every weight of every layer, shaped
    like the weights; zero at pruned entries, on which the loss does not depend."""
    _check_chain(model, layers)
    weights = [effective_weight(layer).detach() for layer in layers]
    diagonal = [torch.zeros_like(w) for w in weights]
    for xb in x.to(weights[0]).split(batch_size):
        inputs, out = [], xb
        for module in model:
            if isinstance(module, nn.Linear):
                inputs.append(out)
            out = module(out)
        p = out.softmax(dim=1)
        jac = torch.eye(p.shape[1], dtype=p.dtype, device=p.device).expand(len(p), -1, -1)  # d logits / d logits
        for index in reversed(range(len(layers))):
            weighted = p.unsqueeze(2) * jac
            curvature = (weighted * jac).sum(1) - weighted.sum(1).square()  # per sample and unit
            diagonal[index] += curvature.T @ inputs[index].square()
            if index:  # through the layer and the ReLU before it (derivative 1 where its output is positive)
                jac = (jac @ weights[index]) * (inputs[index] > 0).unsqueeze(1)
    return [d / len(x) * mask_of(layer) for d, layer in zip(diagonal, layers, strict=True)]


def saliency(model: nn.Module, layers: Sequence[nn.Linear], x: torch.Tensor) -> list[torch.Tensor]:
    """0.5 * h_ii * w_i^2: the loss increase of deleting w_i under OBD's diagonal, quadratic approximation."""
    diagonal = hessian_diagonal(model, layers, x)
    return [0.5 * h * effective_weight(layer).detach().square() for h, layer in zip(diagonal, layers, strict=True)]
