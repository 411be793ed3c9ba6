"""One function per kind of pipeline job: read inputs, compute, write outputs atomically.

These are what :mod:`sparsepipe.launch` sends to an executor, so they take plain values (paths, settings
dicts) and return nothing of importance: the files are the result. Seeds derive from the global seed and
the unit's key (:func:`sparsepipe.seeds.derive_seed`), so any unit rerun alone gives the same numbers.
"""

from __future__ import annotations

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
from sparsepipe.analysis import paper_check
from sparsepipe.data.reber import ALPHABET, generate_reber
from sparsepipe.data.sequences import ALPHABET_KEY, load_sequences, stage_files, write_sequences
from sparsepipe.data.vision import TensorSplits, load_vision, stage
from sparsepipe.errors import ConfigError, DataError
from sparsepipe.features import features_table
from sparsepipe.graphs.generators import GRAPH_COLUMNS, generate_graphs, graph_from_row
from sparsepipe.graphs.layering import layered_dag
from sparsepipe.models.batching import bucketed_batches
from sparsepipe.models.ffn import MLP, hidden_widths
from sparsepipe.models.rnn import RecurrentClassifier
from sparsepipe.models.structured import StructuredRNN
from sparsepipe.models.structured_ffn import StructuredFFN
from sparsepipe.predict import cross_validate, targets_of
from sparsepipe.prune.magnitude import check_method
from sparsepipe.prune.recurrent import prune_recurrent
from sparsepipe.seeds import derive_seed, seed_everything
from sparsepipe.sweep import prune_runs
from sparsepipe.train import Batcher, batches, evaluate, fit, make_optimizer, resolve_device

log = logging.getLogger(__name__)

PRUNING_COLUMNS = [
    "dataset", "arch", "model_seed", "method", "strategy", "rate", "run", "step", "weights_remaining",
    "compression", "acc_dense", "acc_pruned", "acc_retrained", "retrain_epochs", "seconds", "stop_reason",
]
RUN_COLUMNS = ["graph_id", "generator", "family", "test_acc", "test_loss", "epochs", "seconds"]
# structure shards add: which seed of the graph (0..replicates-1), how many models trained together, and why a
# model failed (empty when it trained)
EXTRA_RUN_COLUMNS = ["replicate", "population", "error"]


def _threads(threads: int) -> None:
    torch.set_num_threads(max(1, threads))


# what a dense model's checkpoint config holds, by kind (and the unit that writes it)
_CHECKPOINT_CONFIG = {"ffn": (("dataset", "arch", "model_seed", "seed", "inputs", "hidden", "classes", "train"),
                              "train-ffn"),
                      "rnn": (("cell", "model_seed", "hidden", "train"), "train-rnn")}


def _model_checkpoint(path: str, kind: str) -> dict[str, Any]:
    """A dense model's checkpoint, or one line saying that ``path`` is some other torch file."""
    checkpoint = io.load_checkpoint(path, ("state_dict", "config", "metrics"))
    keys, writer = _CHECKPOINT_CONFIG[kind]
    config = checkpoint["config"]
    missing = [k for k in keys if not isinstance(config, dict) or k not in config]
    if missing or "test_acc" not in checkpoint["metrics"]:
        raise DataError(f"{path}: a checkpoint of another kind (its config lacks {missing or ['test_acc']}); "
                        f"expected a model written by sparsepipe {writer}")
    return checkpoint


def _cpu(state: Any) -> Any:
    """An optimiser's ``state_dict()`` with its tensors on the CPU (checkpoints load anywhere)."""
    if isinstance(state, torch.Tensor):
        return state.cpu()
    if isinstance(state, dict):
        return {key: _cpu(value) for key, value in state.items()}
    if isinstance(state, list):
        return [_cpu(value) for value in state]
    return state


# --- graphs and features ------------------------------------------------------------------------------------

def graphs(generator: str, settings: Mapping[str, Any], out: str) -> None:
    """``settings``: ``generator`` (its config block) and the global ``seed``. Unusable graphs fail here, named
    (``generate_graphs`` layers every graph), rather than deep inside training."""
    table = generate_graphs(generator, settings["generator"], settings["seed"])
    io.write_table(table, out)
    log.info("%s: %d graphs -> %s", generator, len(table), out)


