"""The pipeline's stages, one module per rule file: ``workflow/rules/X.smk`` -> ``sparsepipe <subcommand>`` ->
``sparsepipe/stages/X.py`` -> the library (``data/``, ``graphs/``, ``models/``, ``prune/``, ``train``, ``predict``,
``nas``, ...).

Each stage module holds the unit functions of its rules (read inputs, compute, write outputs atomically; plain
arguments, so :mod:`sparsepipe.launch` can send them to SLURM) and registers their subcommands with
``register(add)``. Stages never import each other: what two stages share lives in the library.

A job imports only the stage module of its own subcommand (:data:`COMMANDS`): every Snakemake job is a fresh
process, and importing all seven stages (scipy.stats, scikit-learn, networkx, ... besides torch) took 2.4 s of each
of the default run's 68 jobs (``python -X importtime``, quiet; docs/benchmarks.md).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from types import ModuleType

STAGES = ("graphs", "rnn", "ffn", "structure", "predict", "nas", "report")  # the Snakefile's includes, in order

# each subcommand's stage module (tests/test_cli.py checks this against what the modules register)
COMMANDS = {
    "graphs": "graphs", "features": "graphs",
    "reber": "rnn", "train-rnn": "rnn", "prune-rnn": "rnn",
    "stage-data": "ffn", "train-ffn": "ffn", "prune": "ffn", "summarize-pruning": "ffn",
    "train-structured": "structure", "train-structured-ffn": "structure", "structure-runs": "structure",
    "archive-runs": "structure",
    "pruned-runs": "predict", "predict": "predict",
    "search": "nas", "search-winner": "nas",
    "report": "report",
}


def load(name: str) -> ModuleType:
    return importlib.import_module(f"sparsepipe.stages.{name}")


def __getattr__(name: str) -> ModuleType:
    """``stages.ffn`` and friends, imported on first use (PEP 562), as they were when this package imported all."""
    if name in STAGES:
        return load(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def stages_for(argv: Sequence[str], own: Sequence[str] = ()) -> list[ModuleType]:
    """The stage modules a command line needs: its subcommand's alone (the first argument that names a subcommand),
    none for the CLI's ``own`` subcommands, all of them where none is named (``--help``, a mistyped subcommand:
    the parser then lists every subcommand)."""
    named = next((arg for arg in argv if arg in COMMANDS or arg in own), None)
    if named is None:
        return [load(name) for name in STAGES]
    return [load(COMMANDS[named])] if named in COMMANDS else []
