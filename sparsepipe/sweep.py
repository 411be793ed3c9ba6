"""The prune / re-train schedule of one feed-forward model with one method (one row per pruning step).

- ``one_shot``: prune once to a target (``rate`` = percent of the original weights removed, or ``count`` weights),
  then re-train: one step.
- ``iterative`` (the paper's): prune ``rate`` percent of the *remaining* weights (or ``count`` weights), re-train,
  repeat; stop after ``max_steps``, once fewer than ``min_remaining`` of the original weights remain, or before a
  step that would empty a layer. Each run's last row records why it stopped.
Re-training is ``fixed`` (``epochs``) or ``variable`` (epoch by epoch until the validation accuracy gains less than
``min_gain``, at most ``max_epochs``). It uses the dense training's optimiser (SGD or Adam, momentum) with two
settings of ``retrain``:

- ``lr``: ``final`` (the learning rate where dense training ended, after its plateau decay) or a number, that
  fraction of the initial learning rate (1.0 = the initial one, as before these settings existed).
- ``optimizer_state``: ``keep`` (start from the dense training's final optimiser state: momentum buffers, Adam's
  moments) or ``reset`` (a fresh optimiser). Either way the state then carries over from step to step of a run.

Re-training at the initial learning rate with a fresh optimiser after a net has converged at a decayed one kicks
it out of its minimum: light pruning then *lost* accuracy by re-training (docs/statistics.md has the figures).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import nn

from sparsepipe.data.vision import TensorSplits
from sparsepipe.errors import ConfigError
from sparsepipe.features import network_features
from sparsepipe.models.ffn import linear_layers
from sparsepipe.prune.selection import LayerEmptied, remaining
from sparsepipe.prune.step import prune_step
from sparsepipe.retrain import annealed, apply_policy
from sparsepipe.seeds import derive_seed
from sparsepipe.train import evaluate, fit, make_optimizer

log = logging.getLogger(__name__)

SCHEDULES = ("iterative", "one_shot")
STRATEGIES = ("percent", "count")
# the pruning table's columns (results/ffn/pruning.parquet), one row per pruning step
PRUNING_COLUMNS = [
    "dataset", "arch", "model_seed", "method", "strategy", "rate", "run", "step", "weights_remaining",
    "compression", "acc_dense", "acc_pruned", "acc_retrained", "retrain_epochs", "seconds", "stop_reason",
]


def retrain_optimizer(model: nn.Module, train_config: Mapping[str, Any], settings: Mapping[str, Any],
                      dense_optimizer: Mapping[str, Any] | None = None) -> torch.optim.Optimizer:
    """The re-training optimiser of one run: the dense training's optimiser built on the still dense ``model`` (so
    that its parameters line up with the dense training's), set by the re-training policy of
    :func:`sparsepipe.retrain.apply_policy` (``settings``: the ``ffn.prune.retrain`` block)."""
    optimizer = make_optimizer(train_config["optimizer"], model.parameters(), train_config["lr"],
                               train_config.get("momentum", 0.0))
    return apply_policy(optimizer, train_config["lr"], settings, dense_optimizer, "ffn.prune.retrain")


def retrain(model: nn.Module, optimizer: torch.optim.Optimizer, data: TensorSplits, settings: Mapping[str, Any],
            batch_size: int, seed: int) -> int:
    """Re-train after a pruning step; returns the number of epochs run."""
    train, validation = (data.x_train, data.y_train), (data.x_val, data.y_val)
    if settings["mode"] == "fixed":
        if settings["epochs"]:
            anneal = annealed(settings)
            rates = [group["lr"] for group in optimizer.param_groups]
            fit(model, optimizer, train, settings["epochs"], batch_size, seed, anneal=anneal)
            if anneal:  # every step's re-training anneals from the re-training rate again
                for group, rate in zip(optimizer.param_groups, rates, strict=True):
                    group["lr"] = rate
        return settings["epochs"]
    if settings["mode"] != "variable":
        raise ConfigError(f"ffn.prune.retrain.mode: {settings['mode']!r}; expected fixed or variable")
    previous = evaluate(model, validation).accuracy
    for epoch in range(1, settings["max_epochs"] + 1):
        fit(model, optimizer, train, 1, batch_size, derive_seed(seed, epoch))
        current = evaluate(model, validation).accuracy
        if current - previous < settings["min_gain"]:
            return epoch
        previous = current
    return settings["max_epochs"]


def _amount(schedule: str, strategy: str, value: float, original: int, left: int) -> dict[str, float | int]:
    """``prune_step``'s keyword for this step."""
    if strategy == "count":
        if value != int(value) or value < 1:
            raise ConfigError(f"ffn.prune.rates: {value} is not a positive whole number of weights (strategy count)")
        count = int(value) if schedule == "iterative" else int(value) - (original - left)
        return {"count": count}
    if schedule == "iterative":
        return {"rate": float(value)}
    return {"count": round(value / 100 * original) - (original - left)}


