import networkx as nx
import numpy as np
import pytest

from sparsepipe.errors import GraphError
from sparsepipe.features import FEATURE_COLUMNS, KEY_COLUMNS, features_table, graph_features
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
    assert f["closeness_mean"] == pytest.approx((3 / 6 + 3 / 4 + 3 / 4 + 3 / 6) / 4)
    # edge (0,1) lies on the paths from 0 to 1, 2, 3 (3 of 6 pairs), the middle edge on 4 of 6
    assert f["edge_betweenness_mean"] == pytest.approx((3 / 6 + 4 / 6 + 3 / 6) / 3)
    assert f["clustering_mean"] == 0
    # edge-end degrees (1,2), (2,2), (2,1): Pearson correlation over both orientations is -1/2
    assert f["degree_assortativity"] == pytest.approx(-0.5)
    assert (f["layer_width_mean"], f["layer_width_var"], f["layer_width_max"]) == (1, 0, 1)
    assert (f["skip_edges"], f["skip_edge_fraction"], f["components"]) == (0, 0, 1)


def test_features_of_a_star():
    f = graph_features(nx.DiGraph([(0, leaf) for leaf in range(1, 5)]))
    assert (f["layers"], f["source_nodes"], f["sink_nodes"], f["layer_width_max"]) == (2, 1, 4, 4)
    assert (f["layer_width_mean"], f["layer_width_var"], f["layer_width_std"]) == (2.5, 2.25, 1.5)
    assert f["degree_mean"] == pytest.approx(8 / 5)
    assert f["betweenness_mean"] == pytest.approx(1 / 5)  # the centre lies on every path between two leaves
    assert f["closeness_mean"] == pytest.approx((1 + 4 * 4 / 7) / 5)
    assert f["edge_betweenness_mean"] == pytest.approx(8 / 20)  # each edge: 4 of the 10 pairs
    assert f["edge_betweenness_var"] == pytest.approx(0)
    assert (f["diameter"], f["eccentricity_mean"]) == (2, pytest.approx(9 / 5))
    assert f["degree_assortativity"] == pytest.approx(-1)  # every edge joins degree 4 to degree 1


def test_skip_edges_and_clustering():
    # layers: {0, 1}, {2}, {3}; the edge 0 -> 3 jumps over layer 1
    f = graph_features(nx.DiGraph([(0, 2), (1, 2), (2, 3), (0, 3)]))
    assert (f["layers"], f["skip_edges"], f["skip_edge_fraction"]) == (3, 1, 0.25)
    assert (f["layer_width_mean"], f["layer_width_max"]) == (pytest.approx(4 / 3), 2)
    # triangle 0-2-3: nodes 0 and 3 fully clustered, node 2 one of its three neighbour pairs, node 1 degree 1
    assert f["clustering_mean"] == pytest.approx((1 + 0 + 1 / 3 + 1) / 4)


def test_disconnected_graph_uses_its_largest_component_for_distances():
    f = graph_features(nx.DiGraph([(0, 1), (1, 2), (3, 4)]))
    assert f["components"] == 2
    assert f["diameter"] == 2
    assert f["average_shortest_path_length"] == pytest.approx(4 / 3)
    assert f["eccentricity_mean"] == pytest.approx((2 + 1 + 2) / 3)
    # closeness with the Wasserman-Faust correction: (r-1)/sum(d) * (r-1)/(n-1)
    assert f["closeness_mean"] == pytest.approx((1 / 3 + 1 / 2 + 1 / 3 + 1 / 4 + 1 / 4) / 5)
    assert f["betweenness_mean"] == pytest.approx(2 / 12 / 5)  # node 1 on the pair (0, 2), of 12 ordered pairs


def test_equal_components_tie_on_the_lowest_node():
    # two components of 3 nodes: a path (diameter 2) holding node 0 and a triangle (diameter 1)
    f = graph_features(nx.DiGraph([(3, 4), (4, 5), (3, 5), (0, 1), (1, 2)]))
    assert (f["components"], f["diameter"]) == (2, 2)


def test_undefined_assortativity_is_zero():
    ring = nx.DiGraph((min(i, (i + 1) % 6), max(i, (i + 1) % 6)) for i in range(6))
    f = graph_features(ring)
    assert f["degree_assortativity"] == 0
    assert np.isfinite(list(f.values())).all()


def test_unusable_graph_is_named():
    dag = nx.DiGraph([(0, 1)])
    dag.add_node(2)
    with pytest.raises(GraphError, match="my-graph: isolated nodes"):
        graph_features(dag, "my-graph")
    with pytest.raises(ValueError, match="unknown shortest-path engine 'igraph'"):
        graph_features(nx.DiGraph([(0, 1)]), engine="igraph")


def test_features_table_has_every_feature_for_every_graph():
    graphs = generate_graphs("watts_strogatz", {"count": 4, "nodes": [10], "k": [4], "p": [0.5]}, 0)
    graphs = graphs.iloc[::-1].reset_index(drop=True)  # the table keeps the input's order
    table = features_table(graphs)
    assert list(table.columns) == [*KEY_COLUMNS, *FEATURE_COLUMNS]
    assert list(table["graph_id"]) == list(graphs["graph_id"])
    assert table[list(FEATURE_COLUMNS)].notna().all().all()
    assert table.equals(features_table(graphs))
