"""Stage ``report`` (workflow/rules/report.smk): the figures and the paper-vs-sparsepipe table of the Snakemake
report, drawn by :mod:`sparsepipe.report` from every stage's tables. Subcommand: ``sparsepipe report``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

REPORT_INPUTS = ("pruning", "summary", "comparisons", "rnn_pruning", "runs", "scores", "predictions", "importance",
                 "benchmarks")  # benchmarks: the folder of the jobs' benchmark files
REPORT_LISTS = ("searches", "winners")  # the search tasks' individuals and winner tables, in the same order
REPORT_OUTPUTS = ("pruning", "rnn_pruning", "structure", "predictors", "importance", "predicted", "search", "timing",
                  "paper_table", "paper_html")


def report(**kwargs: Any) -> None:
    """Every figure and the paper table, from the stages' tables (``in_*`` paths) to ``out_*`` paths."""
    from sparsepipe import report as figures

    figures.build({n: kwargs[f"in_{n}"] for n in (*REPORT_INPUTS, *REPORT_LISTS)},
                 {n: kwargs[f"out_{n}"] for n in REPORT_OUTPUTS})


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    """This stage's ``sparsepipe`` subcommands (``add``: :func:`sparsepipe.cli.add_unit` on the subparsers)."""
    p = add("report", report, "figures and the paper-vs-sparsepipe table of the Snakemake report", settings=False,
            dispatch="here")
    for name in REPORT_INPUTS:
        p.add_argument(f"--{name.replace('_', '-')}", required=True, dest=f"in_{name}")
    for name in REPORT_LISTS:
        p.add_argument(f"--{name}", nargs="*", default=[], dest=f"in_{name}", help="one path per search task")
    for name in REPORT_OUTPUTS:
        p.add_argument(f"--out-{name.replace('_', '-')}", required=True, dest=f"out_{name}")
