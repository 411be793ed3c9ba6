import pytest
import torch

from sparsepipe.data.vision import load_vision
from sparsepipe.errors import ConfigError
from sparsepipe.models.ffn import MLP
from sparsepipe.train import cosine_factor, evaluate, fit, resolve_device


def _setup():
    torch.manual_seed(0)
    data = load_vision("digits", 0.1, seed=0)
    model = MLP(data.features, [16], data.classes)
    return data, model, torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)


def test_training_learns_digits():
    data, model, optimizer = _setup()
    before = evaluate(model, (data.x_test, data.y_test)).accuracy
    history = fit(model, optimizer, (data.x_train, data.y_train), 5, 32, seed=1, validation=(data.x_val, data.y_val))
    after = evaluate(model, (data.x_test, data.y_test)).accuracy
    assert before < 0.3 < 0.9 < after
    assert [h["epoch"] for h in history] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("anneal", [False, True])
def test_a_killed_training_resumes_from_its_checkpoint_with_the_same_result(tmp_path, anneal):
    data, model, optimizer = _setup()
    fit(model, optimizer, (data.x_train, data.y_train), 4, 32, seed=1, anneal=anneal)
    uninterrupted = model.state_dict()

    checkpoint = tmp_path / "model.pt.partial"
    data, model, optimizer = _setup()
    calls, step = [0], optimizer.step

    def dies_in_epoch_three(*args, **kwargs):
        calls[0] += 1
        if calls[0] > 2.5 * 41:  # 1293 training samples / 32 = 41 batches per epoch
            raise KeyboardInterrupt("killed")
        return step(*args, **kwargs)

    optimizer.step = dies_in_epoch_three
    with pytest.raises(KeyboardInterrupt):
        fit(model, optimizer, (data.x_train, data.y_train), 4, 32, seed=1, checkpoint=checkpoint, anneal=anneal)
    assert checkpoint.is_file()

    data, model, optimizer = _setup()
    history = fit(model, optimizer, (data.x_train, data.y_train), 4, 32, seed=1, checkpoint=checkpoint,
                  anneal=anneal)
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    for name, tensor in uninterrupted.items():
        torch.testing.assert_close(model.state_dict()[name], tensor, rtol=0, atol=0)
    # the checkpoint outlives training (its caller removes it after writing its output): a rerun resumes at the end
    data, model, optimizer = _setup()
    history = fit(model, optimizer, (data.x_train, data.y_train), 4, 32, seed=1, checkpoint=checkpoint,
                  anneal=anneal)
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    for name, tensor in uninterrupted.items():
        torch.testing.assert_close(model.state_dict()[name], tensor, rtol=0, atol=0)
    data, model, optimizer = _setup()
    fit(model, optimizer, (data.x_train, data.y_train), 4, 32, seed=2, anneal=anneal)
    assert any(not torch.equal(model.state_dict()[name], tensor) for name, tensor in uninterrupted.items())


def test_anneal_takes_the_learning_rate_from_its_start_value_to_zero_by_examples_seen():
    data, model, optimizer = _setup()
    seen, step = [], optimizer.step

    def record(*args, **kwargs):
        seen.append(optimizer.param_groups[0]["lr"])
        return step(*args, **kwargs)

    optimizer.step = record
    history = fit(model, optimizer, (data.x_train, data.y_train), 2, 32, seed=1, anneal=True)
    assert seen[0] == pytest.approx(0.05)
    assert all(later <= earlier for earlier, later in zip(seen, seen[1:], strict=False))
    assert seen[-1] < 0.001 * 0.05  # the last batch of the last epoch
    per_epoch = len(seen) // 2
    assert seen[per_epoch] == pytest.approx(0.05 * cosine_factor(0.5), rel=1e-9)  # first batch of epoch 2
    assert history[0]["lr"] > history[1]["lr"]
    assert cosine_factor(0.0) == 1.0 and cosine_factor(0.5) == pytest.approx(0.5) and cosine_factor(1.0) == 0.0

    data, model, optimizer = _setup()
    fit(model, optimizer, (data.x_train, data.y_train), 2, 32, seed=1)
    assert optimizer.param_groups[0]["lr"] == 0.05  # without anneal the rate is left alone


def test_device_resolution():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device"):
            resolve_device("cuda")


def test_unknown_dataset():
    with pytest.raises(ConfigError, match="unknown dataset 'mnistt'"):
        load_vision("mnistt", 0.1, 0)


def test_a_checkpoint_of_other_settings_is_not_resumed(tmp_path, caplog):
    checkpoint = tmp_path / "model.pt.partial"
    data, model, optimizer = _setup()
    calls, step = [0], optimizer.step

    def dies_in_epoch_two(*args, **kwargs):
        calls[0] += 1
        if calls[0] > 1.5 * 41:
            raise KeyboardInterrupt("killed")
        return step(*args, **kwargs)

    optimizer.step = dies_in_epoch_two
    with pytest.raises(KeyboardInterrupt):
        fit(model, optimizer, (data.x_train, data.y_train), 3, 32, seed=1, checkpoint=checkpoint,
            settings={"lr": 0.05})
    assert checkpoint.is_file()

    data, model, optimizer = _setup()
    with caplog.at_level("INFO"):
        history = fit(model, optimizer, (data.x_train, data.y_train), 3, 32, seed=1, checkpoint=checkpoint,
                      settings={"lr": 0.1}, label="ffn x")
    assert [h["epoch"] for h in history] == [1, 2, 3]  # from the start, not from epoch 1
    assert "ffn x: settings changed, starting fresh" in caplog.text
    assert "resumed" not in caplog.text


def test_a_corrupt_checkpoint_is_set_aside_not_resumed(tmp_path, caplog):
    checkpoint = tmp_path / "model.pt.partial"
    checkpoint.write_bytes(b"half a checkpoint")
    data, model, optimizer = _setup()
    with caplog.at_level("INFO"):
        history = fit(model, optimizer, (data.x_train, data.y_train), 1, 32, seed=1, checkpoint=checkpoint)
    assert len(history) == 1 and torch.load(checkpoint, weights_only=True)["epoch"] == 1  # a fresh one replaced it
    assert (tmp_path / "model.pt.partial.corrupt").read_bytes() == b"half a checkpoint"
    assert "moved aside" in caplog.text


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_training_is_deterministic():
    results = []
    for _ in range(2):
        data, model, optimizer = _setup()
        device = resolve_device("cuda")
        model.to(device)
        fit(model, optimizer, (data.x_train, data.y_train), 2, 32, seed=1)
        results.append({k: v.cpu() for k, v in model.state_dict().items()})
    assert torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.deterministic
    for name, tensor in results[0].items():
        torch.testing.assert_close(results[1][name], tensor, rtol=0, atol=0)
