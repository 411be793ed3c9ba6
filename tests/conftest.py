"""Shared fixtures: the repository root and a tiny configuration that runs the whole chain in seconds."""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

# `snakemake`, `sparsepipe` and `ruff` as installed beside this Python (e.g. .venv/bin), activated or not
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])

TINY_OVERRIDES: dict[str, Any] = {
    "graphs": {
        "barabasi_albert": {"count": 5, "nodes": [8, 10], "m": [1, 2]},
        "watts_strogatz": {"count": 5, "nodes": [8, 10], "k": [2, 4], "p": [0.2, 0.8]},
    },
    "reber": {"train": 160, "test": 80, "max_length": 16, "embedded": False,
              "invalid": {"near_miss": 0.5, "other_grammar": 0.5}},
    "rnn": {"cells": ["gru"], "seeds": [0], "hidden": [8],
            "train": {"embedding": 4, "epochs": 2, "batch_size": 32, "lr": 0.02},
            "prune": {"targets": ["i2h", "both"], "percents": [50, 100],
                      "retrain": {"epochs": 1, "lr": 0.3, "optimizer_state": "keep", "schedule": "cosine"}}},
    "structure": {"cells": ["gru"], "shards": 1, "replicates": 1,
                  "train": {"embedding": 4, "epochs": 2, "batch_size": 32, "lr": 0.02},
                  "ffn": {"datasets": ["digits"], "train": {"optimizer": "adam", "epochs": 2, "batch_size": 64,
                                                            "lr": 0.01, "momentum": 0.0, "validation_fraction": 0.1,
                                                            "activation": "relu"}}},
    "ffn": {"datasets": ["digits"], "archs": ["16"], "seeds": [0],
            "train": {"optimizer": "sgd", "epochs": 3, "batch_size": 64, "lr": 0.05, "momentum": 0.9,
                      "validation_fraction": 0.1, "plateau_patience": 0},
            "prune": {"methods": ["class_blinded", "class_uniform"], "schedule": "iterative", "strategy": "percent",
                      "rates": [50, 25], "max_steps": 2, "min_remaining": 0.01, "runs": 1,  # one dense net: the
                      # predictors' folds group pruned nets by method and rate (sparsepipe.predict.groups_of), so
                      # pruned_ffn_digits needs >= predict.folds (method, rate) pairs: 2 x 2
                      "retrain": {"mode": "fixed", "epochs": 1, "max_epochs": 3, "min_gain": 0.0, "lr": 0.3,
                                  "optimizer_state": "keep"},
                      "calibration_samples": 100, "network_features": True}},
    "nas": {"tasks": ["ffn_digits"], "population": 4, "elites": 1, "generations": 1, "tournament": 2,
            "mutation_rate": 0.3, "crossover_rate": 0.5, "predictor": True,
            "predictor_model": "bayesian_ridge", "screen_factor": 2, "screen_rounds": 2, "winner_seeds": 2,
            "generators": {"barabasi_albert": {"nodes": [8, 10], "m": [1, 2]}},
            "train": {"epochs": 1, "batch_size": 64, "lr": 0.01, "train_samples": 300, "embedding": 4,
                      "activation": "tanh"}},
    "predict": {"regressors": ["random_forest", "bayesian_ridge", "mean"], "feature_sets": ["all", "weights_only"],
                "folds": 3, "repeats": 1},
}


def default_config() -> dict[str, Any]:
    return yaml.safe_load((REPO / "config.yaml").read_text())


def tiny_config(results_dir: str = "results") -> dict[str, Any]:
    config = default_config() | copy.deepcopy(TINY_OVERRIDES)
    config["results_dir"] = results_dir
    return config


@pytest.fixture
def config() -> dict[str, Any]:
    return tiny_config()


def unit_params(unit: str, config: dict[str, Any] | None = None, **wildcards: str) -> dict[str, Any]:
    """The ``--params`` a rule passes to ``unit``, taken from ``config`` (default: the tiny one)."""
    from sparsepipe.config import UNIT_PARAMS

    config = config or tiny_config()
    params = {}
    for key, dpath in UNIT_PARAMS[unit].items():
        node: Any = config
        for part in dpath.format(**wildcards).split("/"):
            node = node[part]
        params[key] = copy.deepcopy(node)
    return params
