"""Structural features of a network's graph: the inputs of the accuracy predictors.

Each feature says on which view of the graph it is defined:

- directed (the DAG, edges from lower to higher index; layers by longest path from a source,
  :func:`sparsepipe.graphs.layered_dag`): ``nodes``, ``edges``, ``layers``, ``source_nodes``, ``sink_nodes``,
  ``density`` (``edges / (nodes (nodes-1))``, networkx's directed density), the layer widths (nodes per layer:
  ``layer_width_mean/var/std/max``), ``skip_edges`` (edges between non-adjacent layers, i.e. ``layer(v) - layer(u)
  > 1``) and ``skip_edge_fraction`` (``skip_edges / edges``);
- undirected (orientation dropped): ``components`` (connected), ``diameter``, ``average_shortest_path_length``,
  eccentricity, degree, closeness, node and edge betweenness, clustering (local, networkx's ``clustering``; 0 for
  nodes of degree < 2) and ``degree_assortativity`` (Pearson correlation of the degrees at the two ends of the
  edges, networkx's ``degree_assortativity_coefficient``; it is undefined (0/0) when every edge end has the same
  degree, e.g. regular graphs, and then set to 0, "no degree correlation").

Node- and edge-level quantities are summarised by their mean, population variance (``ddof=0``) and standard
deviation: ``<name>_mean``, ``<name>_var``, ``<name>_std``.

Disconnected graphs: ``diameter``, ``average_shortest_path_length`` and eccentricity are taken on the largest
connected component (ties: the one holding the lowest node index), and ``components`` records how many there are;
closeness and betweenness are computed on the whole graph as networkx defines them for disconnected graphs
(closeness with the Wasserman–Faust correction, betweenness over the pairs that are connected, normalised by all
pairs). Everything is exact; :mod:`sparsepipe.graphs.shortest_paths` computes the shortest-path metrics (a
vectorised engine by default, equal to networkx's up to rounding; ``engine="networkx"`` is the reference).

Pruned feed-forward networks (:func:`network_features`): the graph of surviving weights
(:func:`sparsepipe.graphs.network.network_graph`) with its isolated units (inputs that lost every weight, dead hidden
units) dropped and counted in ``dropped_isolated_nodes``; the rest are the same features, layering by longest path
included (a hidden unit that lost every input becomes a source of layer 0).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp

from sparsepipe.graphs.generators import graph_from_row
from sparsepipe.graphs.layering import layered_dag
from sparsepipe.graphs.network import network_graph
from sparsepipe.graphs.shortest_paths import check_engine, path_metrics

# node- (or edge-, or layer-) level quantities summarised by mean/var/std
DISTRIBUTION_FEATURES = ("eccentricity", "degree", "closeness", "betweenness", "edge_betweenness", "clustering",
                         "layer_width")
SCALAR_FEATURES = (
    "nodes", "edges", "layers", "source_nodes", "sink_nodes", "components", "density", "diameter",
    "average_shortest_path_length", "degree_assortativity", "layer_width_max", "skip_edges", "skip_edge_fraction",
)
FEATURE_COLUMNS = (*SCALAR_FEATURES, *(f"{n}_{s}" for n in DISTRIBUTION_FEATURES for s in ("mean", "var", "std")))
KEY_COLUMNS = ("graph_id", "generator", "seed", "params")
NETWORK_FEATURE_COLUMNS = ("dropped_isolated_nodes", *FEATURE_COLUMNS)


def _summary(name: str, values: Sequence[float] | np.ndarray) -> dict[str, float]:
    array = np.asarray(values, dtype=float)
    if array.size == 0:
        return {f"{name}_mean": 0.0, f"{name}_var": 0.0, f"{name}_std": 0.0}
    return {f"{name}_mean": float(array.mean()), f"{name}_var": float(array.var()), f"{name}_std": float(array.std())}


def _adjacency(edges: np.ndarray, n: int) -> sp.csr_array:
    src, dst = edges[:, 0], edges[:, 1]
    return sp.csr_array((np.ones(2 * len(edges)), (np.r_[src, dst], np.r_[dst, src])), shape=(n, n))


def _clustering(adj: sp.csr_array, degree: np.ndarray) -> np.ndarray:
    """Local clustering: 2 T(v) / (k(v) (k(v)-1)), T(v) the triangles through v; 0 where k(v) < 2."""
    triangles = (adj @ adj).multiply(adj).sum(axis=1) / 2
    possible = degree * (degree - 1) / 2
    return np.divide(triangles, possible, out=np.zeros(len(degree)), where=possible > 0)


def _assortativity(edges: np.ndarray, degree: np.ndarray) -> float:
    """Pearson correlation of the degrees at both ends of every edge (each edge counted both ways); 0 if undefined."""
    if len(edges) == 0:
        return 0.0
    x = np.r_[degree[edges[:, 0]], degree[edges[:, 1]]].astype(float)
    y = np.r_[degree[edges[:, 1]], degree[edges[:, 0]]].astype(float)
    x, y = x - x.mean(), y - y.mean()
    variance = float((x * x).mean())
    if variance <= 1e-12 * max(1.0, float(np.abs(x).max()) ** 2):
        return 0.0
    return float(np.clip((x * y).mean() / variance, -1.0, 1.0))


def _networkx_assortativity(undirected: nx.Graph) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        value = nx.degree_assortativity_coefficient(undirected)
    return 0.0 if not np.isfinite(value) else float(value)


def graph_features(dag: nx.DiGraph, name: str = "graph", engine: str = "numpy") -> dict[str, float]:
    """All features of one DAG (see the module docstring for their definitions); ``name`` names it in errors."""
    check_engine(engine)
    layered = layered_dag(dag, name)
    undirected = dag.to_undirected(as_view=False)
    paths = path_metrics(undirected, engine)
    n = len(paths.nodes)
    sizes = np.bincount(paths.component)
    # largest component; among equal sizes the one holding the lowest node index (labels in order of first node)
    first = np.full(len(sizes), n)
    np.minimum.at(first, paths.component, np.arange(n))
    largest = min(range(len(sizes)), key=lambda c: (-sizes[c], first[c]))
    in_largest = paths.component == largest
    k = int(sizes[largest])
    eccentricity = paths.eccentricity[in_largest]
    degree = np.array([undirected.degree(v) for v in paths.nodes])
    if engine == "numpy":
        clustering = _clustering(_adjacency(paths.edges, n), degree)
        assortativity = _assortativity(paths.edges, degree)
    else:
        by_node = nx.clustering(undirected)
        clustering = np.array([by_node[v] for v in paths.nodes])
        assortativity = _networkx_assortativity(undirected)
    widths = [len(layer) for layer in layered.layers]
    skip = sum(1 for u, v in dag.edges() if layered.layer_of[v] - layered.layer_of[u] > 1)
    features: dict[str, float] = {
        "nodes": dag.number_of_nodes(),
        "edges": dag.number_of_edges(),
        "layers": layered.depth,
        "source_nodes": len(layered.sources),
        "sink_nodes": len(layered.sinks),
        "components": len(sizes),
        "density": nx.density(dag),
        "diameter": int(eccentricity.max()),
        "average_shortest_path_length": float(paths.distance_sum[in_largest].sum() / (k * (k - 1))) if k > 1 else 0.0,
        "degree_assortativity": assortativity,
        "layer_width_max": max(widths),
        "skip_edges": skip,
        "skip_edge_fraction": skip / dag.number_of_edges(),
    }
    features |= _summary("eccentricity", eccentricity)
    features |= _summary("degree", degree)
    features |= _summary("closeness", paths.closeness)
    features |= _summary("betweenness", paths.betweenness)
    features |= _summary("edge_betweenness", paths.edge_betweenness)
    features |= _summary("clustering", clustering)
    features |= _summary("layer_width", widths)
    return features


def network_features(layers: Sequence[Any], name: str = "network", engine: str = "numpy") -> dict[str, float]:
    """Features of a (pruned) feed-forward net from its linear layers, input to output (``nn.Linear`` that may
    carry ``weight_mask``, or 0/1 masks out x in): :func:`graph_features` of its graph of surviving weights
    without its isolated units, plus ``dropped_isolated_nodes``. A net with no weight left is a GraphError."""
    graph = network_graph(layers)
    isolated = list(nx.isolates(graph))
    graph.remove_nodes_from(isolated)
    return {"dropped_isolated_nodes": len(isolated)} | graph_features(graph, name, engine)


def features_table(graphs: pd.DataFrame, engine: str = "numpy") -> pd.DataFrame:
    """One row per graph of the graph table, in its order: its key columns and all features.

    One process: ~2-3 ms per graph of 10-50 nodes, so a pool would not pay for its start-up.
    """
    check_engine(engine)
    rows = [{k: row[k] for k in KEY_COLUMNS} | graph_features(graph_from_row(row), row["graph_id"], engine)
            for row in graphs.to_dict("records")]
    return pd.DataFrame(rows, columns=[*KEY_COLUMNS, *FEATURE_COLUMNS])
