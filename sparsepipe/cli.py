"""The ``sparsepipe`` command: one subcommand per pipeline stage, each running one unit of work.

Snakemake rules call these subcommands (``snakemake -p`` prints the exact command of every job, to rerun one
by hand). ``--params`` carries the config values the unit depends on, as JSON (or ``@file`` with JSON/YAML);
the rule builds it from exactly the config keys it tracks, which is what makes Snakemake's reruns precise.
Errors in input (config, data files, graphs) end the command with one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import yaml

from sparsepipe import launch, units
from sparsepipe.config import check_params
from sparsepipe.errors import SparsepipeError

log = logging.getLogger("sparsepipe")


def _params(text: str) -> dict[str, Any]:
    """``--params``: inline JSON, or ``@path`` to a JSON or YAML file."""
    try:
        if text.startswith("@"):
            return yaml.safe_load(Path(text[1:]).read_text())
        return json.loads(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise argparse.ArgumentTypeError(f"not JSON or @file: {' '.join(str(exc).split())}") from None


class _Parser(argparse.ArgumentParser):
    """Argument errors as one line (the usage is one ``--help`` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _unit(subparsers: argparse._SubParsersAction, name: str, fn: Callable[..., Any], help_text: str,
          settings: bool = True, runtime: bool = False) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(fn=fn, runtime=runtime)
    if settings:
        parser.add_argument("--params", type=_params, required=True, dest="settings",
                            help="config values of this unit, as JSON or @file")
    if runtime:
        parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
        parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sparsepipe", description=__doc__.split("\n\n")[0])
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    parser.add_argument("--launch", type=_params, default={}, metavar="JSON",
                        help="where and how the unit runs: the config's launch block as JSON or @file")
    parser.add_argument("--executor", choices=launch.EXECUTORS, help="overrides launch.executor")
    sub = parser.add_subparsers(dest="command", required=True, metavar="STAGE", parser_class=_Parser)

    p = _unit(sub, "graphs", units.graphs, "draw the random graphs of one generator")
    p.add_argument("--generator", required=True)
    p.add_argument("--out", required=True)

    p = _unit(sub, "features", units.features, "structural features of every graph", settings=False)
    p.add_argument("--graphs", nargs="+", required=True, dest="graph_tables")
    p.add_argument("--out", required=True)

    p = _unit(sub, "reber", units.reber, "generate the Reber string table")
    p.add_argument("--out", required=True)

    p = _unit(sub, "train-rnn", units.train_rnn, "train one dense recurrent classifier on Reber", runtime=True)
    p.add_argument("--cell", required=True)
    p.add_argument("--model-seed", type=int, required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--out-model", required=True)
    p.add_argument("--out-table", required=True)

    p = _unit(sub, "prune-rnn", units.prune_rnn, "prune one dense recurrent model's i2h / h2h weights",
              runtime=True)
    p.add_argument("--model", required=True, dest="model_path")
    p.add_argument("--target", required=True, choices=("i2h", "h2h", "both"))
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)

    p = _unit(sub, "train-structured", units.train_structured,
              "train one shard of graph-structured recurrent nets", runtime=True)
    p.add_argument("--cell", required=True)
    p.add_argument("--generator", required=True)
    p.add_argument("--shard", type=int, required=True)
    p.add_argument("--graphs", required=True, dest="graphs_table")
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)

    p = _unit(sub, "train-structured-ffn", units.train_structured_ffn,
              "train one shard of graph-structured feed-forward nets", runtime=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--generator", required=True)
    p.add_argument("--shard", type=int, required=True)
    p.add_argument("--graphs", required=True, dest="graphs_table")
    p.add_argument("--root", required=True, help="folder of the torchvision datasets")
    p.add_argument("--out", required=True)

    p = _unit(sub, "structure-runs", units.structure_runs, "join structured runs with graph features",
              settings=False)
    p.add_argument("--shards", nargs="+", required=True)
    p.add_argument("--features", required=True, dest="features_path")
    p.add_argument("--out", required=True)

    p = _unit(sub, "stage-data", units.stage_vision, "put a vision dataset where torchvision expects it")
    p.add_argument("--dataset", required=True)
    p.add_argument("--root", required=True, help="folder of the torchvision datasets")
    p.add_argument("--out", required=True, help="manifest (JSON) of the staged files")

    p = _unit(sub, "train-ffn", units.train_ffn, "train one dense feed-forward net", runtime=True)
    p.add_argument("--root", required=True, help="folder of the torchvision datasets")
    p.add_argument("--dataset", required=True)
    p.add_argument("--arch", required=True)
    p.add_argument("--model-seed", type=int, required=True)
    p.add_argument("--out", required=True)

    p = _unit(sub, "prune", units.prune_ffn, "iterative prune / re-train sweep of one model with one method",
              runtime=True)
    p.add_argument("--model", required=True, dest="model_path")
    p.add_argument("--root", required=True, help="folder of the torchvision datasets")
    p.add_argument("--method", required=True)
    p.add_argument("--out", required=True)

    p = _unit(sub, "summarize-pruning", units.summarize_pruning,
              "accuracy per method at a target compression, and the paper's paired comparisons", settings=False)
    p.add_argument("--pruning", required=True, dest="pruning_path")
    p.add_argument("--target", type=float, default=0.8, help="compression (fraction of weights removed)")
    p.add_argument("--out-summary", required=True)
    p.add_argument("--out-comparisons", required=True)

    p = _unit(sub, "pruned-runs", units.pruned_runs, "pruned feed-forward nets as rows of the runs contract",
              settings=False)
    p.add_argument("--pruning", required=True, dest="pruning_path")
    p.add_argument("--out", required=True)

    p = _unit(sub, "collect", units.collect, "concatenate per-unit tables into a stage table", settings=False)
    p.add_argument("--inputs", nargs="+", required=True)
    p.add_argument("--out", required=True)

    p = _unit(sub, "predict", units.fit_predictors, "cross-validated accuracy predictors from structure")
    p.add_argument("--runs", nargs="+", required=True, dest="runs_paths", help="tables of the runs contract")
    p.add_argument("--out-scores", required=True)
    p.add_argument("--out-predictions", required=True)
    p.add_argument("--out-importance", required=True)
    p.add_argument("--family", help="only this model family (default: every family in the runs)")
    p.add_argument("--out-noise-ceiling", help="variance components and noise ceiling per family and target")

    p = _unit(sub, "search", units.search_architectures, "genetic architecture search of one task, resumable")
    p.add_argument("--task", required=True, help="ffn_<dataset> or rnn_<cell>")
    p.add_argument("--data", required=True, help="vision dataset root (ffn_*) or the Reber table (rnn_*)")
    p.add_argument("--out-table", required=True)
    p.add_argument("--out-graph", required=True, help="the best structure, as GraphML")

    p = _unit(sub, "search-winner", units.search_winner,
              "re-train a search's best structure with fresh seeds and test it on the test split")
    p.add_argument("--task", required=True, help="ffn_<dataset> or rnn_<cell>")
    p.add_argument("--data", required=True, help="vision dataset root (ffn_*) or the Reber table (rnn_*)")
    p.add_argument("--table", required=True, help="the search's individuals table")
    p.add_argument("--out", required=True)

    p = _unit(sub, "report", _report, "figures and the paper-vs-sparsepipe table of the Snakemake report",
              settings=False)
    for name in REPORT_INPUTS:
        p.add_argument(f"--{name.replace('_', '-')}", required=True, dest=f"in_{name}")
    for name in REPORT_LISTS:
        p.add_argument(f"--{name}", nargs="*", default=[], dest=f"in_{name}", help="one path per search task")
    for name in REPORT_OUTPUTS:
        p.add_argument(f"--out-{name.replace('_', '-')}", required=True, dest=f"out_{name}")

    p = _unit(sub, "validate-config", _validate_config,
              "check config files as Snakemake would run them: merged over the default (as --configfile merges), "
              "later files over earlier ones, against the schema and the cross-key rules; graph files must exist",
              settings=False)
    p.add_argument("config_paths", nargs="+", metavar="CONFIG")
    p.add_argument("--base", help="the config they merge over (default: ./config.yaml, else the repository's)")
    p.add_argument("--no-base", action="store_false", dest="merge_base", help="check the files alone")
    return parser


REPORT_INPUTS = ("pruning", "summary", "comparisons", "rnn_pruning", "runs", "scores", "predictions", "importance")
REPORT_LISTS = ("searches", "winners")  # the search tasks' individuals and winner tables, in the same order
REPORT_OUTPUTS = ("pruning", "rnn_pruning", "structure", "predictors", "importance", "predicted", "search",
                  "paper_table", "paper_html")


def _report(**kwargs: Any) -> None:
    from sparsepipe import report

    report.build({n: kwargs[f"in_{n}"] for n in (*REPORT_INPUTS, *REPORT_LISTS)},
                 {n: kwargs[f"out_{n}"] for n in REPORT_OUTPUTS})


def _validate_config(config_paths: Sequence[str], base: str | None = None, merge_base: bool = True) -> None:
    from sparsepipe.config import default_base, load_config

    load_config(*config_paths, base=base, merge_base=merge_base)
    over = base or (default_base() if merge_base else None)
    shown = " + ".join(config_paths)
    print(f"{shown}: valid" + (f" (merged over {over})" if over and Path(over) != Path(config_paths[0]) else ""))


def _job_folder(kwargs: dict[str, Any]) -> Path:
    """submitit logs go beside the unit's first output, so a failed job's traceback is one ``ls`` away."""
    out = next(v for k, v in kwargs.items() if k.startswith("out"))
    return Path(out).parent / ".submitit"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    skip = ("log_level", "launch", "executor", "command", "fn", "runtime")
    kwargs = {k: v for k, v in vars(args).items() if k not in skip}
    settings = dict(args.launch) | ({"executor": args.executor} if args.executor else {})
    try:
        if "settings" in kwargs:
            check_params(args.command, kwargs["settings"], **({"generator": args.generator}
                                                              if "generator" in kwargs else {}))
        if args.command in ("validate-config", "report"):
            args.fn(**kwargs)
        elif args.command in ("search", "search-winner"):  # stay here and send their trainings through launch
            args.fn(**kwargs, where=settings, jobs_folder=str(_job_folder(kwargs)))
        else:
            launch.run(args.fn, where=settings, folder=_job_folder(kwargs), name=args.command, **kwargs)
    except SparsepipeError as exc:
        print(f"sparsepipe {args.command}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
