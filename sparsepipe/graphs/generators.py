"""Graph generators and the graph table they fill (one row per graph, edges as lists).

Random generators (``GENERATORS``): each graph draws its parameters from the configured lists of choices with its
own seed, derived from the global seed, the generator's name and the graph's index, so adding graphs never changes
the ones already drawn. Every choice is checked before anything is drawn, combinations included (``m < nodes`` for
every pair of choices), so a bad config fails whatever the seed, with a :class:`ConfigError` naming
``graphs.<generator>.<key>`` and what was expected.

User graphs (generator ``files``, settings ``{paths: [...]}``) are read by :mod:`sparsepipe.graphs.files`.

Only usable graphs enter the table (see :func:`sparsepipe.graphs.layered_dag`: at least 2 nodes, an edge, no
isolated node). Of the random generators only Erdős–Rényi can draw isolated nodes (Barabási–Albert with m >= 1,
the connected Watts–Strogatz variant, Newman–Watts–Strogatz's ring with k >= 2 and d-regular graphs with d >= 1
cannot); what happens then is its ``isolated`` setting:

- ``redraw`` (default): draw again with the derived seeds ``derive_seed(seed, "redraw", 1)``, ``... 2)``, ... up to
  ``REDRAWS`` times; the graph is then an Erdős–Rényi graph conditioned on having no isolated node, with exactly
  the drawn number of nodes. If every draw has one, a :class:`GraphError` names the graph and suggests a larger p.
- ``drop``: remove the isolated nodes and renumber the others in order (0..n'-1), so ``nodes`` in the table can be
  less than the drawn ``params.nodes``; a draw left with no edge at all is redrawn as above.
"""

from __future__ import annotations

import itertools
import json
import numbers
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import networkx as nx
import pandas as pd

from sparsepipe.errors import ConfigError, DataError, GraphError
from sparsepipe.graphs.layering import layered_dag, to_dag
from sparsepipe.seeds import derive_seed

GRAPH_COLUMNS = ["graph_id", "generator", "seed", "params", "nodes", "src", "dst"]
FILES = "files"  # the generator of user-supplied graphs
REDRAWS = 100  # draws of one random graph before giving up on getting a usable one
ISOLATED_POLICIES = ("redraw", "drop")

Builder = Callable[[Mapping[str, Any], int], nx.Graph]


def _barabasi_albert(params: Mapping[str, Any], seed: int) -> nx.Graph:
    return nx.barabasi_albert_graph(params["nodes"], params["m"], seed=seed)


def _watts_strogatz(params: Mapping[str, Any], seed: int) -> nx.Graph:
    return nx.connected_watts_strogatz_graph(params["nodes"], params["k"], params["p"], tries=1000, seed=seed)


def _erdos_renyi(params: Mapping[str, Any], seed: int) -> nx.Graph:
    return nx.gnp_random_graph(params["nodes"], params["p"], seed=seed)


def _newman_watts_strogatz(params: Mapping[str, Any], seed: int) -> nx.Graph:
    return nx.newman_watts_strogatz_graph(params["nodes"], params["k"], params["p"], seed=seed)


def _random_regular(params: Mapping[str, Any], seed: int) -> nx.Graph:
    return nx.random_regular_graph(params["d"], params["nodes"], seed=seed)


# name -> (builder, the parameter keys drawn from the config's choices)
GENERATORS: dict[str, tuple[Builder, tuple[str, ...]]] = {
    "barabasi_albert": (_barabasi_albert, ("nodes", "m")),
    "watts_strogatz": (_watts_strogatz, ("nodes", "k", "p")),
    "erdos_renyi": (_erdos_renyi, ("nodes", "p")),
    "newman_watts_strogatz": (_newman_watts_strogatz, ("nodes", "k", "p")),
    "random_regular": (_random_regular, ("nodes", "d")),
}
GENERATOR_NAMES = (*GENERATORS, FILES)
# settings that are single values, not lists of choices: name -> {key: allowed values}
OPTIONS: dict[str, dict[str, tuple[str, ...]]] = {"erdos_renyi": {"isolated": ISOLATED_POLICIES}}


