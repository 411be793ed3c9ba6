"""The re-training policy after pruning: one for recurrent and feed-forward nets.

Both config blocks carry it under the same keys, ``rnn.prune.retrain`` and ``ffn.prune.retrain``:

- ``epochs``: re-training epochs (feed-forward nets add ``mode``, ``max_epochs``, ``min_gain`` for variable length);
- ``lr``: the re-training rate as a fraction of the dense training's (or ``final``: where the dense training's decay
  ended; a fresh optimiser at the full rate undoes what light pruning left, docs/statistics.md);
- ``optimizer_state``: ``keep`` continues from the dense training's optimiser state (Adam's moments, SGD's momentum),
  ``reset`` starts a fresh optimiser;
- ``schedule``: ``constant``, or ``cosine`` to anneal the rate to 0 over the re-training (a net then ends settled
  rather than wherever the last steps left it).

The optimiser itself is the dense training's kind, built on the still dense model by the caller, so that its
parameters line up with the dense training's saved state.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from sparsepipe.errors import ConfigError

# the recurrent block's keys before the policy was shared: a config that still uses one gets a one-line error
RENAMED = {f"rnn.prune.retrain_{old}": f"rnn.prune.retrain.{new}"
           for old, new in (("epochs", "epochs"), ("lr", "lr"), ("optimizer", "optimizer_state"),
                            ("schedule", "schedule"))}


def apply_policy(optimizer: torch.optim.Optimizer, base_lr: float, settings: Mapping[str, Any],
                 dense_state: Mapping[str, Any] | None, key: str) -> torch.optim.Optimizer:
    """``optimizer`` (fresh, on the dense model) set as ``settings`` say: the dense training's state loaded for
    ``optimizer_state: keep``, every group's rate ``lr * base_lr`` (or the dense training's final rate for
    ``lr: final``). ``key`` names the config block in errors. Absent keys: the full rate, a fresh optimiser."""
    lr, state = settings.get("lr", 1.0), settings.get("optimizer_state", "reset")
    if state not in ("keep", "reset"):
        raise ConfigError(f"{key}.optimizer_state: {state!r}; expected keep or reset")
    if lr != "final" and (isinstance(lr, str) or not lr > 0):
        raise ConfigError(f"{key}.lr: {lr!r}; expected final or a positive fraction of the training's lr")
    if dense_state is None and (lr == "final" or state == "keep"):
        raise ConfigError(f"{key}.lr: final / {key}.optimizer_state: keep need the dense training's optimiser "
                          f"state, which this checkpoint lacks (retrain the dense model with this version)")
    if state == "keep":
        optimizer.load_state_dict(dense_state)
    value = dense_state["param_groups"][0]["lr"] if lr == "final" else lr * base_lr
    for group in optimizer.param_groups:
        group["lr"] = value
    return optimizer


def annealed(settings: Mapping[str, Any]) -> bool:
    """Whether the policy anneals the re-training rate (``schedule: cosine``)."""
    return settings.get("schedule", "constant") == "cosine"
