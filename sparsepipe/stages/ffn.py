"""Stage ``ffn`` (workflow/rules/ffn.smk): vision data staged where torchvision expects it, dense feed-forward
nets, and their pruning sweeps with re-training, summarised against the paper's claims. Subcommands:
``sparsepipe stage-data``, ``train-ffn``, ``prune``, ``summarize-pruning``."""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from sparsepipe import io
from sparsepipe.data.vision import TensorSplits, dataset_digest, load_vision, stage
from sparsepipe.models.checkpoint import load_model_checkpoint
from sparsepipe.models.ffn import MLP, hidden_widths
from sparsepipe.prune.step import check_method
from sparsepipe.seeds import derive_seed, seed_everything
from sparsepipe.sweep import PRUNING_COLUMNS, prune_runs
from sparsepipe.train import evaluate, fit, make_optimizer, resolve_device, set_threads

log = logging.getLogger(__name__)


def stage_vision(dataset: str, settings: Mapping[str, Any], root: str, out: str) -> None:
    """Put a vision dataset where torchvision expects it; the manifest lists the files (name, bytes, content
    digest), so that the units reading the dataset can bind their resumable state to its content."""
    idx_dir = (settings.get("idx_dirs") or {}).get(dataset)
    files = stage(dataset, root, idx_dir=idx_dir, download=settings["download"])
    io.write_json({"dataset": dataset, "root": root,
                   "files": {str(p): {"bytes": p.stat().st_size, "digest": io.file_digest(p)} for p in files}}, out)

def train_ffn(dataset: str, arch: str, model_seed: int, settings: Mapping[str, Any], root: str, out: str,
              device: str = "auto", threads: int = 1) -> None:
    """Dense training of one MLP; the checkpoint holds state_dict, (empty) masks, config and metrics.

    ``arch`` names the hidden widths joined by '-' ('300-100'); ``settings``: ``train`` (optimiser, lr, momentum,
    epochs, batch_size, validation_fraction, plateau_patience) and the global ``seed``.
    """
    set_threads(threads)
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
    checkpoint = Path(f"{out}.partial")
    history = fit(model, optimizer, (data.x_train, data.y_train), train_settings["epochs"],
                  train_settings["batch_size"], seed, validation=(data.x_val, data.y_val),
                  checkpoint=checkpoint, label=f"ffn {dataset} {arch} seed {model_seed}", plateau=plateau,
                  settings={"dataset": dataset, "arch": arch, "model_seed": model_seed,
                            "data": dataset_digest(dataset, root), **settings})
    test = evaluate(model, (data.x_test, data.y_test))
    config = {"dataset": dataset, "arch": arch, "model_seed": model_seed, "seed": seed, "inputs": data.features,
              "classes": data.classes, "hidden": hidden, **settings}
    metrics = {"test_acc": test.accuracy, "test_loss": test.loss, "val_acc": history[-1]["val_acc"],
               "seconds": time.perf_counter() - start}
    io.save_checkpoint({"state_dict": model.cpu().state_dict(), "masks": {}, "config": config,
                        "metrics": metrics, "optimizer": io.on_cpu(optimizer.state_dict())}, out)
    checkpoint.unlink(missing_ok=True)  # only now: fit leaves it for a kill before the model is written
    log.info("ffn %s %s seed %d: test accuracy %.4f", dataset, arch, model_seed, test.accuracy)

def prune_ffn(model_path: str, method: str, settings: Mapping[str, Any], root: str, out: str,
              device: str = "auto", threads: int = 1) -> None:
    """Pruning sweep of one dense model with one method: every rate and run (own seed) through the schedule of
    :mod:`sparsepipe.sweep`; one row per pruning step. ``settings``: the ``ffn.prune`` block and the ``seed``."""
    set_threads(threads)
    check_method(method)
    checkpoint = load_model_checkpoint(model_path, "ffn")
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

def summarize_pruning(pruning_path: str, target: float, out_summary: str, out_comparisons: str) -> None:
    """The paper's check on the pruning table: accuracy at ``target`` compression per method, and comparisons."""
    from sparsepipe.analysis import paper_check  # here: scipy.stats, which this stage's training jobs skip

    summary, comparisons = paper_check(io.read_table(pruning_path, PRUNING_COLUMNS), target)
    io.write_table(summary, out_summary)
    io.write_table(comparisons, out_comparisons)
    log.info("accuracy at %.0f%% compression:\n%s", 100 * target, summary.to_string(index=False))


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    """This stage's ``sparsepipe`` subcommands (``add``: :func:`sparsepipe.cli.add_unit` on the subparsers)."""
    p = add("stage-data", stage_vision, "put a vision dataset where torchvision expects it")
    p.add_argument("--dataset", required=True)
    p.add_argument("--root", required=True, help="folder of the torchvision datasets")
    p.add_argument("--out", required=True, help="manifest (JSON) of the staged files")

    p = add("train-ffn", train_ffn, "train one dense feed-forward net", runtime=True)
    p.add_argument("--root", required=True, help="folder of the torchvision datasets")
    p.add_argument("--dataset", required=True)
    p.add_argument("--arch", required=True)
    p.add_argument("--model-seed", type=int, required=True)
    p.add_argument("--out", required=True)

    p = add("prune", prune_ffn, "iterative prune / re-train sweep of one model with one method",
            runtime=True)
    p.add_argument("--model", required=True, dest="model_path")
    p.add_argument("--root", required=True, help="folder of the torchvision datasets")
    p.add_argument("--method", required=True)
    p.add_argument("--out", required=True)

    p = add("summarize-pruning", summarize_pruning,
            "accuracy per method at a target compression, and the paper's paired comparisons", settings=False)
    p.add_argument("--pruning", required=True, dest="pruning_path")
    p.add_argument("--target", type=float, default=0.8, help="compression (fraction of weights removed)")
    p.add_argument("--out-summary", required=True)
    p.add_argument("--out-comparisons", required=True)