# --- checks of the configured choices ------------------------------------------------------------------------

def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


# (name, key) -> (test of one choice, what was expected); a key not listed here uses (None, key)
_VALUE_CHECKS: dict[tuple[str | None, str], tuple[Callable[[Any], bool], str]] = {
    (None, "nodes"): (lambda v: _is_int(v) and v >= 2, "integers >= 2"),
    (None, "m"): (lambda v: _is_int(v) and v >= 1, "integers >= 1"),
    (None, "k"): (lambda v: _is_int(v) and v >= 2, "integers >= 2"),
    ("newman_watts_strogatz", "k"): (lambda v: _is_int(v) and v >= 2 and v % 2 == 0,
                                     "even integers >= 2 (k/2 ring neighbours on each side)"),
    (None, "p"): (lambda v: _is_number(v) and 0 <= v <= 1, "probabilities in [0, 1]"),
    ("erdos_renyi", "p"): (lambda v: _is_number(v) and 0 < v <= 1, "probabilities in (0, 1]"),
    (None, "d"): (lambda v: _is_int(v) and v >= 1, "integers >= 1"),
}


def _combination_error(name: str, params: Mapping[str, Any]) -> str | None:
    """What is wrong with one combination of choices (``None`` when it is fine)."""
    n = params["nodes"]
    if name == "barabasi_albert" and not params["m"] < n:
        return f"graphs.{name}.m: m={params['m']} must satisfy 1 <= m < nodes={n}"
    if name in ("watts_strogatz", "newman_watts_strogatz") and not params["k"] < n:
        return f"graphs.{name}.k: k={params['k']} must satisfy 2 <= k < nodes={n}"
    if name == "random_regular":
        d = params["d"]
        if not d < n:
            return f"graphs.{name}.d: d={d} must satisfy 1 <= d < nodes={n}"
        if n * d % 2:
            return f"graphs.{name}.d: d={d} with nodes={n} makes nodes*d odd; expected nodes*d even"
    return None


def _check_settings(name: str, settings: Mapping[str, Any]) -> None:
    """Every choice of every key, and every combination of choices, before anything is drawn."""
    _, keys = GENERATORS[name]
    options = OPTIONS.get(name, {})
    if not isinstance(settings, Mapping):
        raise ConfigError(f"graphs.{name}: expected a mapping of settings, got {settings!r}")
    missing = [k for k in ("count", *keys) if k not in settings]
    if missing:
        raise ConfigError(f"graphs.{name}: missing keys {missing}")
    unknown = sorted(set(settings) - {"count", *keys, *options})
    if unknown:
        raise ConfigError(f"graphs.{name}: unknown keys {unknown}; expected {['count', *keys, *options]}")
    count = settings["count"]
    if not (_is_int(count) and count >= 1):
        raise ConfigError(f"graphs.{name}.count: expected an integer >= 1, got {count!r}")
    for key, allowed in options.items():
        if key in settings and settings[key] not in allowed:
            raise ConfigError(f"graphs.{name}.{key}: expected one of {list(allowed)}, got {settings[key]!r}")
    for key in keys:
        choices = settings[key]
        if isinstance(choices, str | bytes) or not isinstance(choices, Sequence) or not choices:
            raise ConfigError(f"graphs.{name}.{key}: expected a non-empty list of choices, got {choices!r}")
        test, expected = _VALUE_CHECKS.get((name, key)) or _VALUE_CHECKS[(None, key)]
        bad = [v for v in choices if not test(v)]
        if bad:
            raise ConfigError(f"graphs.{name}.{key}: expected {expected}, got {bad[0]!r}")
    for combination in itertools.product(*(settings[k] for k in keys)):
        message = _combination_error(name, dict(zip(keys, combination, strict=True)))
        if message:
            raise ConfigError(message)


