import networkx as nx
import pytest

from sparsepipe.features import FEATURE_COLUMNS, features_table, graph_features
from sparsepipe.graphs import generate_graphs


def test_features_of_a_path():
    f = graph_features(nx.DiGraph([(0, 1), (1, 2), (2, 3)]))
    assert (f["nodes"], f["edges"], f["layers"], f["source_nodes"], f["sink_nodes"]) == (4, 3, 4, 1, 1)
    assert f["density"] == pytest.approx(3 / 12)
    assert f["diameter"] == 3
    assert f["average_shortest_path_length"] == pytest.approx(10 / 6)
    assert f["degree_mean"] == pytest.approx(1.5)
    assert f["degree_var"] == pytest.approx(0.25)
    # the two inner nodes each lie on 2 of the 3 pairs of other nodes
    assert f["betweenness_mean"] == pytest.approx((2 / 3 + 2 / 3) / 4)
    assert f["eccentricity_mean"] == pytest.approx((3 + 2 + 2 + 3) / 4)
    assert f["clustering_mean"] == 0


def test_disconnected_graph_uses_its_largest_component_for_distances():
    f = graph_features(nx.DiGraph([(0, 1), (1, 2), (3, 4)]))
    assert f["components"] == 2
    assert f["diameter"] == 2
    assert f["average_shortest_path_length"] == pytest.approx(4 / 3)


def test_features_table_has_every_feature_for_every_graph():
    graphs = generate_graphs("watts_strogatz", {"count": 4, "nodes": [10], "k": [4], "p": [0.5]}, 0)
    table = features_table(graphs)
    assert list(table["graph_id"]) == list(graphs["graph_id"])
    assert set(FEATURE_COLUMNS) <= set(table.columns)
    assert table[list(FEATURE_COLUMNS)].notna().all().all()
