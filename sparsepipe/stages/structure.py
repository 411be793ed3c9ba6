"""Stage ``structure`` (workflow/rules/structure.smk): graph-structured nets, one per graph (and replicate),
trained in shards as populations, and the runs table that joins them with their graphs' features. Subcommands:
``sparsepipe train-structured``, ``train-structured-ffn``, ``structure-runs``."""

from __future__ import annotations

import argparse
import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import torch

from sparsepipe import io, populations
from sparsepipe.data.sequences import load_sequences
from sparsepipe.data.vision import dataset_digest, load_vision
from sparsepipe.errors import DataError
from sparsepipe.graphs.generators import GRAPH_COLUMNS, graph_from_row
from sparsepipe.graphs.layering import layered_dag
from sparsepipe.models.batching import bucketed_batches
from sparsepipe.models.structured import StructuredRNN
from sparsepipe.models.structured_ffn import StructuredFFN
from sparsepipe.seeds import derive_seed
from sparsepipe.train import Batcher, adam, batches, make_optimizer, resolve_device, set_threads

log = logging.getLogger(__name__)


RUN_COLUMNS = ["graph_id", "generator", "family", "test_acc", "test_loss", "epochs", "seconds"]

# structure shards add: which seed of the graph (0..replicates-1), how many models trained together, why a
# model failed (empty when it trained), the model's identity (model_key) and whether its row came from an earlier
# run (structure.reuse) instead of training here
EXTRA_RUN_COLUMNS = ["replicate", "population", "error", "model_key", "reused"]
# settings that change how models are batched into jobs and populations, not what a model computes (a model's seed
# and batch order do not depend on who trains beside it; the fused kernels differ from the plain ops by rounding)
UNKEYED_SETTINGS = ("shards", "replicates", "populations")


def model_key(settings: Mapping[str, Any], family: str, row: Mapping[str, Any], replicate: int, device: str) -> str:
    """A model's identity: what decides its numbers (training settings and seed, the training data's digest, its
    graph's content, which replicate, the device type), not how it was batched (:data:`UNKEYED_SETTINGS`).
    Two runs whose rows share a key trained the same model; ``structure.reuse`` takes rows by it."""
    return io.settings_digest({"settings": {k: v for k, v in settings.items() if k not in UNKEYED_SETTINGS},
                               "family": family, "graph": _graph_identity(row), "replicate": replicate,
                               "device": device})


def _graph_identity(row: Mapping[str, Any]) -> list[Any]:
    return [row["graph_id"], int(row["nodes"]), [int(v) for v in row["src"]], [int(v) for v in row["dst"]]]


def reuse_tables(paths: Sequence[str]) -> list[Path]:
    """The run tables ``structure.reuse`` names: files as given, folders as every Parquet file under them that has
    a ``model_key`` column (sorted, so the first table holding a key is always the same one)."""
    tables: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            tables += [p for p in sorted(path.rglob("*.parquet")) if "model_key" in pq.read_schema(p).names]
        else:
            tables.append(path)
    return tables


