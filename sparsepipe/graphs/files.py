"""User-supplied graphs: the ``files`` generator, settings ``{paths: [...]}``, one graph per file.

Formats, chosen by the file's extension:

- ``.graphml``: GraphML, read with :func:`networkx.read_graphml`;
- ``.edgelist`` and ``.txt``: one edge ``u v`` per line, separated by whitespace, optionally followed by a numeric
  weight (``u v w``) or by networkx's attribute dict (``u v {'weight': 1.0}``, as ``nx.write_edgelist`` writes it),
  both ignored; ``#`` starts a comment; a line with a single label declares a node without an edge. Any other line
  (a sentence, three labels, a label and a word) is a :class:`DataError` naming the file and line;
- ``.csv``: one edge ``u,v`` per row (further columns ignored); a first row naming the columns
  (``source,target``, ``src,dst``, ``u,v``, ``from,to``, ``node1,node2``; any case) is skipped; ``#`` rows are comments.

Labels become indices 0..n-1 in sorted order: numerically when every label is an integer, otherwise in natural
order (``n2`` before ``n10``); labels that cannot be ordered at all keep the order of their first appearance in
the file. Edges are then oriented from the lower to the higher index, like every other graph, so the direction
of a directed file is not kept (a DAG whose labels are a topological order keeps it). Parallel edges collapse into
one and self-loops are dropped (a structural prior is a simple graph); the log says how many.

A missing or unreadable file is a :class:`DataError` naming it and the expected format; a graph that cannot serve
as a structural prior (one node, no edges, isolated nodes) is a :class:`GraphError` naming the graph and its file,
and its nodes by the file's labels.
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import networkx as nx
import pandas as pd

from sparsepipe.errors import ConfigError, DataError, GraphError
from sparsepipe.graphs.generators import FILES, GRAPH_COLUMNS, table_row, unusable_reason
from sparsepipe.seeds import derive_seed

log = logging.getLogger(__name__)

FORMATS = {
    ".graphml": "GraphML",
    ".edgelist": "an edge list ('u v' per line)",
    ".txt": "an edge list ('u v' per line)",
    ".csv": "a CSV edge list ('u,v' per row)",
}
CSV_HEADERS = {("source", "target"), ("src", "dst"), ("u", "v"), ("from", "to"), ("node1", "node2")}


def _edge_list(lines: Iterable[Sequence[str]]) -> nx.Graph:
    graph = nx.Graph()
    for fields in lines:
        fields = [f.strip() for f in fields]
        if not fields or not fields[0] or fields[0].startswith("#"):
            continue
        if len(fields) == 1 or not fields[1]:
            graph.add_node(fields[0])
        else:
            graph.add_edge(fields[0], fields[1])
    return graph


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _edge_fields(line: str) -> list[str] | None:
    """The labels of one edge-list line (``[]`` blank, ``[u]`` a node, ``[u, v]`` an edge), ``None`` if the line
    is not one: more than two labels, unless the rest is a number (a weight) or a networkx attribute dict."""
    fields = line.split("#", 1)[0].split()
    if len(fields) <= 2:
        return fields
    rest = " ".join(fields[2:])
    if (len(fields) == 3 and _is_number(fields[2])) or (rest.startswith("{") and rest.endswith("}")):
        return fields[:2]
    return None


def _read_text_edges(text: str, path: Path) -> nx.Graph:
    lines = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = _edge_fields(line)
        if fields is None:
            shown = line.strip() if len(line.strip()) <= 60 else line.strip()[:57] + "..."
            raise DataError(f"graphs.{FILES}: {path}:{number}: expected two node labels and an optional weight "
                            f"('u v' or 'u v w'), got {len(line.split('#', 1)[0].split())} fields: {shown!r}")
        lines.append(fields)
    return _edge_list(lines)


def _read_csv_edges(text: str) -> nx.Graph:
    rows = [row for row in csv.reader(text.splitlines()) if row and row[0].strip() and not row[0].startswith("#")]
    if rows and len(rows[0]) >= 2 and (rows[0][0].strip().lower(), rows[0][1].strip().lower()) in CSV_HEADERS:
        rows = rows[1:]
    return _edge_list(rows)


def read_graph_file(path: str | Path) -> nx.Graph:
    """The undirected simple graph of one file, with its original labels (see the module docstring)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ConfigError(f"graphs.{FILES}.paths: {path}: unknown extension {path.suffix!r}; "
                          f"expected one of {', '.join(FORMATS)}")
    expected = f"expected {FORMATS[suffix]} file"
    if not path.is_file():
        raise DataError(f"graphs.{FILES}: {path}: no such file; {expected}")
    try:
        if suffix == ".graphml":
            graph = nx.read_graphml(path)
        else:
            text = path.read_text(encoding="utf-8")
            graph = _read_csv_edges(text) if suffix == ".csv" else _read_text_edges(text, path)
    except DataError:
        raise
    except Exception as exc:  # parsers raise many types (ParseError, NetworkXError, KeyError, UnicodeError...)
        raise DataError(f"graphs.{FILES}: {path}: unreadable ({type(exc).__name__}: {exc}); {expected}") from None
    simple = nx.Graph()
    simple.add_nodes_from(graph.nodes())
    simple.add_edges_from((u, v) for u, v in graph.edges() if u != v)
    loops = sum(1 for u, v in graph.edges() if u == v)
    parallel = graph.number_of_edges() - loops - simple.number_of_edges()
    if loops or parallel:
        log.warning("%s: dropped %d self-loop(s) and %d parallel or reverse edge(s)", path, loops, parallel)
    return simple