def check_generator(name: str) -> None:
    if name not in GENERATOR_NAMES:
        raise ConfigError(f"graphs: unknown generator {name!r}; expected one of {sorted(GENERATOR_NAMES)}")


# --- the graph table ---------------------------------------------------------------------------------------

def unusable_reason(graph: nx.Graph, name: str) -> str | None:
    """Why ``graph`` cannot serve as a structural prior (:func:`layered_dag`'s message), or ``None``."""
    try:
        layered_dag(to_dag(graph), name)
    except GraphError as exc:
        return str(exc)
    return None


def drop_isolated(graph: nx.Graph) -> nx.Graph:
    """``graph`` without its isolated nodes, the others renumbered 0..n'-1 in their order."""
    kept = sorted(n for n in graph if graph.degree(n) > 0)
    index = {node: i for i, node in enumerate(kept)}
    out = nx.Graph()
    out.add_nodes_from(range(len(kept)))
    out.add_edges_from((index[u], index[v]) for u, v in graph.edges())
    return out


def _draw(name: str, params: Mapping[str, Any], seed: int, graph_id: str, isolated: str) -> nx.Graph:
    build, _ = GENERATORS[name]
    reason = None
    for attempt in range(REDRAWS):
        graph = build(params, seed if attempt == 0 else derive_seed(seed, "redraw", attempt))
        if isolated == "drop":
            graph = drop_isolated(graph)
        reason = unusable_reason(graph, graph_id)
        if reason is None:
            return graph
    hint = "" if name != "erdos_renyi" else "; use a larger p" + (" or isolated: drop" if isolated == "redraw" else "")
    raise GraphError(f"{reason} (no usable graph in {REDRAWS} draws with {dict(params)}){hint}")


def table_row(graph_id: str, generator: str, seed: int, params: Mapping[str, Any], graph: nx.Graph
              ) -> dict[str, Any]:
    """One row of the graph table; ``graph``'s nodes must be 0..n-1, its edges are oriented lower -> higher."""
    edges = sorted((min(u, v), max(u, v)) for u, v in graph.edges())
    return {
        "graph_id": graph_id,
        "generator": generator,
        "seed": seed,
        "params": json.dumps(dict(params), sort_keys=True),
        "nodes": graph.number_of_nodes(),
        "src": [u for u, _ in edges],
        "dst": [v for _, v in edges],
    }


def generate_graphs(name: str, settings: Mapping[str, Any], global_seed: int) -> pd.DataFrame:
    """The graph table of generator ``name``: ``settings['count']`` random graphs, or the ``files`` graphs.

    Node indices are kept as the generator numbers them; edges are oriented from the lower to the higher index
    (:func:`sparsepipe.graphs.to_dag`). Every graph in the table is usable as a structural prior.
    """
    check_generator(name)
    if name == FILES:
        from sparsepipe.graphs.files import files_table  # files.py builds on this module's table_row

        return files_table(settings, global_seed)
    _check_settings(name, settings)
    _, keys = GENERATORS[name]
    isolated = settings.get("isolated", "redraw")
    rows = []
    for index in range(settings["count"]):
        graph_id = f"{name}-{index:04d}"
        seed = derive_seed(global_seed, "graph", name, index)
        rng = random.Random(seed)
        params = {k: rng.choice(list(settings[k])) for k in keys}
        rows.append(table_row(graph_id, name, seed, params, _draw(name, params, seed, graph_id, isolated)))
    return pd.DataFrame(rows, columns=GRAPH_COLUMNS)


def graph_from_row(row: Mapping[str, Any]) -> nx.DiGraph:
    """Rebuild the directed graph of one row of the graph table (every node kept, isolated ones too)."""
    try:
        graph = nx.DiGraph(graph_id=row["graph_id"])
        graph.add_nodes_from(range(int(row["nodes"])))
        graph.add_edges_from(zip(list(row["src"]), list(row["dst"]), strict=True))
    except (KeyError, ValueError, TypeError) as exc:
        raise DataError(f"graph table row {row.get('graph_id', '?')}: malformed ({exc})") from None
    return graph
