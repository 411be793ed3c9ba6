import pytest
import torch
from computed import computed_weight
from torch.nn.utils import prune

from sparsepipe.errors import ConfigError
from sparsepipe.models.ffn import MLP, linear_layers
from sparsepipe.prune.selection import LayerEmptied, remaining
from sparsepipe.prune.step import prune_step


def _model():
    torch.manual_seed(0)
    model = MLP(20, [30], 5)
    with torch.no_grad():  # layers of very different scales, so the two rules disagree
        model[0].weight.mul_(0.1)
    return model


def test_class_blinded_uses_one_global_threshold():
    model = _model()
    layers = linear_layers(model)
    total = sum(remaining(layers))
    prune_step(layers, "class_blinded", 50)
    assert prune.is_pruned(model)
    assert sum(remaining(layers)) == total - round(total / 2)
    kept = torch.cat([layer.weight_orig[layer.weight_mask.bool()].abs() for layer in layers])
    removed = torch.cat([layer.weight_orig[~layer.weight_mask.bool()].abs() for layer in layers])
    assert removed.max() <= kept.min()
    # the small-scale first layer loses far more than half of its weights
    assert remaining(layers)[0] < 0.5 * 600


def test_class_uniform_removes_the_same_fraction_of_every_layer():
    layers = linear_layers(_model())
    prune_step(layers, "class_uniform", 40)
    assert remaining(layers) == [600 - 240, 150 - 60]
    for layer in layers:
        kept = layer.weight_orig[layer.weight_mask.bool()].abs()
        removed = layer.weight_orig[~layer.weight_mask.bool()].abs()
        assert removed.max() <= kept.min()


@pytest.mark.parametrize("method", ["class_blinded", "class_uniform"])
def test_rates_apply_to_the_remaining_weights(method):
    layers = linear_layers(_model())
    prune_step(layers, method, 50)
    after_one = sum(remaining(layers))
    prune_step(layers, method, 50)
    assert sum(remaining(layers)) == pytest.approx(after_one / 2, abs=2)
    # the layers compute with exactly the weights the masks keep (read through the forward pass, not the hook's
    # own product)
    for layer in layers:
        computed = computed_weight(layer)
        assert (computed[layer.weight_mask == 0] == 0).all() and (computed[layer.weight_mask == 1] != 0).all()
    assert sum(int((computed_weight(layer) != 0).sum()) for layer in layers) == sum(remaining(layers))


def test_a_step_that_would_empty_a_layer_is_refused_and_not_applied():
    model = MLP(1, [1], 2)  # first layer has a single weight
    layers = linear_layers(model)
    with pytest.raises(LayerEmptied, match="layer"):
        prune_step(layers, "class_uniform", 99)
    assert remaining(layers) == [1, 2]


def test_bad_method_and_rate():
    layers = linear_layers(_model())
    with pytest.raises(ConfigError, match="unknown method 'obs'.*'random'.*'class_blinded'.*'obd', 'lobs'"):
        prune_step(layers, "obs", 50)
    with pytest.raises(ConfigError, match=r"outside \(0, 100\)"):
        prune_step(layers, "class_blinded", 100)
