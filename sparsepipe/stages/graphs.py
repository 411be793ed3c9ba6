"""Stage ``graphs`` (workflow/rules/graphs.smk): random graphs drawn as layered DAGs, and their structural
features. Subcommands: ``sparsepipe graphs``, ``sparsepipe features``."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sparsepipe import io
from sparsepipe.features import features_table
from sparsepipe.graphs.generators import GRAPH_COLUMNS, generate_graphs

log = logging.getLogger(__name__)


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


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    """This stage's ``sparsepipe`` subcommands (``add``: :func:`sparsepipe.cli.add_unit` on the subparsers)."""
    p = add("graphs", graphs, "draw the random graphs of one generator")
    p.add_argument("--generator", required=True)
    p.add_argument("--out", required=True)

    p = add("features", features, "structural features of every graph", settings=False)
    p.add_argument("--graphs", nargs="+", required=True, dest="graph_tables")
    p.add_argument("--out", required=True)