def _natural_key(label: str) -> tuple[Any, ...]:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", label))


def node_order(labels: Sequence[Hashable]) -> list[Hashable]:
    """Labels in index order: integers numerically, strings naturally, unorderable ones as given."""
    def as_int(label: Hashable) -> int | None:
        try:
            return int(label) if not isinstance(label, bool) and str(int(label)) == str(label).strip() else None
        except (TypeError, ValueError):
            return None

    numbers = [as_int(label) for label in labels]
    if labels and all(n is not None for n in numbers):
        return [label for _, label in sorted(zip(numbers, labels, strict=True), key=lambda pair: pair[0])]
    if all(isinstance(label, str) for label in labels):
        return sorted(labels, key=_natural_key)
    try:
        return sorted(labels)
    except TypeError:
        return list(labels)


def relabel(graph: nx.Graph) -> nx.Graph:
    """``graph`` with nodes 0..n-1 in :func:`node_order`; the original label is kept as node attribute ``label``."""
    order = node_order(list(graph.nodes()))
    index = {label: i for i, label in enumerate(order)}
    out = nx.Graph()
    out.add_nodes_from((i, {"label": label}) for i, label in enumerate(order))
    out.add_edges_from((index[u], index[v]) for u, v in graph.edges())
    return out


def _check_settings(settings: Mapping[str, Any]) -> list[str]:
    if not isinstance(settings, Mapping) or "paths" not in settings:
        raise ConfigError(f"graphs.{FILES}: expected {{paths: [file, ...]}}, got {settings!r}")
    unknown = sorted(set(settings) - {"paths"})
    if unknown:
        raise ConfigError(f"graphs.{FILES}: unknown keys {unknown}; expected ['paths']")
    paths = settings["paths"]
    if isinstance(paths, str) or not isinstance(paths, Sequence) or not paths:
        raise ConfigError(f"graphs.{FILES}.paths: expected a non-empty list of file paths, got {paths!r}")
    bad = [p for p in paths if not isinstance(p, str) or not p]
    if bad:
        raise ConfigError(f"graphs.{FILES}.paths: expected file paths (strings), got {bad[0]!r}")
    return list(paths)


def files_table(settings: Mapping[str, Any], global_seed: int) -> pd.DataFrame:
    """The graph table of the user's files: ids ``files-0000``... in the order of ``paths``, params ``{path}``.

    ``seed`` is derived like a random graph's (nothing is drawn; it keeps the column's meaning of "this graph's
    seed" for what is seeded downstream).
    """
    rows = []
    for index, path in enumerate(_check_settings(settings)):
        graph_id = f"{FILES}-{index:04d}"
        graph = relabel(read_graph_file(path))
        isolated = [graph.nodes[node]["label"] for node in sorted(nx.isolates(graph))]
        if isolated and graph.number_of_edges():  # named by the file's labels, not by their indices
            raise GraphError(f"{graph_id} ({path}): isolated nodes {isolated[:5]} (labels as in the file); every "
                             f"node must lie on a source-sink path")
        reason = unusable_reason(graph, f"{graph_id} ({path})")
        if reason:
            raise GraphError(reason)
        rows.append(table_row(graph_id, FILES, derive_seed(global_seed, "graph", FILES, index), {"path": path}, graph))
    return pd.DataFrame(rows, columns=GRAPH_COLUMNS)
