"""OBD's Hessian diagonal against autograd's double backward, one weight at a time."""

import pytest
import torch
from torch import nn

from sparsepipe.models.ffn import MLP, linear_layers
from sparsepipe.prune import obd
from sparsepipe.prune.step import prune_step


def _double_backward_diagonal(model: MLP, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """d^2 L / dw_i^2 by differentiating each gradient entry again w.r.t. the parameter autograd trains."""
    params = [getattr(layer, "weight_orig", layer.weight) for layer in linear_layers(model)]
    grads = torch.autograd.grad(nn.functional.cross_entropy(model(x), y), params, create_graph=True)
    diagonal = []
    for param, grad in zip(params, grads, strict=True):
        entries = torch.zeros(param.numel(), dtype=param.dtype)
        for k, g in enumerate(grad.flatten()):
            entries[k] = torch.autograd.grad(g, param, retain_graph=True)[0].flatten()[k]
        diagonal.append(entries.view_as(param))
    return diagonal


@pytest.mark.parametrize("hidden", [[4], [4, 4]])
@pytest.mark.parametrize("pruned", [False, True])
def test_hessian_diagonal_is_exact(hidden, pruned):
    torch.manual_seed(0)
    model = MLP(5, hidden, 3).double()
    layers = linear_layers(model)
    x = torch.randn(9, 5, dtype=torch.float64)
    if pruned:
        prune_step(layers, "class_blinded", 40)
    diagonal = obd.hessian_diagonal(model, layers, x, batch_size=4)  # batches of 4, 4 and 1 samples
    for labels in (torch.randint(0, 3, (9,)), torch.zeros(9, dtype=torch.long)):  # the labels drop out
        expected = _double_backward_diagonal(model, x, labels)
        for ours, theirs in zip(diagonal, expected, strict=True):
            torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6 * theirs.abs().max().item())
            assert theirs.abs().max() > 1e-4
    if pruned:  # the loss does not depend on pruned entries
        assert all((d[layer.weight_mask == 0] == 0).all() for d, layer in zip(diagonal, layers, strict=True))


def test_obd_prunes_the_lowest_half_h_w_squared_over_all_layers():
    torch.manual_seed(1)
    model = MLP(6, [5], 4)
    layers = linear_layers(model)
    x = torch.randn(32, 6)
    scores = torch.cat([(0.5 * h * layer.weight.detach() ** 2).flatten()
                        for h, layer in zip(obd.hessian_diagonal(model, layers, x), layers, strict=True)])
    prune_step(layers, "obd", count=13, model=model, data=(x, torch.zeros(32, dtype=torch.long)))
    removed = torch.cat([layer.weight_mask.flatten() for layer in layers]) == 0
    assert removed.sum() == 13 and scores[removed].max() < scores[~removed].min()


def test_the_sweep_refuses_models_it_cannot_differentiate():
    model = nn.Sequential(nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 2))
    with pytest.raises(ValueError, match="Sequential of Linear and ReLU"):
        obd.hessian_diagonal(model, linear_layers(model), torch.randn(4, 3))
