"""Training and evaluation loops shared by every model family.

A batch is a tuple of tensors whose last element holds the labels; the model is called on the others
(``model(x)`` for images, ``model(tokens, lengths)`` for strings). ``batcher`` makes the batches:
:func:`batches` (seeded shuffling), or :func:`sparsepipe.models.batching.bucketed_batches` for strings (length
buckets, so batches carry little padding). Training can checkpoint after every epoch
and resume from that checkpoint, so a killed or preempted job loses at most one epoch.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from sparsepipe.capture import CapturedSteps
from sparsepipe.errors import ConfigError
from sparsepipe.io import load_partial, save_partial, settings_digest

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA where present; ``cuda`` without a GPU is a configuration error. On CUDA, the
    deterministic options torch offers are switched on (:func:`deterministic_cuda`)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: 'cuda' requested but no CUDA device is visible (use 'auto' or 'cpu')")
    if name not in ("cpu", "cuda"):
        raise ConfigError(f"device: {name!r}; expected auto, cpu or cuda")
    if name == "cuda":
        deterministic_cuda()
    return torch.device(name)


def deterministic_cuda() -> None:
    """Same seed, same numbers on one GPU model with one torch/CUDA version: cuBLAS with a fixed workspace
    (``CUBLAS_WORKSPACE_CONFIG``, set before the first cuBLAS call unless the user set it), cuDNN's deterministic
    algorithms without autotuning, no TF32, and torch's deterministic implementations where it has them. Ops
    without one warn instead of failing (``warn_only``) and stay non-deterministic; docs/reproducibility.md
    lists what remains (other GPU models, versions, CPU vs GPU)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.use_deterministic_algorithms(True, warn_only=True)


def batches(tensors: tuple[torch.Tensor, ...], batch_size: int, generator: torch.Generator | None = None
            ) -> Iterator[tuple[torch.Tensor, ...]]:
    """Mini-batches of aligned tensors, shuffled when a generator is given."""
    n = len(tensors[-1])
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for start in range(0, n, batch_size):
        index = order[start : start + batch_size]
        yield tuple(t[index] for t in tensors)


def set_threads(threads: int) -> None:
    """torch's intra-op threads for this unit (at least one)."""
    torch.set_num_threads(max(1, threads))


def adam(parameters, lr: float) -> torch.optim.Adam:
    """Adam, fused where torch supports it (structured nets and populations have many small parameter tensors)."""
    return torch.optim.Adam(parameters, lr=lr, fused=True)


def make_optimizer(name: str, parameters, lr: float, momentum: float = 0.0) -> torch.optim.Optimizer:
    """The configured optimiser: ``sgd`` (the paper's, with momentum) or ``adam``."""
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=lr, momentum=momentum)
    if name == "adam":
        return torch.optim.Adam(parameters, lr=lr)
    raise ConfigError(f"optimizer: unknown optimiser {name!r}; expected sgd or adam")


@dataclass(frozen=True)
class Evaluation:
    accuracy: float  # in [0, 1]
    loss: float  # mean cross-entropy


Batcher = Callable[..., Iterator[tuple[torch.Tensor, ...]]]


@torch.no_grad()
def evaluate(model: nn.Module, tensors: tuple[torch.Tensor, ...], batch_size: int = 1024,
             batcher: Batcher = batches) -> Evaluation:
    """Accuracy and mean cross-entropy of ``model`` on a whole split."""
    model.eval()
    correct, loss, n = 0, 0.0, 0
    device = next(model.parameters()).device
    for batch in batcher(tensors, batch_size):
        *inputs, labels = (t.to(device) for t in batch)
        logits = model(*inputs)
        loss += nn.functional.cross_entropy(logits, labels, reduction="sum").item()
        correct += (logits.argmax(dim=1) == labels).sum().item()
        n += len(labels)
    return Evaluation(accuracy=correct / n, loss=loss / n)


def cosine_factor(progress: float) -> float:
    """The cosine schedule's multiplier at ``progress`` in [0, 1]: 1 at the start, 0 at the end."""
    return 0.5 * (1.0 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))