def features(graph_tables: Sequence[str], out: str) -> None:
    table = features_table(io.concat_tables(graph_tables, GRAPH_COLUMNS))
    io.write_table(table, out)
    log.info("features of %d graphs -> %s", len(table), out)


# --- Reber strings and recurrent nets ------------------------------------------------------------------------

def reber(settings: Mapping[str, Any], out: str) -> None:
    """The sequence table of the recurrent stages: ``reber.files`` staged and checked where set, else generated
    Reber strings (``settings``: the ``reber`` block and the global ``seed``)."""
    spec = settings["reber"]
    files = spec.get("files")
    if files:
        table, alphabet, digests = stage_files(files["train"], files["test"])
        write_sequences(table, alphabet, out, digests)
        log.info("sequences: %d strings from %s and %s over %d symbols -> %s", len(table), files["train"],
                 files["test"], len(alphabet), out)
        return
    alphabet = spec.get("alphabet", ALPHABET)
    table = generate_reber(spec["train"], spec["test"], spec["max_length"], derive_seed(settings["seed"], "reber"),
                           embedded=spec["embedded"], invalid=spec["invalid"], min_length=spec.get("min_length"),
                           mean_length=spec.get("mean_length"), alphabet=alphabet,
                           other_grammar_mean_length=spec.get("other_grammar_mean_length"))
    write_sequences(table, alphabet, out)
    log.info("reber: %d strings -> %s", len(table), out)




def _adam(model: torch.nn.Module, lr: float) -> torch.optim.Adam:
    """Adam, fused where torch supports it (structured nets have many small parameter tensors)."""
    return torch.optim.Adam(model.parameters(), lr=lr, fused=True)


def train_rnn(cell: str, model_seed: int, settings: Mapping[str, Any], data: str, out_model: str,
              out_table: str, device: str = "auto", threads: int = 1) -> None:
    """A dense recurrent classifier on the Reber strings: checkpoint and a one-row metrics table."""
    _threads(threads)
    seed = derive_seed(settings["seed"], "rnn", cell, model_seed)
    seed_everything(seed)
    sequences = load_sequences(data)
    model = RecurrentClassifier(cell, sequences.vocabulary, settings["train"]["embedding"], settings["hidden"])
    start = time.perf_counter()
    model.to(resolve_device(device))
    optimizer = _adam(model, settings["train"]["lr"])
    # the checkpoint belongs to these settings and to this data's content (a rerun on other data starts fresh)
    fit(model, optimizer, sequences.train, settings["train"]["epochs"], settings["train"]["batch_size"], seed,
        checkpoint=f"{out_model}.partial", label=f"rnn {cell} seed {model_seed}", batcher=bucketed_batches,
        settings={"cell": cell, "model_seed": model_seed, "data": sequences.digest, **settings},
        anneal=settings["train"].get("schedule", "constant") == "cosine")
    result = evaluate(model, sequences.test, batcher=bucketed_batches)
    acc, loss, seconds = result.accuracy, result.loss, time.perf_counter() - start
    config = {"cell": cell, "model_seed": model_seed, "seed": seed, "alphabet": sequences.alphabet, **settings}
    io.save_checkpoint({"state_dict": model.cpu().state_dict(), "masks": {}, "config": config,
                        "metrics": {"test_acc": acc, "test_loss": loss, "seconds": seconds},
                        "optimizer": _cpu(optimizer.state_dict())}, out_model)
    io.write_table(pd.DataFrame([{"mode": cell, "model_seed": model_seed, "test_acc": acc, "test_loss": loss,
                                  "epochs": settings["train"]["epochs"], "seconds": seconds}]), out_table)
    log.info("rnn %s seed %d: test accuracy %.4f", cell, model_seed, acc)


