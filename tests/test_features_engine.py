"""The vectorised shortest-path engine gives networkx's numbers, on connected and disconnected random graphs."""

import networkx as nx
import numpy as np
import pytest

from sparsepipe.features import FEATURE_COLUMNS, graph_features
from sparsepipe.graphs import shortest_paths, to_dag
from sparsepipe.graphs.generators import drop_isolated
from sparsepipe.graphs.shortest_paths import path_metrics

METRICS = ("component", "distance_sum", "eccentricity", "closeness", "betweenness", "edge_betweenness")


def _random_graphs():
    for seed in range(6):
        yield nx.gnp_random_graph(30, 0.08, seed=seed)  # several components, isolated nodes
        yield nx.gnp_random_graph(25, 0.3, seed=seed)  # dense
        yield nx.barabasi_albert_graph(40, 2, seed=seed)
        yield nx.random_labeled_tree(20, seed=seed)
    yield nx.Graph([(0, 1)])
    yield nx.Graph([(0, 1), (2, 3)])
    yield nx.complete_graph(6)


@pytest.mark.parametrize("graph", list(_random_graphs()))
def test_path_metrics_equal_networkx(graph):
    fast, reference = path_metrics(graph), path_metrics(graph, "networkx")
    assert np.array_equal(fast.nodes, reference.nodes) and np.array_equal(fast.edges, reference.edges)
    for name in METRICS:
        np.testing.assert_allclose(getattr(fast, name), getattr(reference, name), rtol=1e-10, atol=1e-14,
                                   err_msg=name)


def test_small_batches_give_the_same_numbers(monkeypatch):
    graph = nx.gnp_random_graph(40, 0.1, seed=1)
    whole = path_metrics(graph)
    monkeypatch.setattr(shortest_paths, "BATCH_ELEMENTS", 97)  # 2 sources per batch, 48 edges per chunk
    batched = path_metrics(graph)
    for name in METRICS:
        np.testing.assert_allclose(getattr(batched, name), getattr(whole, name), rtol=1e-12, err_msg=name)


@pytest.mark.parametrize("seed", range(8))
def test_all_features_equal_networkx(seed):
    graph = drop_isolated(nx.gnp_random_graph(24, 0.1 + 0.05 * (seed % 4), seed=seed))
    dag = to_dag(graph)
    fast, reference = graph_features(dag), graph_features(dag, engine="networkx")
    for column in FEATURE_COLUMNS:
        assert fast[column] == pytest.approx(reference[column], rel=1e-10, abs=1e-12), column


def test_path_metrics_want_an_undirected_graph():
    with pytest.raises(ValueError, match="undirected"):
        path_metrics(nx.DiGraph([(0, 1)]))