def load_reuse(tables: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Rows of earlier run tables by ``model_key``: only models that trained (no error, an accuracy); the first
    table holding a key wins."""
    rows: dict[str, dict[str, Any]] = {}
    for path in tables:
        table = io.read_table(path, ["model_key", "test_acc", "test_loss", "seconds", "population", "error"])
        for row in table.to_dict("records"):
            if not row["error"] and pd.notna(row["test_acc"]):
                rows.setdefault(row["model_key"], row)
    return rows

def _train_shard(graphs_table: str, shard: int, settings: Mapping[str, Any], generator: str, family: str, out: str,
                 build: Callable[[dict[str, Any]], torch.nn.Module], train_split: tuple[torch.Tensor, ...],
                 test_split: tuple[torch.Tensor, ...], make_optimizer: Callable[[Any], torch.optim.Optimizer],
                 device: torch.device, batcher: Batcher = batches, reuse: Sequence[str] = ()) -> None:
    """Train this shard's graph-structured models (every ``shards``-th graph, ``replicates`` seeds each) as
    populations (:mod:`sparsepipe.populations`); one row per model.

    ``build(graph_row)`` makes one model. Each model's initial seed derives from the family, graph and replicate
    (replicate 0 keeps the seed of one-at-a-time training); each replicate's populations share one batch order.
    Finished populations are appended to ``<out>.partial``, and a population in training checkpoints every epoch,
    so a rerun continues where a killed job stopped; the ``.partial`` records a digest of the settings (which carry
    ``data``, the content digest of the training data) and of this shard's graphs, so a rerun after a change of
    either starts fresh (population checkpoints digest the same settings). A graph that
    cannot be built gets a row with its error and NaN accuracy; the others still train. A model whose
    :func:`model_key` a row of the ``reuse`` tables holds takes that row (``reused``) instead of training.
    """
    table = io.read_table(graphs_table, GRAPH_COLUMNS)
    partial = Path(f"{out}.partial")
    mine = table.iloc[shard :: settings["shards"]]
    digest = io.settings_digest({"settings": settings, "generator": generator, "family": family, "shard": shard,
                                 "graphs": [_graph_identity(r) for r in mine.to_dict("records")]})
    saved = io.load_partial(partial, digest, f"{family} {generator} shard {shard}")
    rows = saved.to_dict("records") if saved is not None else []
    done = {(row["graph_id"], row["replicate"]) for row in rows}
    spec = settings["train"]
    graphs = mine.to_dict("records")
    keys = {(row["graph_id"], replicate): model_key(settings, family, row, replicate, device.type)
            for row in graphs for replicate in range(settings.get("replicates", 1))}
    earlier = load_reuse(reuse)
    reused = 0
    for row in graphs:
        for replicate in range(settings.get("replicates", 1)):
            found = earlier.get(keys[row["graph_id"], replicate])
            if found is not None and (row["graph_id"], replicate) not in done:
                rows.append({"graph_id": row["graph_id"], "generator": generator, "family": family,
                             "replicate": replicate, "test_acc": found["test_acc"], "test_loss": found["test_loss"],
                             "epochs": spec["epochs"], "seconds": found["seconds"], "population": found["population"],
                             "error": "", "model_key": keys[row["graph_id"], replicate], "reused": True})
                done.add((row["graph_id"], replicate))
                reused += 1
    if reuse:
        log.info("%s %s shard %d: %d of %d models taken from structure.reuse (%d earlier rows)", family, generator,
                 shard, reused, len(keys), len(earlier))
    for replicate in range(settings.get("replicates", 1)):
        key = (settings["seed"], "structure", family)
        candidates = [
            populations.Candidate(f"{row['graph_id']}#{replicate}",
                                  derive_seed(*key, row["graph_id"], *([replicate] if replicate else [])),
                                  functools.partial(build, row))
            for row in graphs if (row["graph_id"], replicate) not in done]
        if not candidates:
            continue
        outcomes = populations.train(
            candidates, train_split, test_split, make_optimizer=make_optimizer, epochs=spec["epochs"],
            batch_size=spec["batch_size"], batch_seed=derive_seed(*key, "batches", replicate),
            populations=settings.get("populations"), device=device, checkpoint=f"{out}.population",
            settings=settings, batcher=batcher, label=f"{family} {generator} shard {shard}")
        for finished in outcomes:
            for outcome in finished:
                graph_id = outcome.key.rpartition("#")[0]
                rows.append({"graph_id": graph_id, "generator": generator, "family": family, "replicate": replicate,
                             "test_acc": outcome.accuracy, "test_loss": outcome.loss, "epochs": spec["epochs"],
                             "seconds": outcome.seconds, "population": outcome.population, "error": outcome.error,
                             "model_key": keys[graph_id, replicate], "reused": False})
                log.info("%s %s replicate %d: test accuracy %.4f", family, graph_id, replicate, outcome.accuracy)
            io.save_partial(pd.DataFrame(rows, columns=RUN_COLUMNS + EXTRA_RUN_COLUMNS), partial, digest)
    # in graph order, then replicate: the table does not depend on which models trained here or came from reuse
    position = {graph_id: k for k, graph_id in enumerate(mine["graph_id"])}
    rows.sort(key=lambda row: (position[row["graph_id"]], row["replicate"]))
    io.write_table(pd.DataFrame(rows, columns=RUN_COLUMNS + EXTRA_RUN_COLUMNS), out)
    partial.unlink(missing_ok=True)
    populations.remove_checkpoints(f"{out}.population")

def embedding_width(setting: int | str, layered: Any) -> int:
    """``structure.train.embedding``: a width, or ``sources`` (as in the paper's code: one embedding column per
    source node, so the input width grows with the graph)."""
    return len(layered.sources) if setting == "sources" else int(setting)

def train_structured(cell: str, generator: str, shard: int, settings: Mapping[str, Any], graphs_table: str,
                     data: str, out: str, device: str = "auto", threads: int = 1, reuse: Sequence[str] = ()) -> None:
    """One shard of graph-structured recurrent nets on the Reber strings (family ``rnn_<cell>``)."""
    set_threads(threads)
    sequences = load_sequences(data)
    spec = settings["train"]

    def build(row: dict[str, Any]) -> torch.nn.Module:
        layered = layered_dag(graph_from_row(row), row["graph_id"])
        return StructuredRNN(layered, cell, sequences.vocabulary, embedding_width(spec["embedding"], layered))

    _train_shard(graphs_table, shard, {**settings, "data": sequences.digest}, generator, f"rnn_{cell}", out, build,
                 sequences.train, sequences.test,
                 lambda parameters: adam(parameters, spec["lr"]), resolve_device(device),
                 bucketed_batches, reuse)

def train_structured_ffn(dataset: str, generator: str, shard: int, settings: Mapping[str, Any], graphs_table: str,
                         root: str, out: str, device: str = "auto", threads: int = 1,
                         reuse: Sequence[str] = ()) -> None:
    """One shard of graph-structured feed-forward nets on ``dataset`` (family ``ffn_<dataset>``)."""
    set_threads(threads)
    spec = settings["train"]
    data = load_vision(dataset, spec["validation_fraction"], derive_seed(settings["seed"], "split", dataset), root)

    def build(row: dict[str, Any]) -> torch.nn.Module:
        return StructuredFFN(layered_dag(graph_from_row(row), row["graph_id"]), data.features, data.classes,
                             spec["activation"])

    _train_shard(graphs_table, shard, {**settings, "data": dataset_digest(dataset, root)}, generator,
                 f"ffn_{dataset}", out, build,
                 (data.x_train, data.y_train), (data.x_test, data.y_test),
                 lambda parameters: make_optimizer(spec["optimizer"], parameters, spec["lr"], spec["momentum"]),
                 resolve_device(device), reuse=reuse)

def structure_runs(shards: Sequence[str], features_path: str, out: str) -> None:
    """All structured runs joined with their graph's features (the contract's runs table)."""
    runs = io.concat_tables(shards, RUN_COLUMNS)
    feats = io.read_table(features_path, ("graph_id",)).drop(columns=["generator"])
    missing = sorted(set(runs["graph_id"]) - set(feats["graph_id"]))
    if missing:
        raise DataError(f"{features_path}: no features for graph(s) {missing[:5]}{' ...' if len(missing) > 5 else ''}"
                        f" of the structured runs; rerun the graph_features rule so it covers every graph")
    io.write_table(runs.merge(feats, on="graph_id", how="left", validate="many_to_one"), out)


def archive_runs(results: str, into: str) -> None:
    """Add the models a run trained to an archive folder that ``structure.reuse`` can name: one table per family
    and generator (``<into>/<family>/<generator>.parquet``), rows merged by ``model_key`` (a model already there
    keeps its row), failed models left out. Appends what it added, with commit and machine, to
    ``<into>/PROVENANCE.md``, so a study grown over several runs says where each part came from."""
    shards = [p for p in sorted(Path(results, "structure", "shards").rglob("*.parquet"))
              if "model_key" in pq.read_schema(p).names]
    if not shards:
        raise DataError(f"{results}/structure/shards: no run tables with a model_key column; run the structure "
                        f"stage there first")
    runs = io.concat_tables(shards, ["model_key", "family", "generator", "test_acc", "error"])
    runs = runs[(runs["error"].fillna("") == "") & runs["test_acc"].notna()]
    added = []
    for (family, generator), rows in runs.groupby(["family", "generator"], sort=True):
        path = Path(into, family, f"{generator}.parquet")
        kept = io.read_table(path, ["model_key"]) if path.is_file() else rows.iloc[:0]
        new = rows[~rows["model_key"].isin(kept["model_key"])].drop_duplicates("model_key")
        if len(new):
            path.parent.mkdir(parents=True, exist_ok=True)
            io.write_table(pd.concat([kept, new.assign(reused=False)], ignore_index=True), path)
        added.append(f"{family} {generator}: {len(new)} new models ({len(kept) + len(new)} in all, "
                     f"{new['seconds'].sum() / 60:.0f} min of training)")
    with open(Path(into, "PROVENANCE.md"), "a") as log_file:
        log_file.write(f"\n## {pd.Timestamp.now(tz='UTC'):%Y-%m-%d %H:%M} UTC, {_provenance()}\n\n"
                       + "".join(f"- {line}\n" for line in added))
    log.info("archived into %s: %s", into, "; ".join(added))


def _provenance() -> str:
    """The commit of the code archiving (when it runs from a git checkout; the code that trained may be older, and
    a note in PROVENANCE.md should say so), the CPU and torch, for the archive's log."""
    import os
    import platform
    import subprocess

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown commit"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.machine()
    return f"archived at commit {commit}; {cpu}, {os.cpu_count()} cores; torch {torch.__version__}"


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    """This stage's ``sparsepipe`` subcommands (``add``: :func:`sparsepipe.cli.add_unit` on the subparsers)."""
    shards = (("train-structured", train_structured, "recurrent", "--cell", "--data", "the sequence table"),
              ("train-structured-ffn", train_structured_ffn, "feed-forward", "--dataset", "--root",
               "folder of the torchvision datasets"))
    for name, fn, kind, family, data, data_help in shards:  # one shard of a family: same arguments but its data
        p = add(name, fn, f"train one shard of graph-structured {kind} nets", runtime=True)
        p.add_argument(family, required=True)
        p.add_argument("--generator", required=True)
        p.add_argument("--shard", type=int, required=True)
        p.add_argument("--graphs", required=True, dest="graphs_table")
        p.add_argument(data, required=True, help=data_help)
        p.add_argument("--out", required=True)
        p.add_argument("--reuse", nargs="*", default=[], help="run tables of earlier runs (structure.reuse)")

    p = add("structure-runs", structure_runs, "join structured runs with graph features",
            settings=False)
    p.add_argument("--shards", nargs="+", required=True)
    p.add_argument("--features", required=True, dest="features_path")
    p.add_argument("--out", required=True)

    p = add("archive-runs", archive_runs, "add a run's trained models to a structure.reuse archive folder",
            settings=False, dispatch="here")
    p.add_argument("--results", required=True, help="the run's results_dir")
    p.add_argument("--into", required=True, help="the archive folder (structure.reuse names it)")