def _retrain_adam(model: torch.nn.Module, lr: float, settings: Mapping[str, Any],
                  dense_optimizer: Mapping[str, Any] | None) -> torch.optim.Adam:
    """The re-training Adam of a pruned recurrent net, built on the still dense ``model`` so that its parameters
    line up with the dense training's (``settings``: ``retrain_lr``, ``retrain_optimizer``; absent keys mean the
    training's learning rate and fresh moments)."""
    optimizer = _adam(model, lr)
    if settings.get("retrain_optimizer", "reset") == "keep":
        if dense_optimizer is None:
            raise ConfigError("rnn.prune.retrain_optimizer: keep needs the dense training's optimiser state, which "
                              "this checkpoint lacks (retrain the dense model with this version)")
        optimizer.load_state_dict(dense_optimizer)
    for group in optimizer.param_groups:
        group["lr"] = lr * settings.get("retrain_lr", 1.0)
    return optimizer


def prune_rnn(model_path: str, target: str, settings: Mapping[str, Any], data: str, out: str,
              device: str = "auto", threads: int = 1) -> None:
    """Magnitude pruning of one dense recurrent model's ``target`` weights (i2h, h2h or both; one threshold over all
    layers) at every configured percent, each from the dense weights; test accuracy right after pruning and after
    ``retrain_epochs``. One row per percent; layers left without any weight are recorded by name.

    Re-training uses Adam at ``retrain_lr`` times the training's learning rate, starting from the dense training's
    final Adam moments (``retrain_optimizer: keep``) or from fresh ones (``reset``). A fresh Adam at the full
    learning rate takes steps of about ``lr`` per weight from its first batch on and undid what light pruning left:
    a GRU with 10% of its input weights pruned fell from 98.0% to 93.8% by re-training (docs/statistics.md).
    ``retrain_schedule: cosine`` anneals that rate to 0 over the re-training (as ``rnn.train.schedule: cosine``
    does for dense training), so that a re-trained net, like its dense net, ends settled rather than wherever
    Adam's last steps left it."""
    _threads(threads)
    checkpoint = _model_checkpoint(model_path, "rnn")
    config = checkpoint["config"]
    sequences = load_sequences(data)
    train, test = sequences.train, sequences.test
    if config.get("alphabet", ALPHABET) != sequences.alphabet:
        raise DataError(f"{data}: its alphabet {sequences.alphabet!r} is not the one {model_path} was trained on "
                        f"({config.get('alphabet', ALPHABET)!r}); rerun train-rnn on this data")
    target_device = resolve_device(device)
    dense_acc = checkpoint["metrics"]["test_acc"]
    rows = []
    for percent in settings["percents"]:
        start = time.perf_counter()
        seed = derive_seed(settings["seed"], "rnn-prune", config["cell"], config["model_seed"], target, percent)
        seed_everything(seed)
        model = RecurrentClassifier(config["cell"], sequences.vocabulary, config["train"]["embedding"],
                                    config["hidden"])
        model.load_state_dict(checkpoint["state_dict"])
        model.to(target_device)
        optimizer = _retrain_adam(model, config["train"]["lr"], settings, checkpoint.get("optimizer"))
        emptied = prune_recurrent(model, target, percent)
        pruned = evaluate(model, test, batcher=bucketed_batches).accuracy
        if settings["retrain_epochs"]:
            fit(model, optimizer, train, settings["retrain_epochs"],
                config["train"]["batch_size"], seed, label=f"{config['cell']} {target} {percent}%",
                batcher=bucketed_batches, anneal=settings.get("retrain_schedule", "constant") == "cosine")
        rows.append({"mode": config["cell"], "model_seed": config["model_seed"], "target": target,
                     "percent": float(percent), "acc_dense": dense_acc, "acc_pruned": pruned,
                     "acc_retrained": evaluate(model, test, batcher=bucketed_batches).accuracy,
                     "retrain_epochs": settings["retrain_epochs"],
                     "emptied_layers": ",".join(emptied), "seconds": time.perf_counter() - start})
        log.info("%s seed %d %s %s%%: pruned %.4f, re-trained %.4f%s", config["cell"], config["model_seed"], target,
                 percent, pruned, rows[-1]["acc_retrained"], f" (emptied: {rows[-1]['emptied_layers']})" if emptied
                 else "")
    io.write_table(pd.DataFrame(rows), out)


