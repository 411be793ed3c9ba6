"""Graph generators and the graph table they fill (one row per graph, edges as lists).

Each graph draws its parameters from the configured choices with its own seed, derived from the global seed,
the generator's name and the graph's index: adding graphs never changes the ones already drawn.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping
from typing import Any

import networkx as nx
import pandas as pd

from sparsepipe.errors import ConfigError, DataError
from sparsepipe.seeds import derive_seed

GRAPH_COLUMNS = ["graph_id", "generator", "seed", "params", "nodes", "src", "dst"]


def _barabasi_albert(params: Mapping[str, Any], seed: int) -> nx.Graph:
    n, m = params["nodes"], params["m"]
    if not 1 <= m < n:
        raise ConfigError(f"graphs.barabasi_albert: m={m} must satisfy 1 <= m < nodes={n}")
    return nx.barabasi_albert_graph(n, m, seed=seed)


def _watts_strogatz(params: Mapping[str, Any], seed: int) -> nx.Graph:
    n, k, p = params["nodes"], params["k"], params["p"]
    if not 2 <= k < n:
        raise ConfigError(f"graphs.watts_strogatz: k={k} must satisfy 2 <= k < nodes={n}")
    return nx.connected_watts_strogatz_graph(n, k, p, tries=1000, seed=seed)


# name -> (builder, the parameter keys drawn from the config's choices)
GENERATORS: dict[str, tuple[Callable[[Mapping[str, Any], int], nx.Graph], tuple[str, ...]]] = {
    "barabasi_albert": (_barabasi_albert, ("nodes", "m")),
    "watts_strogatz": (_watts_strogatz, ("nodes", "k", "p")),
}


def check_generator(name: str) -> None:
    if name not in GENERATORS:
        raise ConfigError(f"graphs: unknown generator {name!r}; expected one of {sorted(GENERATORS)}")


def generate_graphs(name: str, settings: Mapping[str, Any], global_seed: int) -> pd.DataFrame:
    """Draw ``settings['count']`` graphs of generator ``name``; returns the graph table.

    Node indices are kept as the generator numbers them; :func:`sparsepipe.graphs.to_dag` orients each edge from
    the lower to the higher index.
    """
    check_generator(name)
    build, keys = GENERATORS[name]
    missing = [k for k in ("count", *keys) if k not in settings]
    if missing:
        raise ConfigError(f"graphs.{name}: missing keys {missing}")
    rows = []
    for index in range(settings["count"]):
        seed = derive_seed(global_seed, "graph", name, index)
        rng = random.Random(seed)
        params = {k: rng.choice(list(settings[k])) for k in keys}
        graph = build(params, seed)
        edges = sorted((min(u, v), max(u, v)) for u, v in graph.edges())
        rows.append(
            {
                "graph_id": f"{name}-{index:04d}",
                "generator": name,
                "seed": seed,
                "params": json.dumps(params, sort_keys=True),
                "nodes": graph.number_of_nodes(),
                "src": [u for u, _ in edges],
                "dst": [v for _, v in edges],
            }
        )
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
