import math

import pytest
import torch

from sparsepipe.data.reber import VOCABULARY, generate_reber, tensors_of
from sparsepipe.errors import ConfigError
from sparsepipe.models.reference import ReferenceRecurrentClassifier
from sparsepipe.models.rnn import CELLS, RecurrentClassifier
from sparsepipe.prune.recurrent import TARGETS, prune_recurrent, removal_count, targeted_weights
from sparsepipe.train import evaluate


def _model(cell="gru"):
    torch.manual_seed(0)
    model = RecurrentClassifier(cell, VOCABULARY, 5, [9, 7])
    with torch.no_grad():  # layers of very different scales, so a per-layer rule would disagree with a global one
        model.recurrent[0].weight_ih_l0.mul_(0.1)
        model.recurrent[1].weight_hh_l0.mul_(3.0)
    return model


def _strings():
    t = tensors_of(generate_reber(24, 2, 16, seed=5), "train")
    return t.tokens, t.lengths, t.labels


@pytest.mark.parametrize("target", list(TARGETS))
def test_one_global_threshold_over_all_targeted_weights(target):
    model = _model()
    prune_recurrent(model, target, 40)
    weights = targeted_weights(model, target)
    kept = torch.cat([m.get_parameter(f"{n}_orig")[m.get_buffer(f"{n}_mask").bool()].abs() for _, m, n in weights])
    removed = torch.cat([m.get_parameter(f"{n}_orig")[~m.get_buffer(f"{n}_mask").bool()].abs()
                         for _, m, n in weights])
    assert removed.max() <= kept.min()
    if target == "i2h":  # the small-scale first layer loses far more than 40%
        first = model.recurrent[0].weight_ih_l0_mask
        assert first.sum() < 0.4 * first.numel()


@pytest.mark.parametrize("target", list(TARGETS))
def test_only_the_targeted_weights_get_masks(target):
    model = _model()
    prune_recurrent(model, target, 30)
    masked = {name.removesuffix("_mask") for name, _ in model.named_buffers() if name.endswith("_mask")}
    expected = {qualified for qualified, _, _ in targeted_weights(model, target)}
    assert masked == expected
    assert all(name.split(".")[-1] in TARGETS[target] for name in masked)


@pytest.mark.parametrize("percent", [10, 33, 50, 70, 90, 100])
def test_percent_is_exact(percent):
    model = _model("lstm")
    total = sum(m.get_parameter(n).numel() for _, m, n in targeted_weights(model, "both"))
    prune_recurrent(model, "both", percent)
    left = sum(int(m.get_buffer(f"{n}_mask").sum()) for _, m, n in targeted_weights(model, "both"))
    assert total - left == math.floor(percent / 100 * total + 0.5)


def test_rounding_is_to_nearest_with_halves_up():
    assert [removal_count(50, 5), removal_count(10, 14), removal_count(10, 16), removal_count(100, 7)] == [3, 1, 2, 7]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("target", list(TARGETS))
def test_pruning_everything_empties_every_targeted_matrix_and_stays_finite(cell, target):
    model = _model(cell)
    emptied = prune_recurrent(model, target, 100)
    assert emptied == [qualified for qualified, _, _ in targeted_weights(model, target)]
    tokens, lengths, labels = _strings()
    assert torch.isfinite(model(tokens, lengths)).all()
    result = evaluate(model, (tokens, lengths, labels))
    assert math.isfinite(result.accuracy) and math.isfinite(result.loss)


def test_partial_pruning_reports_only_matrices_the_global_threshold_emptied():
    assert prune_recurrent(_model(), "both", 20) == []
    # the first layer's input weights are 10x smaller than the rest: one global threshold takes all of them
    assert prune_recurrent(_model(), "both", 60) == ["recurrent.0.weight_ih_l0"]


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("target", list(TARGETS))
def test_masked_fused_layers_equal_the_reference_loop(cell, target):
    """The pruned model -- through the modules' fused kernels and through the default engine -- against the plain
    Python loop over nn.GRUCell/nn.LSTMCell carrying the same masks."""
    model = _model(cell)
    prune_recurrent(model, target, 50)
    reference = ReferenceRecurrentClassifier.like(model)
    assert all(hasattr(cell_, "weight_ih_mask") == ("weight_ih_l0" in TARGETS[target]) for cell_ in reference.cells)
    tokens, lengths, _ = _strings()
    with torch.no_grad():
        expected = reference(tokens, lengths)
        fused = model.classifier(model.fused(model.embedding(tokens.t()))[lengths - 1, torch.arange(len(lengths))])
        torch.testing.assert_close(fused, expected, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(model(tokens, lengths), expected, rtol=1e-5, atol=1e-5)


def test_unknown_target_names_the_valid_ones():
    with pytest.raises(ConfigError, match=r"'i2h', 'h2h', 'both'"):
        prune_recurrent(_model(), "input", 50)
    with pytest.raises(ConfigError, match="outside"):
        prune_recurrent(_model(), "both", 120)


def test_retraining_after_light_pruning_does_not_lower_accuracy_on_average(tmp_path):
    """Small GRUs on Reber (3 dense nets), i2h and h2h pruned by 10-30% and re-trained one epoch with the embedded
    default's settings (config.yaml: dense training annealed, re-training at 0.3 x the training lr from the dense
    training's Adam moments, annealed too): on average re-training does not lower test accuracy."""
    from pathlib import Path

    import yaml

    from sparsepipe import io, stages

    defaults = yaml.safe_load((Path(__file__).parents[1] / "config.yaml").read_text())["rnn"]
    data = tmp_path / "reber.parquet"
    stages.rnn.reber({"reber": {"train": 400, "test": 200, "max_length": 16, "embedded": False,
                           "invalid": {"near_miss": 0.5, "other_grammar": 0.5}}, "seed": 0}, str(data))
    changes = []
    for seed in range(3):
        model = tmp_path / f"gru{seed}.pt"
        stages.rnn.train_rnn("gru", seed, {"hidden": [16], "seed": 0, "train": {
            "embedding": 4, "epochs": 6, "batch_size": 32, "lr": 0.01, "schedule": defaults["train"]["schedule"]}},
                        str(data), str(model), str(tmp_path / "dense.parquet"), device="cpu")
        for target in ("i2h", "h2h"):
            out = tmp_path / "pruned.parquet"
            settings = {"retrain": defaults["prune"]["retrain"], "percents": [10, 20, 30], "seed": 0}
            stages.rnn.prune_rnn(str(model), target, settings, str(data), str(out), device="cpu")
            table = io.read_table(out)
            changes += list(table["acc_retrained"] - table["acc_pruned"])
    assert sum(changes) / len(changes) >= 0
