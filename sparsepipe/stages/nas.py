"""Stage ``nas`` (workflow/rules/nas.smk): the genetic architecture search guided by a structure-only predictor,
and its winner re-trained with fresh seeds and tested. Subcommands: ``sparsepipe search``, ``search-winner``."""

from __future__ import annotations

import argparse
import functools
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import networkx as nx
import pandas as pd
import torch

from sparsepipe import io, launch, nas, populations
from sparsepipe.data.sequences import alphabet_of, load_sequences
from sparsepipe.data.vision import dataset_digest, load_vision
from sparsepipe.models.batching import bucketed_batches
from sparsepipe.models.structured import StructuredRNN
from sparsepipe.models.structured_ffn import StructuredFFN
from sparsepipe.seeds import derive_seed, seed_everything
from sparsepipe.train import adam, batches, evaluate, fit

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=4)
def _nas_data(task: str, data: str, samples: int, seed: int
              ) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
    """Training, validation and test tensors of a search task (loaded once per process). The search's fitness is
    on the validation split; only its winner's fresh trainings are tested."""
    generator = torch.Generator().manual_seed(seed)
    if task.startswith("ffn_"):
        vision = load_vision(task.removeprefix("ffn_"), 0.2, seed, data)
        keep = torch.randperm(len(vision.y_train), generator=generator)[:samples]
        return (vision.x_train[keep], vision.y_train[keep]), (vision.x_val, vision.y_val), (vision.x_test,
                                                                                            vision.y_test)
    sequences = load_sequences(data)
    train, test = sequences.train, sequences.test
    order = torch.randperm(len(train[-1]), generator=generator)
    cut = min(samples, int(0.8 * len(order)))
    return tuple(t[order[:cut]] for t in train), tuple(t[order[cut:]] for t in train), test

@functools.lru_cache(maxsize=4)
def _vocabulary(data: str) -> int:
    """Rows of the token embedding of a sequence table (every symbol of its alphabet and padding)."""
    return len(alphabet_of(data)) + 1

def _candidate(task: str, genome: str, spec: Mapping[str, Any], train: tuple[torch.Tensor, ...], data: str
               ) -> torch.nn.Module:
    """The network of one search candidate (``genome`` as JSON): a graph-structured recurrent net on the sequence
    table (``rnn_<cell>``) or feed-forward net on the vision data (``ffn_<dataset>``), as ``nas.train`` sets it."""
    structure = nas.layered(nas.Genome.from_json(genome))
    if task.startswith("ffn_"):
        return StructuredFFN(structure, train[0].shape[1], int(train[-1].max()) + 1, spec["activation"])
    return StructuredRNN(structure, task.removeprefix("rnn_"), _vocabulary(data), spec["embedding"])


def train_candidates(task: str, genomes: Sequence[str], seeds: Sequence[int], settings: Mapping[str, Any],
                     data: str) -> list[float]:
    """Fitness of search candidates: validation accuracy of each one's network after a short training, all
    trained together as populations (each from its own seed; one batch order for the whole search, so fitness
    differences come from structure and initialisation, not from the order of batches)."""
    torch.set_num_threads(1)
    spec = settings["train"]
    train, validation, _ = _nas_data(task, data, spec["train_samples"], derive_seed(settings["seed"], "nas-data"))
    recurrent = not task.startswith("ffn_")
    candidates = [populations.Candidate(f"candidate {i}", seed,
                                        functools.partial(_candidate, task, genome, spec, train, data))
                  for i, (genome, seed) in enumerate(zip(genomes, seeds, strict=True))]
    fitness: dict[str, float] = {}
    for finished in populations.train(
            candidates, train, validation, make_optimizer=lambda p: adam(p, spec["lr"]),
            epochs=spec["epochs"], batch_size=spec["batch_size"],
            batch_seed=derive_seed(settings["seed"], "nas-batches", task), populations=settings.get("populations"),
            device=torch.device("cpu"), batcher=bucketed_batches if recurrent else batches, label=f"nas {task}"):
        fitness.update({outcome.key: outcome.accuracy for outcome in finished})
    # a genome whose network cannot be built (logged with its error) ranks last
    return [0.0 if math.isnan(fitness[c.key]) else fitness[c.key] for c in candidates]