def _train_shard(graphs_table: str, shard: int, settings: Mapping[str, Any], generator: str, family: str, out: str,
                 build: Callable[[dict[str, Any]], torch.nn.Module], train_split: tuple[torch.Tensor, ...],
                 test_split: tuple[torch.Tensor, ...], make_optimizer: Callable[[Any], torch.optim.Optimizer],
                 device: torch.device, batcher: Batcher = batches) -> None:
    """Train this shard's graph-structured models (every ``shards``-th graph, ``replicates`` seeds each) as
    populations (:mod:`sparsepipe.populations`); one row per model.

    ``build(graph_row)`` makes one model. Each model's initial seed derives from the family, graph and replicate
    (replicate 0 keeps the seed of one-at-a-time training); each replicate's populations share one batch order.
    Finished populations are appended to ``<out>.partial``, and a population in training checkpoints every epoch,
    so a rerun continues where a killed job stopped; the ``.partial`` records a digest of the settings (which carry
    ``data``, the content digest of the training data) and of this shard's graphs, so a rerun after a change of
    either starts fresh (population checkpoints digest the same settings). A graph that
    cannot be built gets a row with its error and NaN accuracy; the others still train.
    """
    table = io.read_table(graphs_table, GRAPH_COLUMNS)
    partial = Path(f"{out}.partial")
    mine = table.iloc[shard :: settings["shards"]]
    digest = io.settings_digest({"settings": settings, "generator": generator, "family": family, "shard": shard,
                                 "graphs": [[r["graph_id"], int(r["nodes"]), [int(v) for v in r["src"]],
                                             [int(v) for v in r["dst"]]] for r in mine.to_dict("records")]})
    saved = io.load_partial(partial, digest, f"{family} {generator} shard {shard}")
    rows = saved.to_dict("records") if saved is not None else []
    done = {(row["graph_id"], row["replicate"]) for row in rows}
    spec = settings["train"]
    graphs = mine.to_dict("records")
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
                             "seconds": outcome.seconds, "population": outcome.population, "error": outcome.error})
                log.info("%s %s replicate %d: test accuracy %.4f", family, graph_id, replicate, outcome.accuracy)
            io.save_partial(pd.DataFrame(rows, columns=RUN_COLUMNS + EXTRA_RUN_COLUMNS), partial, digest)
    io.write_table(pd.DataFrame(rows, columns=RUN_COLUMNS + EXTRA_RUN_COLUMNS), out)
    partial.unlink(missing_ok=True)
    populations.remove_checkpoints(f"{out}.population")


def embedding_width(setting: int | str, layered: Any) -> int:
    """``structure.train.embedding``: a width, or ``sources`` (as in the paper's code: one embedding column per
    source node, so the input width grows with the graph)."""
    return len(layered.sources) if setting == "sources" else int(setting)


def train_structured(cell: str, generator: str, shard: int, settings: Mapping[str, Any], graphs_table: str,
                     data: str, out: str, device: str = "auto", threads: int = 1) -> None:
    """One shard of graph-structured recurrent nets on the Reber strings (family ``rnn_<cell>``)."""
    _threads(threads)
    sequences = load_sequences(data)
    spec = settings["train"]

    def build(row: dict[str, Any]) -> torch.nn.Module:
        layered = layered_dag(graph_from_row(row), row["graph_id"])
        return StructuredRNN(layered, cell, sequences.vocabulary, embedding_width(spec["embedding"], layered))

    _train_shard(graphs_table, shard, {**settings, "data": sequences.digest}, generator, f"rnn_{cell}", out, build,
                 sequences.train, sequences.test,
                 lambda parameters: torch.optim.Adam(parameters, lr=spec["lr"], fused=True), resolve_device(device),
                 bucketed_batches)


