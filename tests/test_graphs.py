import networkx as nx
import pytest

from sparsepipe.errors import ConfigError, GraphError
from sparsepipe.graphs import generate_graphs, layered_dag, to_dag
from sparsepipe.graphs.generators import graph_from_row

BA = {"count": 6, "nodes": [10, 14], "m": [1, 2]}
WS = {"count": 6, "nodes": [10, 14], "k": [2, 4], "p": [0.1, 0.9]}


@pytest.mark.parametrize(("name", "settings"), [("barabasi_albert", BA), ("watts_strogatz", WS)])
def test_generated_graphs_are_seeded_sized_and_oriented(name, settings):
    table = generate_graphs(name, settings, global_seed=7)
    again = generate_graphs(name, settings, global_seed=7)
    other = generate_graphs(name, settings, global_seed=8)
    assert len(table) == settings["count"]
    assert table.equals(again)
    assert not table["src"].apply(list).equals(other["src"].apply(list))
    assert set(table["nodes"]) <= set(settings["nodes"])
    for row in table.to_dict("records"):
        assert all(u < v for u, v in zip(row["src"], row["dst"], strict=True))
        assert nx.is_directed_acyclic_graph(graph_from_row(row))


def test_adding_graphs_keeps_the_earlier_ones():
    few = generate_graphs("barabasi_albert", BA | {"count": 3}, global_seed=1)
    more = generate_graphs("barabasi_albert", BA | {"count": 6}, global_seed=1)
    assert few.equals(more.head(3))


def test_to_dag_orients_from_lower_to_higher_index():
    dag = to_dag(nx.Graph([(3, 1), (2, 0), (1, 2)]))
    assert sorted(dag.edges()) == [(0, 2), (1, 2), (1, 3)]


def test_layer_is_longest_path_from_a_source():
    dag = nx.DiGraph([(0, 1), (1, 2), (0, 2), (2, 3), (0, 3), (4, 3)])
    layered = layered_dag(dag)
    assert layered.layers == ((0, 4), (1,), (2,), (3,))
    assert layered.sources == (0, 4)
    assert layered.sinks == (3,)
    for u, v in dag.edges():
        assert layered.layer_of[u] < layered.layer_of[v]


@pytest.mark.parametrize(
    ("edges", "nodes", "message"),
    [([], [0], "1 node"), ([], [0, 1], "no edges"), ([(0, 1)], [0, 1, 2], "isolated"), ([(0, 1), (1, 0)], [], "cycle")],
)
def test_unusable_graphs_are_named_in_the_error(edges, nodes, message):
    dag = nx.DiGraph(edges)
    dag.add_nodes_from(nodes)
    with pytest.raises(GraphError, match=f"my-graph.*{message}"):
        layered_dag(dag, "my-graph")


def test_bad_generator_settings():
    with pytest.raises(ConfigError, match="unknown generator 'erdos'.*barabasi_albert"):
        generate_graphs("erdos", BA, 0)
    with pytest.raises(ConfigError, match="m=5 must satisfy"):
        generate_graphs("barabasi_albert", {"count": 1, "nodes": [5], "m": [5]}, 0)
