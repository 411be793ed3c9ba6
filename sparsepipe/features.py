"""Structural features of a network's graph: the inputs of the accuracy predictors.

Each feature says on which view of the graph it is defined:
- directed (the DAG): nodes, edges, layers, source/sink nodes, density;
- undirected (the DAG with orientation dropped): diameter, average shortest path length, eccentricity,
  degree, closeness, node and edge betweenness, clustering.
Disconnected graphs: distance-based features (diameter, average shortest path length, eccentricity) are taken
on the largest connected component, and ``components`` records how many there are; centralities are
computed on the whole graph as networkx defines them for disconnected graphs.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd

from sparsepipe.graphs.generators import graph_from_row
from sparsepipe.graphs.layering import layered_dag

# node-level quantities summarised by mean/var/std
DISTRIBUTION_FEATURES = ("eccentricity", "degree", "closeness", "betweenness", "edge_betweenness", "clustering")
SCALAR_FEATURES = (
    "nodes", "edges", "layers", "source_nodes", "sink_nodes", "components", "density", "diameter",
    "average_shortest_path_length",
)
FEATURE_COLUMNS = (*SCALAR_FEATURES, *(f"{n}_{s}" for n in DISTRIBUTION_FEATURES for s in ("mean", "var", "std")))


def _summary(name: str, values: list[float]) -> dict[str, float]:
    array = np.asarray(values, dtype=float)
    if array.size == 0:
        return {f"{name}_mean": 0.0, f"{name}_var": 0.0, f"{name}_std": 0.0}
    return {f"{name}_mean": float(array.mean()), f"{name}_var": float(array.var()), f"{name}_std": float(array.std())}


def graph_features(dag: nx.DiGraph, name: str = "graph") -> dict[str, float]:
    """All features of one DAG (see the module docstring for their definitions)."""
    layered = layered_dag(dag, name)
    undirected = dag.to_undirected(as_view=False)
    components = list(nx.connected_components(undirected))
    largest = undirected.subgraph(max(components, key=len))
    eccentricity = nx.eccentricity(largest)
    features: dict[str, float] = {
        "nodes": dag.number_of_nodes(),
        "edges": dag.number_of_edges(),
        "layers": layered.depth,
        "source_nodes": len(layered.sources),
        "sink_nodes": len(layered.sinks),
        "components": len(components),
        "density": nx.density(dag),
        "diameter": max(eccentricity.values()),
        "average_shortest_path_length": nx.average_shortest_path_length(largest) if len(largest) > 1 else 0.0,
    }
    features |= _summary("eccentricity", list(eccentricity.values()))
    features |= _summary("degree", [d for _, d in undirected.degree()])
    features |= _summary("closeness", list(nx.closeness_centrality(undirected).values()))
    features |= _summary("betweenness", list(nx.betweenness_centrality(undirected).values()))
    features |= _summary("edge_betweenness", list(nx.edge_betweenness_centrality(undirected).values()))
    features |= _summary("clustering", list(nx.clustering(undirected).values()))
    return features


def features_table(graphs: pd.DataFrame) -> pd.DataFrame:
    """One row per graph of the graph table: its key columns and all features."""
    rows = []
    for row in graphs.to_dict("records"):
        dag = graph_from_row(row)
        rows.append({"graph_id": row["graph_id"], "generator": row["generator"], "seed": row["seed"],
                     "params": row["params"]} | graph_features(dag, row["graph_id"]))
    return pd.DataFrame(rows, columns=["graph_id", "generator", "seed", "params", *FEATURE_COLUMNS])
