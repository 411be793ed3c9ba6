"""Training crowds of small graph-structured nets as populations (:mod:`sparsepipe.models.population`).

Who trains with whom: members are sorted by depth and width (a population runs as deep as its deepest member and
pads every path to its widest), then cut greedily into populations that fit a memory budget (and, optionally, a
maximum size). Every member is built alone from its own seed, exactly as it would be trained alone, so a member's
numbers do not depend on who shares its population beyond float rounding; all members share one batch order
(``batch_seed``). A member whose graph cannot be built fails alone, named; the others still train. A population
checkpoints every epoch under a name that digests its members and settings, so a killed job resumes it and a
changed configuration never does.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sparsepipe import io
from sparsepipe.data.reber import is_string_batch
from sparsepipe.errors import ConfigError, SparsepipeError
from sparsepipe.models import fused, gpu_steps
from sparsepipe.models.population import (
    FeedForwardPopulation,
    RecurrentPopulation,
    feed_forward_bytes,
    member_losses,
    population_loss,
    recurrent_bytes,
)
from sparsepipe.models.structured import StructuredRNN
from sparsepipe.models.structured_ffn import StructuredFFN
from sparsepipe.seeds import seed_everything
from sparsepipe.train import Batcher, Evaluation, batches, fit

log = logging.getLogger(__name__)

GIB = 1024**3
# ``size: auto`` on the CPU: at most this many members. bench/population_size.py (200 paper-drawn GRUs on paper-like
# strings, one thread): with the per-step torch ops, 51 / 34 / 27 / 33 / 31 ms per member-batch at K <= 12 / 25 / 50 /
# 100 / 200 (past ~50 members a step's tensors spilled the caches); with the C wavefront and its products in
# registers, flat: GRU 5.1 / 4.9 / 4.8 / 5.0 ms at K <= 8 / 16 / 32 / 64, RNN-tanh and RNN-ReLU 2.3-2.4 ms at every
# K (docs/benchmarks.md). On a GPU, auto fills the memory budget.
CPU_SIZE_CAP = 64


@dataclass(frozen=True)
class Candidate:
    """A net to train: ``key`` names it in logs, errors and checkpoints; ``build()`` makes it (seeded first)."""

    key: str
    seed: int
    build: Callable[[], nn.Module]


@dataclass(frozen=True)
class Outcome:
    key: str
    accuracy: float  # test accuracy in [0, 1]; NaN where the member failed
    loss: float
    seconds: float  # the member's share of its population's time
    population: int  # members trained together (0: failed before training)
    error: str = ""


def settings_of(value: Any) -> Mapping[str, Any]:
    """``populations`` config block with its defaults filled in."""
    value = dict(value or {})
    return {"size": value.get("size", "auto"), "memory_gb": float(value.get("memory_gb", 2.0)),
            "kernels": value.get("kernels", "auto")}


def _shape(model: nn.Module) -> tuple[int, int]:
    """What a population pays for: depth (time steps or layers) and widest layer."""
    if isinstance(model, StructuredRNN):
        return model.wavefront.depth, model.wavefront.units
    return len(model.hidden), max(layer.out_features for layer in model.hidden)


def memory_bytes(models: Sequence[nn.Module], batch: int, length: int, inputs_in_place: bool = False) -> int:
    """Estimated bytes of one training batch of a population of ``models`` (strings of ``length`` symbols;
    ``inputs_in_place``: the recurrent wavefront allocates no gathered block, :func:`reads_in_place`)."""
    if isinstance(models[0], StructuredRNN):
        return recurrent_bytes(models, batch, length, inputs_in_place)
    return feed_forward_bytes(models, batch)


def reads_in_place(device: torch.device | None) -> bool:
    """Whether recurrent populations on ``device`` will take the Triton steps, which allocate no gathered block
    (100 paper-drawn Barabasi-Albert LSTMs, 49 symbols, batches of 128: 6.8 GiB a batch against 9.4 with it). On
    a GPU only: the CPU keeps the estimate it always had (its cap of 64 members binds first, and populations stay
    as they were)."""
    return device is not None and device.type == "cuda" and gpu_steps.would_run()


def size_limit(size: int | str, device: torch.device | None) -> float:
    """Most members per population: ``size`` itself, or for ``auto`` the CPU cap (:data:`CPU_SIZE_CAP`) on the
    CPU and no limit but the memory budget elsewhere."""
    if size != "auto":
        return int(size)
    return CPU_SIZE_CAP if device is None or device.type == "cpu" else math.inf


def group(built: Sequence[tuple[Candidate, nn.Module]], batch: int, length: int, size: int | str,
          memory_gb: float, device: torch.device | None = None) -> list[list[tuple[Candidate, nn.Module]]]:
    """Populations: members sorted by (depth, width, key), cut greedily where the next member would break the
    memory budget or the size limit (:func:`size_limit`)."""
    budget = memory_gb * GIB
    limit = size_limit(size, device)
    in_place = reads_in_place(device)
    ordered = sorted(built, key=lambda pair: (*_shape(pair[1]), pair[0].key))
    groups: list[list[tuple[Candidate, nn.Module]]] = []
    current: list[tuple[Candidate, nn.Module]] = []
    for pair in ordered:
        alone = memory_bytes([pair[1]], batch, length, in_place)
        if alone > budget:
            raise ConfigError(f"populations.memory_gb: {pair[0].key} alone needs {alone / GIB:.2f} GiB per batch "
                              f"of {batch}, over the budget of {memory_gb:g} GiB; raise populations.memory_gb")
        trial = [model for _, model in current] + [pair[1]]
        if current and (len(trial) > limit or memory_bytes(trial, batch, length, in_place) > budget):
            groups.append(current)
            current = []
        current.append(pair)
    if current:
        groups.append(current)
    return _balanced(groups, ordered, batch, length, limit, budget, in_place)


def _balanced(groups: list[list[tuple[Candidate, nn.Module]]], ordered: list[tuple[Candidate, nn.Module]],
              batch: int, length: int, limit: float, budget: float, in_place: bool = False
              ) -> list[list[tuple[Candidate, nn.Module]]]:
    """The greedy cut's number of populations, with sizes as equal as the budget allows: a greedy cut can leave a
    population of one (25 LSTMs in 2 GiB: 24 + 1), and a lone member pays a population's per-step overhead alone
    (bench/population_size.py: 51 ms per member-batch at K <= 12 against 27 at K <= 50). Kept greedy where an
    equal cut would break the budget (the deepest, widest members come last)."""
    count = len(groups)
    if count < 2:
        return groups
    bounds = [round(k * len(ordered) / count) for k in range(count + 1)]
    equal = [ordered[a:b] for a, b in itertools.pairwise(bounds)]
    fits = all(len(g) <= limit and memory_bytes([m for _, m in g], batch, length, in_place) <= budget
               for g in equal)
    return equal if fits else groups


def build(candidates: Sequence[Candidate]) -> tuple[list[tuple[Candidate, nn.Module]], list[Outcome]]:
    """Every candidate built from its own seed; those whose graph cannot be built become failed outcomes."""
    built, failed = [], []
    for candidate in candidates:
        seed_everything(candidate.seed)
        try:
            built.append((candidate, candidate.build()))
        except (SparsepipeError, ValueError) as error:
            log.error("%s: cannot be built, skipped: %s", candidate.key, error)
            failed.append(Outcome(candidate.key, math.nan, math.nan, 0.0, 0, f"{type(error).__name__}: {error}"))
    return built, failed


def population_of(models: Sequence[nn.Module]) -> RecurrentPopulation | FeedForwardPopulation:
    if isinstance(models[0], StructuredRNN):
        return RecurrentPopulation(models)
    if isinstance(models[0], StructuredFFN):
        return FeedForwardPopulation(models)
    raise TypeError(f"no population of {type(models[0]).__name__}")


@torch.no_grad()
def evaluate_members(population: nn.Module, tensors: tuple[torch.Tensor, ...], batch_size: int,
                     batcher: Batcher = batches) -> list[Evaluation]:
    """Each member's accuracy and mean cross-entropy on a whole split."""
    population.eval()
    device = next(population.parameters()).device
    correct = loss = None
    n = 0
    for batch in batcher(tensors, batch_size):
        *inputs, labels = (t.to(device) for t in batch)
        logits = population(*inputs)  # (N, classes, K)
        batch_loss = member_losses(logits, labels) * len(labels)
        batch_correct = (logits.argmax(dim=1) == labels[:, None]).sum(0)
        loss = batch_loss if loss is None else loss + batch_loss
        correct = batch_correct if correct is None else correct + batch_correct
        n += len(labels)
    return [Evaluation(accuracy=c / n, loss=x / n) for c, x in zip(correct.tolist(), loss.tolist(), strict=True)]