def train_structured_ffn(dataset: str, generator: str, shard: int, settings: Mapping[str, Any], graphs_table: str,
                         root: str, out: str, device: str = "auto", threads: int = 1) -> None:
    """One shard of graph-structured feed-forward nets on ``dataset`` (family ``ffn_<dataset>``)."""
    _threads(threads)
    spec = settings["train"]
    data = load_vision(dataset, spec["validation_fraction"], derive_seed(settings["seed"], "split", dataset), root)

    def build(row: dict[str, Any]) -> torch.nn.Module:
        return StructuredFFN(layered_dag(graph_from_row(row), row["graph_id"]), data.features, data.classes,
                             spec["activation"])

    _train_shard(graphs_table, shard, {**settings, "data": _vision_digest(dataset, root)}, generator,
                 f"ffn_{dataset}", out, build,
                 (data.x_train, data.y_train), (data.x_test, data.y_test),
                 lambda parameters: make_optimizer(spec["optimizer"], parameters, spec["lr"], spec["momentum"]),
                 resolve_device(device))


def structure_runs(shards: Sequence[str], features_path: str, out: str) -> None:
    """All structured runs joined with their graph's features (the contract's runs table)."""
    runs = io.concat_tables(shards, RUN_COLUMNS)
    feats = io.read_table(features_path, ("graph_id",)).drop(columns=["generator"])
    missing = sorted(set(runs["graph_id"]) - set(feats["graph_id"]))
    if missing:
        raise DataError(f"{features_path}: no features for graph(s) {missing[:5]}{' ...' if len(missing) > 5 else ''}"
                        f" of the structured runs; rerun the graph_features rule so it covers every graph")
    io.write_table(runs.merge(feats, on="graph_id", how="left", validate="many_to_one"), out)


# --- feed-forward nets: training, pruning, re-training --------------------------------------------------------

def stage_vision(dataset: str, settings: Mapping[str, Any], root: str, out: str) -> None:
    """Put a vision dataset where torchvision expects it; the manifest lists the files (name, bytes, content
    digest), so that the units reading the dataset can bind their resumable state to its content."""
    idx_dir = (settings.get("idx_dirs") or {}).get(dataset)
    files = stage(dataset, root, idx_dir=idx_dir, download=settings["download"])
    io.write_json({"dataset": dataset, "root": root,
                   "files": {str(p): {"bytes": p.stat().st_size, "digest": io.file_digest(p)} for p in files}}, out)


def _vision_digest(dataset: str, root: str) -> str:
    """The content digest of a staged vision dataset: its manifest's (written by :func:`stage_vision` beside the
    data), or the dataset's name where a unit runs on a root that has none (digits comes with scikit-learn)."""
    manifest = Path(root) / f"{dataset}.json"
    return io.file_digest(manifest) if manifest.is_file() else dataset


def train_ffn(dataset: str, arch: str, model_seed: int, settings: Mapping[str, Any], root: str, out: str,
              device: str = "auto", threads: int = 1) -> None:
    """Dense training of one MLP; the checkpoint holds state_dict, (empty) masks, config and metrics.

    ``arch`` names the hidden widths joined by '-' ('300-100'); ``settings``: ``train`` (optimiser, lr, momentum,
    epochs, batch_size, validation_fraction, plateau_patience) and the global ``seed``.
    """
    _threads(threads)
    hidden = hidden_widths(arch)
    train_settings = settings["train"]
    seed = derive_seed(settings["seed"], "ffn", dataset, arch, model_seed)
    seed_everything(seed)
    data = load_vision(dataset, train_settings["validation_fraction"], seed, root)
    model = MLP(data.features, hidden, data.classes).to(resolve_device(device))
    optimizer = make_optimizer(train_settings["optimizer"], model.parameters(), train_settings["lr"],
                               train_settings["momentum"])
    plateau = None
    if train_settings["plateau_patience"]:
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.1,
                                                             patience=train_settings["plateau_patience"],
                                                             min_lr=train_settings["lr"] / 1000)
    start = time.perf_counter()
    history = fit(model, optimizer, (data.x_train, data.y_train), train_settings["epochs"],
                  train_settings["batch_size"], seed, validation=(data.x_val, data.y_val),
                  checkpoint=f"{out}.partial", label=f"ffn {dataset} {arch} seed {model_seed}", plateau=plateau,
                  settings={"dataset": dataset, "arch": arch, "model_seed": model_seed,
                            "data": _vision_digest(dataset, root), **settings})
    test = evaluate(model, (data.x_test, data.y_test))
    config = {"dataset": dataset, "arch": arch, "model_seed": model_seed, "seed": seed, "inputs": data.features,
              "classes": data.classes, "hidden": hidden, **settings}
    metrics = {"test_acc": test.accuracy, "test_loss": test.loss, "val_acc": history[-1]["val_acc"],
               "seconds": time.perf_counter() - start}
    io.save_checkpoint({"state_dict": model.cpu().state_dict(), "masks": {}, "config": config,
                        "metrics": metrics, "optimizer": _cpu(optimizer.state_dict())}, out)
    log.info("ffn %s %s seed %d: test accuracy %.4f", dataset, arch, model_seed, test.accuracy)