def prune_runs(model: nn.Module, method: str, value: float, data: TensorSplits, settings: Mapping[str, Any],
               train_config: Mapping[str, Any], seed: int, dense_optimizer: Mapping[str, Any] | None = None
               ) -> Iterator[dict[str, Any]]:
    """Prune ``model`` (dense, modified in place) by ``method`` with one ``value`` of the rates; yield a row per
    step with accuracies right after pruning and after re-training (fractions of the test split).
    ``dense_optimizer``: the dense training's final optimiser state (see :func:`retrain_optimizer`)."""
    schedule, strategy = settings["schedule"], settings["strategy"]
    if schedule not in SCHEDULES or strategy not in STRATEGIES:
        raise ConfigError(f"ffn.prune: schedule {schedule!r} / strategy {strategy!r}; expected one of "
                          f"{list(SCHEDULES)} / {list(STRATEGIES)}")
    layers = linear_layers(model)
    original = sum(remaining(layers))
    calibration = (data.x_val[: settings["calibration_samples"]], data.y_val[: settings["calibration_samples"]])
    optimizer = retrain_optimizer(model, train_config, settings["retrain"], dense_optimizer)
    test = (data.x_test, data.y_test)
    max_steps = 1 if schedule == "one_shot" else settings["max_steps"]
    reason = f"completed {max_steps} step(s)"
    last: dict[str, Any] | None = None
    for step in range(1, max_steps + 1):
        start = time.perf_counter()
        left = sum(remaining(layers))
        amount = _amount(schedule, strategy, value, original, left)
        if amount.get("count", 1) < 1:
            reason = "target already reached"
            break
        try:
            prune_step(layers, method, **amount, model=model, data=calibration,
                       generator=torch.Generator().manual_seed(derive_seed(seed, "mask", step)))
        except LayerEmptied as emptied:
            reason = f"stopped before step {step}: {emptied}"
            break
        pruned = evaluate(model, test).accuracy
        epochs = retrain(model, optimizer, data, settings["retrain"], train_config["batch_size"],
                         derive_seed(seed, "retrain", step))
        left = sum(remaining(layers))
        if last is not None:
            yield last
        last = {"step": step, "weights_remaining": left, "compression": 1 - left / original,
                "acc_pruned": pruned, "acc_retrained": evaluate(model, test).accuracy, "retrain_epochs": epochs,
                "seconds": time.perf_counter() - start, "stop_reason": ""}
        if settings.get("network_features"):  # the "hidden structure": graph of the surviving weights
            last |= network_features(layers, name=f"{method} {value} step {step}")
        log.info("%s %s=%s step %d: compression %.3f, pruned %.4f, re-trained %.4f (%d epochs)", method, strategy,
                 value, step, last["compression"], pruned, last["acc_retrained"], epochs)
        if left / original < settings["min_remaining"]:
            reason = f"fewer than {settings['min_remaining']:.2%} of the weights remain"
            break
    if last is None:  # not even one step possible: record the unpruned state and why
        last = {"step": 0, "weights_remaining": original, "compression": 0.0, "acc_pruned": float("nan"),
                "acc_retrained": float("nan"), "retrain_epochs": 0, "seconds": 0.0}
        last["acc_pruned"] = last["acc_retrained"] = evaluate(model, test).accuracy
    last["stop_reason"] = reason
    yield last