def train(candidates: Sequence[Candidate], train_split: tuple[torch.Tensor, ...],
          test_split: tuple[torch.Tensor, ...], *, make_optimizer: Callable[[Any], torch.optim.Optimizer],
          epochs: int, batch_size: int, batch_seed: int, populations: Mapping[str, Any], device: torch.device,
          checkpoint: str | None = None, settings: Any = None, batcher: Batcher = batches,
          label: str = "population") -> Iterator[list[Outcome]]:
    """Train ``candidates`` as populations; yields each population's outcomes (failed members first, alone).

    ``checkpoint``: a path prefix; each population checkpoints every epoch at ``<prefix>.<digest>.partial``
    (digest of its members, ``settings`` and the training arguments) and removes it once the caller has taken that
    population's outcomes (it asks for the next population after keeping them).
    """
    spec = settings_of(populations)
    fused.use(spec["kernels"])
    built, failed = build(candidates)
    if failed:
        yield failed
    length = int(train_split[1].max()) if is_string_batch(train_split) else 0
    groups = group(built, batch_size, length, spec["size"], spec["memory_gb"], device) if built else []
    if groups:
        limit = size_limit(spec["size"], device)
        why = (f"size {spec['size']}" if spec["size"] != "auto" else
               f"auto: at most {CPU_SIZE_CAP} on the CPU, the fastest per member (bench/population_size.py)"
               if limit < math.inf else "auto: as many as the memory budget allows")
        log.info("%s: %d members in %d population(s) of %s (%s; memory budget %g GiB)", label, len(built),
                 len(groups), ", ".join(str(len(g)) for g in groups), why, spec["memory_gb"])

    def run(members: list[tuple[Candidate, nn.Module]], name: str) -> Iterator[list[Outcome]]:
        start = time.perf_counter()
        keys = [candidate.key for candidate, _ in members]
        path = None
        if checkpoint is not None:
            digest = io.settings_digest([keys, [c.seed for c, _ in members], settings, epochs, batch_size,
                                         batch_seed])
            path = f"{checkpoint}.{digest}.partial"
            remove_checkpoints(checkpoint, keep=path, label=label)
        log.info("%s: population %s of %d members (%s ... %s)", label, name, len(members), keys[0], keys[-1])
        try:
            population = population_of([model for _, model in members]).to(device)
            fit(population, make_optimizer(population.parameters()), train_split, epochs, batch_size, batch_seed,
                checkpoint=path, label=f"{label} population {name}", batcher=batcher, settings=[keys, settings],
                criterion=population_loss, capture=spec["kernels"] != "plain")
            results = evaluate_members(population, test_split, batch_size, batcher)
        except RuntimeError as error:  # torch.OutOfMemoryError is one
            if not out_of_memory(error) or len(members) == 1:
                raise
            population = None
            if device.type == "cuda":
                torch.cuda.empty_cache()
            half = len(members) // 2
            log.warning("%s: population %s of %d members ran out of memory on %s; halved into %d + %d members, "
                        "each trained from its own seed again", label, name, len(members), device, half,
                        len(members) - half)
            rebuilt = rebuild(members)
            yield from run(rebuilt[:half], f"{name}a")
            yield from run(rebuilt[half:], f"{name}b")
            return
        share = (time.perf_counter() - start) / len(members)
        yield [Outcome(key, r.accuracy, r.loss, share, len(members)) for key, r in zip(keys, results, strict=True)]
        if path is not None:  # the caller has kept the outcomes by now (it asks for the next population after)
            Path(path).unlink(missing_ok=True)

    for index, members in enumerate(groups, start=1):
        yield from run(members, f"{index}/{len(groups)}")


def out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` says the device ran out of memory (CUDA's OutOfMemoryError, or the allocator's message)."""
    return isinstance(error, torch.OutOfMemoryError) or "out of memory" in str(error).lower()


def rebuild(members: Sequence[tuple[Candidate, nn.Module]]) -> list[tuple[Candidate, nn.Module]]:
    """Members built again from their seeds (a population that failed mid-training changed its packed copies only,
    but building afresh is what one-at-a-time training would do)."""
    rebuilt = []
    for candidate, _ in members:
        seed_everything(candidate.seed)
        rebuilt.append((candidate, candidate.build()))
    return rebuilt


def remove_checkpoints(prefix: str, keep: str | None = None, label: str = "") -> None:
    """Drop every population checkpoint under ``prefix`` but ``keep``: a finished unit's, or, when a population
    starts (``keep``: its own), those of settings, data or members that no longer exist (populations train one
    after another), with one log line each."""
    for path in Path(prefix).parent.glob(f"{Path(prefix).name}.*.partial"):
        if keep is None or path != Path(keep):
            path.unlink(missing_ok=True)
            if keep is not None:
                log.info("%s: removed %s, a population checkpoint of other settings, data or members", label, path)
