"""Stage ``rnn`` (workflow/rules/rnn.smk): the sequence table (generated Reber strings or ``reber.files``), dense
recurrent classifiers on it, and magnitude pruning of their input-to-hidden / hidden-to-hidden weights with
re-training. Subcommands: ``sparsepipe reber``, ``train-rnn``, ``prune-rnn``."""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from sparsepipe import io
from sparsepipe.data.reber import ALPHABET, generate_reber
from sparsepipe.data.sequences import load_sequences, stage_files, write_sequences
from sparsepipe.errors import DataError
from sparsepipe.models.batching import bucketed_batches
from sparsepipe.models.checkpoint import load_model_checkpoint
from sparsepipe.models.rnn import RecurrentClassifier
from sparsepipe.prune.recurrent import prune_recurrent
from sparsepipe.retrain import annealed, apply_policy
from sparsepipe.seeds import derive_seed, seed_everything
from sparsepipe.train import adam, evaluate, fit, resolve_device, set_threads

log = logging.getLogger(__name__)


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

def train_rnn(cell: str, model_seed: int, settings: Mapping[str, Any], data: str, out_model: str,
              out_table: str, device: str = "auto", threads: int = 1) -> None:
    """A dense recurrent classifier on the Reber strings: checkpoint and a one-row metrics table."""
    set_threads(threads)
    seed = derive_seed(settings["seed"], "rnn", cell, model_seed)
    seed_everything(seed)
    sequences = load_sequences(data)
    model = RecurrentClassifier(cell, sequences.vocabulary, settings["train"]["embedding"], settings["hidden"])
    start = time.perf_counter()
    model.to(resolve_device(device))
    optimizer = adam(model.parameters(), settings["train"]["lr"])
    # the checkpoint belongs to these settings and to this data's content (a rerun on other data starts fresh)
    checkpoint = Path(f"{out_model}.partial")
    fit(model, optimizer, sequences.train, settings["train"]["epochs"], settings["train"]["batch_size"], seed,
        checkpoint=checkpoint, label=f"rnn {cell} seed {model_seed}", batcher=bucketed_batches,
        settings={"cell": cell, "model_seed": model_seed, "data": sequences.digest, **settings},
        anneal=settings["train"].get("schedule", "constant") == "cosine")
    result = evaluate(model, sequences.test, batcher=bucketed_batches)
    acc, loss, seconds = result.accuracy, result.loss, time.perf_counter() - start
    config = {"cell": cell, "model_seed": model_seed, "seed": seed, "alphabet": sequences.alphabet, **settings}
    io.save_checkpoint({"state_dict": model.cpu().state_dict(), "masks": {}, "config": config,
                        "metrics": {"test_acc": acc, "test_loss": loss, "seconds": seconds},
                        "optimizer": io.on_cpu(optimizer.state_dict())}, out_model)
    io.write_table(pd.DataFrame([{"mode": cell, "model_seed": model_seed, "test_acc": acc, "test_loss": loss,
                                  "epochs": settings["train"]["epochs"], "seconds": seconds}]), out_table)
    checkpoint.unlink(missing_ok=True)  # only now: fit leaves it for a kill before the outputs are written
    log.info("rnn %s seed %d: test accuracy %.4f", cell, model_seed, acc)

def prune_rnn(model_path: str, target: str, settings: Mapping[str, Any], data: str, out: str,
              device: str = "auto", threads: int = 1) -> None:
    """Magnitude pruning of one dense recurrent model's ``target`` weights (i2h, h2h or both; one threshold over all
    layers) at every configured percent, each from the dense weights; test accuracy right after pruning and after
    re-training. One row per percent; layers left without any weight are recorded by name.

    Re-training (``settings["retrain"]``, the policy of :mod:`sparsepipe.retrain`): Adam at ``lr`` times the
    training's rate, from the dense training's final moments (``optimizer_state: keep``) or fresh ones (``reset``),
    for ``epochs``, annealed to 0 with ``schedule: cosine``. A fresh Adam at the full rate takes steps of about
    ``lr`` per weight from its first batch on and undid what light pruning left: a GRU with 10% of its input weights
    pruned fell from 98.0% to 93.8% by re-training (docs/statistics.md)."""
    set_threads(threads)
    checkpoint = load_model_checkpoint(model_path, "rnn")
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
        policy = settings["retrain"]
        optimizer = apply_policy(adam(model.parameters(), config["train"]["lr"]), config["train"]["lr"], policy,
                                 checkpoint.get("optimizer"), "rnn.prune.retrain")
        emptied = prune_recurrent(model, target, percent)
        pruned = evaluate(model, test, batcher=bucketed_batches).accuracy
        if policy["epochs"]:
            fit(model, optimizer, train, policy["epochs"], config["train"]["batch_size"], seed,
                label=f"{config['cell']} {target} {percent}%", batcher=bucketed_batches, anneal=annealed(policy))
        rows.append({"mode": config["cell"], "model_seed": config["model_seed"], "target": target,
                     "percent": float(percent), "acc_dense": dense_acc, "acc_pruned": pruned,
                     "acc_retrained": evaluate(model, test, batcher=bucketed_batches).accuracy,
                     "retrain_epochs": policy["epochs"],
                     "emptied_layers": ",".join(emptied), "seconds": time.perf_counter() - start})
        log.info("%s seed %d %s %s%%: pruned %.4f, re-trained %.4f%s", config["cell"], config["model_seed"], target,
                 percent, pruned, rows[-1]["acc_retrained"], f" (emptied: {rows[-1]['emptied_layers']})" if emptied
                 else "")
    io.write_table(pd.DataFrame(rows), out)


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    """This stage's ``sparsepipe`` subcommands (``add``: :func:`sparsepipe.cli.add_unit` on the subparsers)."""
    p = add("reber", reber, "generate the Reber string table")
    p.add_argument("--out", required=True)

    p = add("train-rnn", train_rnn, "train one dense recurrent classifier on Reber", runtime=True)
    p.add_argument("--cell", required=True)
    p.add_argument("--model-seed", type=int, required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--out-model", required=True)
    p.add_argument("--out-table", required=True)

    p = add("prune-rnn", prune_rnn, "prune one dense recurrent model's i2h / h2h weights",
            runtime=True)
    p.add_argument("--model", required=True, dest="model_path")
    p.add_argument("--target", required=True, choices=("i2h", "h2h", "both"))
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