def search_architectures(task: str, settings: Mapping[str, Any], data: str, out_table: str, out_graph: str,
                         where: Mapping[str, Any] | None = None, jobs_folder: str | None = None) -> None:
    """The genetic search of one task, generation by generation; resumes from ``<out_table>.partial``.

    Each generation's trainings go through :func:`sparsepipe.launch.run_array` (a job array on SLURM).
    """
    partial = Path(f"{out_table}.partial")
    inputs = io.file_digest(data) if Path(data).is_file() else dataset_digest(task.removeprefix("ffn_"), data)
    digest = io.settings_digest({"task": task, "settings": settings, "data": inputs})
    history = io.load_partial(partial, digest, f"nas {task}")

    def evaluate_all(genomes: list[nas.Genome], seeds: list[int]) -> list[float]:
        # one call per population-sized chunk: one job locally, an array of populations on SLURM
        size = populations.settings_of(settings.get("populations"))["size"]
        chunk = len(genomes) if size == "auto" else int(size)
        calls = [{"task": task, "genomes": [g.to_json() for g in genomes[i : i + chunk]],
                  "seeds": list(seeds[i : i + chunk]), "settings": settings, "data": data}
                 for i in range(0, len(genomes), chunk)]
        results = launch.run_array(train_candidates, calls, where=where, folder=jobs_folder, name=f"nas-{task}")
        return [accuracy for part in results for accuracy in part]

    table = nas.search(settings, settings["generators"], evaluate_all, derive_seed(settings["seed"], "nas", task),
                       history=history, on_generation=lambda t: io.save_partial(t, partial, digest))
    best = nas.best_genome(table)
    with io.atomic_path(out_graph) as tmp:
        nx.write_graphml(best.dag(), tmp)
    io.write_table(table, out_table)
    partial.unlink(missing_ok=True)

WINNER_COLUMNS = ["task", "genome", "search_fitness", "winner_seed", "val_acc", "test_acc", "seconds"]

def retrain_searched(task: str, genome: str, seed: int, settings: Mapping[str, Any], data: str
                     ) -> tuple[float, float]:
    """One fresh training of a searched structure, as the search trained it (same data, epochs, optimiser), with a
    seed the search never used; returns its validation and test accuracy."""
    torch.set_num_threads(1)
    spec = settings["train"]
    train, validation, test = _nas_data(task, data, spec["train_samples"], derive_seed(settings["seed"], "nas-data"))
    seed_everything(seed)
    model = _candidate(task, genome, spec, train, data)
    if task.startswith("ffn_"):
        fit(model, torch.optim.Adam(model.parameters(), lr=spec["lr"]), train, spec["epochs"], spec["batch_size"],
            seed)
        return evaluate(model, validation).accuracy, evaluate(model, test).accuracy
    fit(model, adam(model.parameters(), spec["lr"]), train, spec["epochs"], spec["batch_size"], seed,
        batcher=bucketed_batches)
    return (evaluate(model, validation, batcher=bucketed_batches).accuracy,
            evaluate(model, test, batcher=bucketed_batches).accuracy)

def search_winner(task: str, settings: Mapping[str, Any], data: str, table: str, out: str,
                  where: Mapping[str, Any] | None = None, jobs_folder: str | None = None) -> None:
    """The search's winner re-trained with ``winner_seeds`` fresh seeds and tested on the test split.

    The search's best fitness is the maximum of many single-seed validation accuracies, so it is biased upwards
    (the luckiest draw); these trainings are the winner's figure to report: one row per fresh seed with validation
    and test accuracy, beside the search's fitness of the same genome.
    """
    individuals = io.read_table(table, ("genome", "measured", "trained"))
    genome, fitness = nas.best_genome(individuals).to_json(), float(nas.best_so_far(individuals)[-1])
    seeds = [derive_seed(settings["seed"], "nas-winner", task, i) for i in range(settings["winner_seeds"])]
    start = time.perf_counter()
    calls = [{"task": task, "genome": genome, "seed": s, "settings": settings, "data": data} for s in seeds]
    results = launch.run_array(retrain_searched, calls, where=where, folder=jobs_folder, name=f"nas-winner-{task}")
    seconds = (time.perf_counter() - start) / len(seeds)
    rows = pd.DataFrame([{"task": task, "genome": genome, "search_fitness": fitness,
                          "winner_seed": s, "val_acc": val, "test_acc": test, "seconds": seconds}
                         for s, (val, test) in zip(seeds, results, strict=True)], columns=WINNER_COLUMNS)
    io.write_table(rows, out)
    log.info("%s winner: search fitness %.4f; %d fresh seeds: validation %.4f ± %.4f, test %.4f ± %.4f", task,
             fitness, len(rows), rows["val_acc"].mean(), rows["val_acc"].std(), rows["test_acc"].mean(),
             rows["test_acc"].std())


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    """This stage's ``sparsepipe`` subcommands (``add``: :func:`sparsepipe.cli.add_unit` on the subparsers)."""
    p = add("search", search_architectures, "genetic architecture search of one task, resumable",
            dispatch="orchestrate")
    p.add_argument("--task", required=True, help="ffn_<dataset> or rnn_<cell>")
    p.add_argument("--data", required=True, help="vision dataset root (ffn_*) or the Reber table (rnn_*)")
    p.add_argument("--out-table", required=True)
    p.add_argument("--out-graph", required=True, help="the best structure, as GraphML")

    p = add("search-winner", search_winner,
            "re-train a search's best structure with fresh seeds and test it on the test split",
            dispatch="orchestrate")
    p.add_argument("--task", required=True, help="ffn_<dataset> or rnn_<cell>")
    p.add_argument("--data", required=True, help="vision dataset root (ffn_*) or the Reber table (rnn_*)")
    p.add_argument("--table", required=True, help="the search's individuals table")
    p.add_argument("--out", required=True)