def fit(model: nn.Module, optimizer: torch.optim.Optimizer, train: tuple[torch.Tensor, ...], epochs: int,
        batch_size: int, seed: int, validation: tuple[torch.Tensor, ...] | None = None,
        checkpoint: str | os.PathLike | None = None, label: str = "model",
        plateau: torch.optim.lr_scheduler.ReduceLROnPlateau | None = None,
        batcher: Batcher = batches, settings: object = None,
        criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = nn.functional.cross_entropy,
        anneal: bool = False, capture: bool = False) -> list[dict[str, float]]:
    """Train for ``epochs``; returns one record per epoch (train loss, validation accuracy where given).

    ``plateau`` (mode "min") steps on the validation loss after every epoch, e.g. the paper's learning rate
    divided by 10 when validation stops improving (the loss, not the accuracy: on small validation sets the accuracy
    plateaus in steps while the model still improves). With ``checkpoint``, model, optimizer, scheduler and
    sampler state are saved after every epoch and a rerun resumes from the last one. The file stays when training
    completes: the caller removes it once its own output is written, so a job killed in between (evaluating,
    writing) resumes after the last epoch and only writes; removing it here lost the whole training to such a kill.
    Same seed, same numbers, resumed or not. ``criterion(outputs, labels)`` is the loss
    (a population of nets sums its members' losses: :func:`sparsepipe.models.population.population_loss`).
    The checkpoint records a digest of ``settings`` (the unit's settings) with the epochs, batch size, seed,
    optimiser and parameter shapes; a checkpoint saved under other settings is not resumed (the log says 'settings
    changed, starting fresh'), nor is an unreadable one (moved aside to ``<checkpoint>.corrupt``).

    ``anneal``: cosine decay of every parameter group's learning rate, from its value when this call starts to 0
    at the end of the last epoch, set before every batch. Progress is counted in examples seen, not batches, so
    that it does not depend on how a batcher cuts an epoch. Why: at a constant Adam learning rate a small recurrent
    net's test accuracy swings by 3-5 points from epoch to epoch, so where training stops is a lottery and any
    further training (re-training after pruning) regresses to the mean; an annealed run ends settled.

    ``capture``: on CUDA, replay each batch shape's training step as a CUDA graph (:mod:`sparsepipe.capture`; same
    losses to float rounding). Ignored on the CPU and where the learning rate changes during training (``anneal``,
    ``plateau``): a graph replays the rate it captured. The epoch's loss is summed on the device either way, in
    float64, so no batch waits for the device.
    """
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    history: list[dict[str, float]] = []
    start = 0
    digest = settings_digest({
        "settings": settings, "epochs": epochs, "batch_size": batch_size, "seed": seed,
        "optimizer": [type(optimizer).__name__, optimizer.defaults], "plateau": plateau is not None,
        **({"anneal": True} if anneal else {}),
        "parameters": {name: list(t.shape) for name, t in model.state_dict().items()},
    }) if checkpoint is not None else ""
    state = load_partial(checkpoint, digest, label) if checkpoint is not None else None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        history, start = state["history"], state["epoch"]
        if plateau is not None and "plateau" in state:
            plateau.load_state_dict(state["plateau"])
        log.info("%s: resumed from %s after epoch %d", label, checkpoint, start)
    if device.type == "cpu":  # a captured CUDA run's checkpoint says capturable, which Adam refuses on the CPU
        for group in optimizer.param_groups:
            if group.get("capturable"):
                group["capturable"] = False
    if anneal and state is None:
        for group in optimizer.param_groups:  # saved with the optimiser's state, so a resumed run keeps its base
            group["anneal_base_lr"] = group["lr"]
    examples = len(train[-1])
    captured = None
    if capture and device.type == "cuda":
        if anneal or plateau is not None:
            log.info("%s: not captured as CUDA graphs: the learning rate changes during training", label)
        else:
            captured = CapturedSteps(model, optimizer, criterion, label)
    with captured if captured is not None else contextlib.nullcontext():
        for epoch in range(start, epochs):
            model.train()
            total, n = torch.zeros((), dtype=torch.float64, device=device), 0
            for batch in batcher(train, batch_size, generator):
                if anneal:
                    factor = cosine_factor((epoch + n / examples) / epochs)
                    for group in optimizer.param_groups:
                        group["lr"] = group["anneal_base_lr"] * factor
                if captured is not None:
                    loss = captured(batch)
                else:
                    *inputs, labels = (t.to(device) for t in batch)
                    optimizer.zero_grad(set_to_none=True)
                    loss = criterion(model(*inputs), labels)
                    loss.backward()
                    optimizer.step()
                total += loss.detach().double() * len(batch[-1])
                n += len(batch[-1])
            record = {"epoch": epoch + 1, "train_loss": total.item() / n}
            if validation is not None:
                result = evaluate(model, validation, batcher=batcher)
                record["val_acc"], record["val_loss"] = result.accuracy, result.loss
                if plateau is not None:
                    plateau.step(result.loss)
            record["lr"] = optimizer.param_groups[0]["lr"]
            history.append(record)
            log.info("%s: %s", label, " ".join(f"{k}={v:.4g}" for k, v in record.items()))
            if checkpoint is not None:
                state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                         "generator": generator.get_state(), "history": history, "epoch": epoch + 1}
                if plateau is not None:
                    state["plateau"] = plateau.state_dict()
                save_partial(state, checkpoint, digest)
    return history
