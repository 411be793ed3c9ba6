"""L-OBS: layer Hessians and their inverse, saliency, per-layer selection and exact compensation."""

import pytest
import torch
from computed import computed_weight

from sparsepipe.models.ffn import MLP, linear_layers
from sparsepipe.models.masks import effective_weight
from sparsepipe.prune import lobs
from sparsepipe.prune.selection import remaining
from sparsepipe.prune.step import prune_step


def _setup():
    torch.manual_seed(0)
    model = MLP(8, [10], 4).double()
    # correlated inputs, as neighbouring pixels are: what one weight carried, others can take over
    x = torch.randn(40, 3, dtype=torch.float64) @ torch.randn(3, 8, dtype=torch.float64)
    x += 0.1 * torch.randn(40, 8, dtype=torch.float64)
    return model, linear_layers(model), x, torch.randint(0, 4, (40,))


def _augmented_inputs(model: MLP, x: torch.Tensor) -> list[torch.Tensor]:
    hidden = model[1](model[0](x)).detach()
    return [torch.cat([a, torch.ones(len(a), 1, dtype=a.dtype)], dim=1) for a in (x, hidden)]


def test_hessian_is_the_damped_input_gram_matrix_and_its_inverse_exact():
    model, layers, x, _ = _setup()
    for h, inputs in zip(lobs.hessians(model, layers, x, batch_size=16), _augmented_inputs(model, x), strict=True):
        gram = inputs.T @ inputs / len(x)
        torch.testing.assert_close(h, gram + lobs.DAMPING * gram.diagonal().mean() * torch.eye(len(gram)))
        torch.testing.assert_close(lobs.inverse(h), torch.linalg.inv(h), rtol=1e-10, atol=1e-10)


def _optimal_rows(inputs: torch.Tensor, rows: torch.Tensor, keep: torch.Tensor, damping: float) -> torch.Tensor:
    """Independent oracle: least squares of the layer output over the kept weights and bias of each row, with the
    same damping, as a stacked lstsq problem."""
    n = len(inputs)
    out = torch.zeros_like(rows)
    for r, (row, mask) in enumerate(zip(rows, keep, strict=True)):
        free = torch.cat([mask.bool(), torch.tensor([True])])
        a = torch.cat([inputs[:, free] / n ** 0.5, damping ** 0.5 * torch.eye(int(free.sum()), dtype=rows.dtype)])
        b = torch.cat([inputs @ row / n ** 0.5, damping ** 0.5 * row[free]])
        out[r, free] = torch.linalg.lstsq(a, b.unsqueeze(1)).solution.squeeze(1)
    return out


@pytest.mark.parametrize("rates", [(30,), (30, 60)])  # Q smaller than K, then larger and including earlier entries
def test_compensation_is_the_exact_least_squares_update(rates):
    model, layers, x, y = _setup()
    for rate in rates:
        inputs = _augmented_inputs(model, x)
        rows = [torch.cat([effective_weight(layer), layer.bias.detach().unsqueeze(1)], dim=1) for layer in layers]
        damping = [lobs.DAMPING * (a.T @ a / len(x)).diagonal().mean() for a in inputs]
        left = remaining(layers)
        prune_step(layers, "lobs", rate, model=model, data=(x, y))
        assert remaining(layers) == [n - round(rate / 100 * n) for n in left]  # the same fraction of every layer
        model(x)  # refreshes layer.weight from weight_orig * weight_mask
        for layer, a, row, lam in zip(layers, inputs, rows, damping, strict=True):
            assert (computed_weight(layer)[layer.weight_mask == 0] == 0).all()  # through the forward pass
            new = torch.cat([layer.weight, layer.bias.unsqueeze(1)], dim=1).detach()
            torch.testing.assert_close(new, _optimal_rows(a, row, layer.weight_mask, lam), rtol=1e-8, atol=1e-10)
            plain = torch.cat([row[:, :-1] * layer.weight_mask, row[:, -1:]], dim=1)
            error, plain_error = (a @ (new - row).T).norm(), (a @ (plain - row).T).norm()
            assert error < 0.75 * plain_error


def test_saliency_picks_the_lowest_w2_over_twice_the_inverse_diagonal_per_layer():
    model, layers, x, y = _setup()
    scores = [lobs.saliency(layer, lobs.inverse(h)) for layer, h in zip(layers, lobs.hessians(model, layers, x),
                                                                          strict=True)]
    for layer, s, h in zip(layers, scores, lobs.hessians(model, layers, x), strict=True):
        torch.testing.assert_close(s, layer.weight.detach() ** 2 / (2 * torch.linalg.inv(h).diagonal()[:-1]))
    prune_step(layers, "lobs", 50, model=model, data=(x, y))
    for layer, s in zip(layers, scores, strict=True):
        removed = layer.weight_mask == 0
        assert removed.sum() == layer.weight.numel() // 2 and s[removed].max() < s[~removed].min()
