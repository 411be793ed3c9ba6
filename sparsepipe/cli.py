"""The ``sparsepipe`` command: a thin dispatcher over the stages' subcommands, each running one unit of work.

Every stage module (:mod:`sparsepipe.stages`, one per rule file) registers its own subcommands; this module only
parses, checks ``--params`` and sends the unit where ``--launch`` says. Snakemake rules call these subcommands
(``snakemake -p`` prints the exact command of every job, to rerun one by hand). ``--params`` carries the config
values the unit depends on, as JSON (or ``@file`` with JSON/YAML); the rule builds it from exactly the config keys
it tracks, which is what makes Snakemake's reruns precise. Errors in input (config, data files, graphs) end the
command with one line on stderr and exit status 2.
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

from sparsepipe import io, launch
from sparsepipe.config import check_params
from sparsepipe.errors import SparsepipeError
from sparsepipe.stages import stages_for

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


DISPATCH = ("launch", "orchestrate", "here")
OWN_COMMANDS = ("collect", "validate-config")  # subcommands of no stage (build_parser adds them)


def add_unit(subparsers: argparse._SubParsersAction, name: str, fn: Callable[..., Any], help_text: str,
             settings: bool = True, runtime: bool = False, dispatch: str = "launch") -> argparse.ArgumentParser:
    """One subcommand running ``fn``: ``settings`` adds ``--params`` (checked against the unit's schema slice),
    ``runtime`` adds ``--device`` and ``--threads``. ``dispatch``: ``launch`` sends the unit where ``--launch``
    says (this process, submitit, SLURM); ``orchestrate`` runs it here and gives it ``where`` and ``jobs_folder`` to
    send its own trainings (the search); ``here`` always runs it in this process (the report)."""
    if dispatch not in DISPATCH:
        raise ValueError(f"dispatch: {dispatch!r}; expected one of {DISPATCH}")
    parser = subparsers.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(fn=fn, runtime=runtime, dispatch=dispatch)
    if settings:
        parser.add_argument("--params", type=_params, required=True, dest="settings",
                            help="config values of this unit, as JSON or @file")
    if dispatch != "here":  # a rule's resources: its SLURM job's memory, time limit and GPUs
        parser.add_argument("--mem-mb", type=int, help="the rule's resources.mem_mb: memory of its SLURM job")
        parser.add_argument("--runtime-min", type=int, help="the rule's resources.runtime: its SLURM job's time limit")
        parser.add_argument("--gpus", type=int, help="the rule's resources.gpu: GPUs of its SLURM job")
    if runtime:
        parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
        parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    return parser


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The command's parser: ``argv`` given, only its subcommand's stage is imported and registered
    (:func:`sparsepipe.stages.stages_for`); without it, every stage's."""
    parser = _Parser(prog="sparsepipe", description=__doc__.split("\n\n")[0])
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    parser.add_argument("--launch", type=_params, default={}, metavar="JSON",
                        help="where and how the unit runs: the config's launch block as JSON or @file")
    parser.add_argument("--executor", choices=launch.EXECUTORS, help="overrides launch.executor")
    sub = parser.add_subparsers(dest="command", required=True, metavar="STAGE", parser_class=_Parser)

    def add(name: str, fn: Callable[..., Any], help_text: str, **options: Any) -> argparse.ArgumentParser:
        return add_unit(sub, name, fn, help_text, **options)

    for stage in stages_for(() if argv is None else argv, own=OWN_COMMANDS):
        stage.register(add)

    p = add("collect", io.collect, "concatenate per-unit tables into a stage table", settings=False)
    p.add_argument("--inputs", nargs="+", required=True)
    p.add_argument("--out", required=True)

    p = add("validate-config", _validate_config,
              "check config files as Snakemake would run them: merged over the default (as --configfile merges), "
              "later files over earlier ones, against the schema and the cross-key rules; graph files must exist",
            settings=False, dispatch="here")
    p.add_argument("config_paths", nargs="+", metavar="CONFIG")
    p.add_argument("--base", help="the config they merge over (default: ./config.yaml, else the repository's)")
    p.add_argument("--no-base", action="store_false", dest="merge_base", help="check the files alone")
    return parser


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
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    skip = ("log_level", "launch", "executor", "command", "fn", "runtime", "dispatch", "mem_mb", "runtime_min",
            "gpus")
    kwargs = {k: v for k, v in vars(args).items() if k not in skip}
    settings = launch.with_resources(dict(args.launch) | ({"executor": args.executor} if args.executor else {}),
                                     mem_mb=getattr(args, "mem_mb", None),
                                     runtime_min=getattr(args, "runtime_min", None), gpus=getattr(args, "gpus", None))
    try:
        if "settings" in kwargs:
            check_params(args.command, kwargs["settings"], **({"generator": args.generator}
                                                              if "generator" in kwargs else {}))
        if args.dispatch == "here":
            args.fn(**kwargs)
        elif args.dispatch == "orchestrate":  # stay here and send their trainings through launch
            args.fn(**kwargs, where=settings, jobs_folder=str(_job_folder(kwargs)))
        else:
            launch.run(args.fn, where=settings, folder=_job_folder(kwargs), name=args.command, **kwargs)
    except SparsepipeError as exc:
        print(f"sparsepipe {args.command}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