def prune_ffn(model_path: str, method: str, settings: Mapping[str, Any], root: str, out: str,
              device: str = "auto", threads: int = 1) -> None:
    """Pruning sweep of one dense model with one method: every rate and run (own seed) through the schedule of
    :mod:`sparsepipe.sweep`; one row per pruning step. ``settings``: the ``ffn.prune`` block and the ``seed``."""
    _threads(threads)
    check_method(method)
    checkpoint = _model_checkpoint(model_path, "ffn")
    config, dense_acc = checkpoint["config"], checkpoint["metrics"]["test_acc"]
    target = resolve_device(device)
    data = load_vision(config["dataset"], config["train"]["validation_fraction"], config["seed"], root)
    data = TensorSplits(*(t.to(target) for t in (data.x_train, data.y_train, data.x_val, data.y_val, data.x_test,
                                                  data.y_test)), classes=data.classes)
    key = {"dataset": config["dataset"], "arch": config["arch"], "model_seed": config["model_seed"],
           "method": method, "strategy": f"{settings['schedule']}_{settings['strategy']}"}
    rows = []
    for rate in settings["rates"]:
        for run in range(settings["runs"]):
            seed = derive_seed(settings["seed"], "prune", *key.values(), rate, run)
            seed_everything(seed)
            model = MLP(config["inputs"], config["hidden"], config["classes"])
            model.load_state_dict(checkpoint["state_dict"])
            model.to(target)
            for row in prune_runs(model, method, rate, data, settings, config["train"], seed,
                                  dense_optimizer=checkpoint.get("optimizer")):
                rows.append(key | {"rate": float(rate), "run": run, "acc_dense": dense_acc} | row)
    table = pd.DataFrame(rows)
    io.write_table(table[PRUNING_COLUMNS + [c for c in table.columns if c not in PRUNING_COLUMNS]], out)


def pruned_runs(pruning_path: str, out: str) -> None:
    """Every pruned feed-forward net (one per pruning step) as a row of the runs contract: family
    ``pruned_ffn_<dataset>``, its re-trained test accuracy, and the features of the graph of its surviving weights."""
    pruning = io.read_table(pruning_path, PRUNING_COLUMNS)
    pruning = pruning[(pruning["step"] > 0) & pruning.get("edges", pd.Series(dtype=float)).notna()]
    keys = ["dataset", "arch", "model_seed", "method", "rate", "run", "step"]
    runs = pd.DataFrame({
        "graph_id": ["/".join(map(str, k)) for k in pruning[keys].itertuples(index=False)],
        "generator": pruning["method"], "family": "pruned_ffn_" + pruning["dataset"],
        "test_acc": pruning["acc_retrained"], "test_loss": float("nan"), "epochs": pruning["retrain_epochs"],
        "seconds": pruning["seconds"]})
    features = pruning.drop(columns=[c for c in pruning.columns if c in PRUNING_COLUMNS])
    io.write_table(pd.concat([runs.reset_index(drop=True), features.reset_index(drop=True)], axis=1), out)


# --- tables and predictors ------------------------------------------------------------------------------------

def summarize_pruning(pruning_path: str, target: float, out_summary: str, out_comparisons: str) -> None:
    """The paper's check on the pruning table: accuracy at ``target`` compression per method, and comparisons."""
    summary, comparisons = paper_check(io.read_table(pruning_path, PRUNING_COLUMNS), target)
    io.write_table(summary, out_summary)
    io.write_table(comparisons, out_comparisons)
    log.info("accuracy at %.0f%% compression:\n%s", 100 * target, summary.to_string(index=False))


