"""Every pruning method through prune_step: amounts, seeding, selection rules, refused steps, bad arguments."""

import pytest
import torch
from computed import computed_weight
from torch.nn.utils import prune

from sparsepipe.errors import ConfigError
from sparsepipe.models.ffn import MLP, linear_layers
from sparsepipe.prune.selection import LayerEmptied, remaining
from sparsepipe.prune.step import METHODS, prune_step


def _model(seed: int = 0) -> MLP:
    torch.manual_seed(seed)
    model = MLP(20, [30], 5)
    with torch.no_grad():  # layers of very different spreads
        model[0].weight.mul_(0.1)
    return model


def _data(n: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return torch.randn(n, 20, generator=generator), torch.randint(0, 5, (n,), generator=generator)


def _masks(model: MLP) -> list[torch.Tensor]:
    return [layer.weight_mask.clone() for layer in linear_layers(model)]


def _step(model: MLP, method: str, rate: float | None = None, **kwargs) -> None:
    prune_step(linear_layers(model), method, rate, model=model, data=_data(), **kwargs)


def test_random_is_seeded_and_removes_the_right_count():
    masks = []
    for seed in (7, 7, 8):
        model = _model()
        _step(model, "random", 30, generator=torch.Generator().manual_seed(seed))
        assert sum(remaining(linear_layers(model))) == 750 - 225
        masks.append(_masks(model))
    assert all(torch.equal(a, b) for a, b in zip(masks[0], masks[1], strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(masks[0], masks[2], strict=True))
    # ignores magnitude: the small-scale first layer loses about its share (30% of 600), not nearly all of it
    assert 600 - 225 < remaining(linear_layers(model))[0] < 600


def test_class_distributed_selects_by_magnitude_over_the_layers_spread():
    blinded, distributed = _model(), _model()
    layers = linear_layers(distributed)
    scores = torch.cat([(layer.weight.abs() / layer.weight.std(correction=0)).flatten() for layer in layers])
    _step(blinded, "class_blinded", 50)
    _step(distributed, "class_distributed", 50)
    expected = torch.ones(750)
    expected[torch.topk(scores, 375, largest=False).indices] = 0
    assert torch.equal(torch.cat([m.flatten() for m in _masks(distributed)]), expected)
    assert remaining(layers) != remaining(linear_layers(blinded))
    # the spread is that of the *remaining* weights at the next step
    kept = [layer.weight_orig[layer.weight_mask.bool()] for layer in layers]
    scores = torch.cat([(layer.weight_orig * layer.weight_mask).abs().flatten() / w.std(correction=0)
                        for layer, w in zip(layers, kept, strict=True)])
    alive = torch.cat([m.flatten() for m in _masks(distributed)]).nonzero().squeeze(1)
    expected[alive[torch.topk(scores[alive], 75, largest=False).indices]] = 0
    _step(distributed, "class_distributed", count=75)
    assert torch.equal(torch.cat([m.flatten() for m in _masks(distributed)]), expected)


@pytest.mark.parametrize("method", METHODS)
def test_count_removes_exactly_that_many(method):
    model = _model()
    _step(model, method, 40)
    before = _computed_nonzero(model)
    _step(model, method, count=101, generator=torch.Generator().manual_seed(0))
    after = _computed_nonzero(model)
    # counted in what the layers compute with (their forward pass), not in the masks prune_step reports on
    assert sum(before) - sum(after) == 101 and after == remaining(linear_layers(model))
    for layer in linear_layers(model):
        assert (computed_weight(layer)[layer.weight_mask == 0] == 0).all()
    if method in ("class_uniform", "lobs"):  # shared in proportion to what each layer has left
        assert [b - a for b, a in zip(before, after, strict=True)] == [81, 20]


def _computed_nonzero(model: MLP) -> list[int]:
    return [int((computed_weight(layer) != 0).sum()) for layer in linear_layers(model)]


def _tiny() -> MLP:
    """Two weights per layer; the first layer's are the least salient for every global method."""
    model = MLP(2, [1], 2)
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1e-3, -1e-3]]))
        model[0].bias.fill_(1.0)
        model[2].weight.copy_(torch.tensor([[2.0], [2.5]]))
    return model


@pytest.mark.parametrize(("method", "rate", "count"), [
    ("class_blinded", None, 2), ("class_distributed", None, 2), ("obd", None, 2), ("random", None, 4),
    ("class_uniform", 99, None), ("lobs", 99, None)])
def test_a_step_that_empties_a_layer_is_refused_and_not_applied(method, rate, count):
    model = _tiny()
    before = [p.clone() for p in model.parameters()]
    data = (torch.randn(16, 2, generator=torch.Generator().manual_seed(0)), torch.randint(0, 2, (16,)))
    with pytest.raises(LayerEmptied, match=r"would empty layer\(s\) \[0"):
        prune_step(linear_layers(model), method, rate, count=count, model=model, data=data)
    assert not prune.is_pruned(model)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_random_refuses_only_the_draws_that_empty_a_layer():
    refused = 0
    for seed in range(12):  # two of four weights: one layer goes whole with probability 1/3
        model = _tiny()
        try:
            prune_step(linear_layers(model), "random", count=2, generator=torch.Generator().manual_seed(seed))
        except LayerEmptied:
            refused += 1
            assert not prune.is_pruned(model)
        else:
            assert remaining(linear_layers(model)) == [1, 1]
    assert 0 < refused < 12


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"rate": 50, "count": 3}, r"exactly one of rate= .* or count= .*got rate=50, count=3"),
    ({}, r"exactly one of rate=.*got rate=None, count=None"),
    ({"count": 0}, r"count=0 must be an integer >= 1"),
    ({"count": 2.5}, r"count=2.5 must be an integer >= 1"),
    ({"rate": 0}, r"0 is outside \(0, 100\)"),
    ({"rate": 100.0}, r"100.0 is outside \(0, 100\)"),
])
def test_bad_amounts(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        prune_step(linear_layers(_model()), "class_blinded", **kwargs)


@pytest.mark.parametrize("method", ["obd", "lobs"])
def test_second_order_methods_need_model_and_data(method):
    model = _model()
    for kwargs in ({"model": model}, {"data": _data()}):
        with pytest.raises(ConfigError, match=f"method '{method}' needs model=.*data=\\(x, y\\)"):
            prune_step(linear_layers(model), method, 50, **kwargs)
    assert not prune.is_pruned(model)
