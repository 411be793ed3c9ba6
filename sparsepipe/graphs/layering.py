"""Orient a graph into a DAG and layer it: a node's layer is the length of the longest path from a source."""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from sparsepipe.errors import GraphError


def to_dag(graph: nx.Graph) -> nx.DiGraph:
    """Orient every edge from the lower to the higher node index (acyclic by construction)."""
    dag = nx.DiGraph(**graph.graph)
    dag.add_nodes_from(graph.nodes())
    dag.add_edges_from((min(u, v), max(u, v)) for u, v in graph.edges())
    return dag


@dataclass(frozen=True)
class LayeredDAG:
    """A DAG ready to become a network: nodes grouped by layer, and where inputs enter and outputs leave."""

    dag: nx.DiGraph
    layers: tuple[tuple[int, ...], ...]  # layers[l] = sorted nodes whose longest path from a source has length l
    layer_of: dict[int, int]
    sources: tuple[int, ...]  # in-degree 0: receive the network's input
    sinks: tuple[int, ...]  # out-degree 0: feed the classifier

    @property
    def depth(self) -> int:
        return len(self.layers)


def layered_dag(dag: nx.DiGraph, name: str = "graph") -> LayeredDAG:
    """Layer ``dag``; refuse graphs that cannot serve as a network (one node, no edges, cycles, isolated nodes).

    Isolated nodes would be both source and sink, a unit wired straight from input to output; we reject them
    so every unit of a structured network lies on a path from the input to the output.
    """
    if dag.number_of_nodes() < 2:
        raise GraphError(f"{name}: has {dag.number_of_nodes()} node(s); a structural prior needs at least 2")
    if dag.number_of_edges() == 0:
        raise GraphError(f"{name}: has no edges; a structural prior needs a path from a source to a sink")
    if not nx.is_directed_acyclic_graph(dag):
        raise GraphError(f"{name}: has a cycle; expected a DAG (orient edges with sparsepipe.graphs.to_dag)")
    isolated = sorted(nx.isolates(dag))
    if isolated:
        raise GraphError(f"{name}: isolated nodes {isolated[:5]}; every node must lie on a source-sink path")
    layer_of: dict[int, int] = {}
    for node in nx.topological_sort(dag):
        layer_of[node] = max((layer_of[p] + 1 for p in dag.predecessors(node)), default=0)
    depth = max(layer_of.values()) + 1
    layers = tuple(tuple(sorted(n for n, depth_of_n in layer_of.items() if depth_of_n == k)) for k in range(depth))
    sources = tuple(sorted(n for n in dag if dag.in_degree(n) == 0))
    sinks = tuple(sorted(n for n in dag if dag.out_degree(n) == 0))
    return LayeredDAG(dag=dag, layers=layers, layer_of=layer_of, sources=sources, sinks=sinks)