def collect(inputs: Sequence[str], out: str) -> None:
    """Concatenate per-unit tables of one kind into the stage's table."""
    io.write_table(io.concat_tables(inputs), out)


def fit_predictors(runs_paths: Sequence[str], settings: Mapping[str, Any], out_scores: str, out_predictions: str,
                   out_importance: str, family: str | None = None, out_noise_ceiling: str | None = None) -> None:
    """Cross-validated structure-only accuracy predictors, per model family (or of one ``family``): grouped
    repeated k-fold (:mod:`sparsepipe.predict`), the targets of ``predict.target``, the spread over single random
    splits (``predict.single_splits``) and the noise ceiling from replicates (also written to ``out_noise_ceiling``)."""
    runs = io.concat_tables(runs_paths, ("family", "test_acc", "graph_id"))
    failed = runs["test_acc"].isna()
    if failed.any():  # members whose graph could not be built (their error is in the runs table)
        log.warning("predictors: %d models without accuracy left out: %s", int(failed.sum()),
                    ", ".join(runs.loc[failed, "graph_id"].astype(str).head(5)))
        runs = runs[~failed]
    families = [family] if family is not None else sorted(runs["family"].unique())
    results = [cross_validate(runs, name, settings["regressors"], settings["folds"], settings["repeats"],
                              derive_seed(settings["seed"], "predict", name), feature_sets=settings["feature_sets"],
                              importance=True, targets=targets_of(settings.get("target", "single")),
                              single_splits=settings.get("single_splits"))
               for name in families]
    outs = (out_scores, out_predictions, out_importance, out_noise_ceiling)
    for index, out in enumerate(outs):
        if out is not None:
            io.write_table(pd.concat([r[index] for r in results], ignore_index=True), out)


# --- genetic architecture search ----------------------------------------------------------------------------------

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
    return len(io.table_metadata(data).get(ALPHABET_KEY, ALPHABET)) + 1


def train_candidates(task: str, genomes: Sequence[str], seeds: Sequence[int], settings: Mapping[str, Any],
                     data: str) -> list[float]:
    """Fitness of search candidates: validation accuracy of each one's network after a short training, all
    trained together as populations (each from its own seed; one batch order for the whole search, so fitness
    differences come from structure and initialisation, not from the order of batches)."""
    torch.set_num_threads(1)
    spec = settings["train"]
    train, validation, _ = _nas_data(task, data, spec["train_samples"], derive_seed(settings["seed"], "nas-data"))
    recurrent = not task.startswith("ffn_")

    def build(genome: str) -> torch.nn.Module:
        structure = nas.layered(nas.Genome.from_json(genome))
        if recurrent:
            return StructuredRNN(structure, task.removeprefix("rnn_"), _vocabulary(data), spec["embedding"])
        return StructuredFFN(structure, train[0].shape[1], int(train[-1].max()) + 1, spec["activation"])

    candidates = [populations.Candidate(f"candidate {i}", seed, functools.partial(build, genome))
                  for i, (genome, seed) in enumerate(zip(genomes, seeds, strict=True))]
    fitness: dict[str, float] = {}
    for finished in populations.train(
            candidates, train, validation, make_optimizer=lambda p: torch.optim.Adam(p, lr=spec["lr"], fused=True),
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
    inputs = io.file_digest(data) if Path(data).is_file() else _vision_digest(task.removeprefix("ffn_"), data)
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
    structure = nas.layered(nas.Genome.from_json(genome))
    if task.startswith("ffn_"):
        model: torch.nn.Module = StructuredFFN(structure, train[0].shape[1], int(train[-1].max()) + 1,
                                               spec["activation"])
        fit(model, torch.optim.Adam(model.parameters(), lr=spec["lr"]), train, spec["epochs"], spec["batch_size"],
            seed)
        return evaluate(model, validation).accuracy, evaluate(model, test).accuracy
    model = StructuredRNN(structure, task.removeprefix("rnn_"), _vocabulary(data), spec["embedding"])
    fit(model, _adam(model, spec["lr"]), train, spec["epochs"], spec["batch_size"], seed, batcher=bucketed_batches)
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
