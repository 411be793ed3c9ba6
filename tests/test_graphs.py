import json
import random

import networkx as nx
import pytest

from sparsepipe.errors import ConfigError, DataError, GraphError
from sparsepipe.graphs import generate_graphs, layered_dag, to_dag
from sparsepipe.graphs.generators import REDRAWS, check_settings, graph_from_row
from sparsepipe.seeds import derive_seed

BA = {"count": 6, "nodes": [10, 14], "m": [1, 2]}
WS = {"count": 6, "nodes": [10, 14], "k": [2, 4], "p": [0.1, 0.9]}
ER = {"count": 8, "nodes": [10, 14], "p": [0.3, 0.5]}
NWS = {"count": 6, "nodes": [10, 14], "k": [2, 4], "p": [0.1, 0.9]}
RR = {"count": 6, "nodes": [10, 14], "d": [2, 3]}


@pytest.mark.parametrize(("name", "settings"), [("barabasi_albert", BA), ("watts_strogatz", WS), ("erdos_renyi", ER),
                                                ("newman_watts_strogatz", NWS), ("random_regular", RR)])
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
        layered_dag(graph_from_row(row), row["graph_id"])  # usable: raises otherwise
        params = json.loads(row["params"])
        assert row["nodes"] == params["nodes"]
        assert row["seed"] == derive_seed(7, "graph", name, int(row["graph_id"].rsplit("-", 1)[1]))


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


PAPER_BA = {"count": 40, "nodes": {"min": 10, "max": 50}, "m": {"nodes_div": 10}}
PAPER_WS = {"count": 40, "nodes": {"min": 10, "max": 50}, "k": {"nodes_div": 5}, "p": [1.0], "connected": True}


@pytest.mark.parametrize(("name", "settings"), [("barabasi_albert", BA), ("watts_strogatz", WS),
                                                ("newman_watts_strogatz", NWS), ("random_regular", RR)])
def test_lists_of_choices_draw_what_they_always_drew(name, settings):
    # the draw before node ranges and rules existed: one rng.choice per key, in the generator's key order, and the
    # networkx builder called with the graph's seed
    builders = {"barabasi_albert": lambda p, s: nx.barabasi_albert_graph(p["nodes"], p["m"], seed=s),
                "watts_strogatz": lambda p, s: nx.connected_watts_strogatz_graph(p["nodes"], p["k"], p["p"],
                                                                                 tries=1000, seed=s),
                "newman_watts_strogatz": lambda p, s: nx.newman_watts_strogatz_graph(p["nodes"], p["k"], p["p"],
                                                                                     seed=s),
                "random_regular": lambda p, s: nx.random_regular_graph(p["d"], p["nodes"], seed=s)}
    keys = [k for k in settings if k != "count"]
    for row in generate_graphs(name, settings, 11).to_dict("records"):
        rng = random.Random(row["seed"])
        params = {k: rng.choice(list(settings[k])) for k in keys}
        assert json.loads(row["params"]) == params
        expected = builders[name](params, row["seed"])
        assert set(_undirected(row).edges()) == {(min(u, v), max(u, v)) for u, v in expected.edges()}


def test_a_node_range_draws_like_the_list_of_its_integers():
    as_range = generate_graphs("barabasi_albert", {"count": 12, "nodes": {"min": 10, "max": 14}, "m": [1, 2]}, 5)
    as_list = generate_graphs("barabasi_albert", {"count": 12, "nodes": [10, 11, 12, 13, 14], "m": [1, 2]}, 5)
    assert as_range.equals(as_list)
    assert len(set(as_range["nodes"])) > 2


@pytest.mark.parametrize(("name", "settings", "key", "divisor"),
                         [("barabasi_albert", PAPER_BA, "m", 10), ("watts_strogatz", PAPER_WS, "k", 5)])
def test_the_papers_rules_tie_parameters_to_the_drawn_node_count(name, settings, key, divisor):
    table = generate_graphs(name, settings, 0)
    assert table["nodes"].between(10, 50).all() and table["nodes"].nunique() > 10
    for row in table.to_dict("records"):
        params = json.loads(row["params"])
        assert params[key] == row["nodes"] // divisor
        assert nx.is_connected(_undirected(row))
    if name == "barabasi_albert":  # m edges per node added after the first m: (n - m) * m edges
        assert all(len(r["src"]) == (r["nodes"] - r["nodes"] // 10) * (r["nodes"] // 10)
                   for r in table.to_dict("records"))
    else:  # p = 1.0 rewires every ring edge; the edge count stays n * (k // 2)
        assert all(len(r["src"]) == r["nodes"] * (r["nodes"] // 5 // 2) for r in table.to_dict("records"))
    assert table.equals(generate_graphs(name, settings, 0))


def test_watts_strogatz_connected_option():
    settings = {"count": 6, "nodes": [30], "k": [2], "p": [1.0]}
    default = generate_graphs("watts_strogatz", settings, 0)
    assert default.equals(generate_graphs("watts_strogatz", settings | {"connected": True}, 0))
    assert all(nx.is_connected(_undirected(r)) for r in default.to_dict("records"))
    loose = generate_graphs("watts_strogatz", settings | {"connected": False}, 0)
    first = loose.to_dict("records")[0]
    plain = nx.watts_strogatz_graph(30, 2, 1.0, seed=first["seed"])
    assert set(_undirected(first).edges()) == {(min(u, v), max(u, v)) for u, v in plain.edges()}
    assert not all(nx.is_connected(_undirected(r)) for r in loose.to_dict("records"))


def test_a_generator_that_gives_up_is_a_graph_error_naming_the_graph(monkeypatch):
    def never(*args, **kwargs):
        raise nx.NetworkXError("Maximum number of tries exceeded")

    monkeypatch.setattr(nx, "connected_watts_strogatz_graph", never)
    with pytest.raises(GraphError, match="watts_strogatz-0000: .*Maximum number of tries exceeded"):
        generate_graphs("watts_strogatz", WS, 0)


@pytest.mark.parametrize(
    ("name", "settings", "message"),
    [
        ("barabasi_albert", {"count": 1, "nodes": {"min": 5, "max": 50}, "m": {"nodes_div": 10}},
         r"^graphs\.barabasi_albert\.m: \{nodes_div: 10\}, i\.e\. nodes // 10, gives m=0 for nodes=5; "
         r"expected integers >= 1$"),
        ("barabasi_albert", {"count": 1, "nodes": {"min": 10, "max": 12}, "m": {"nodes_div": 1}},
         r"^graphs\.barabasi_albert\.m: m=10 must satisfy 1 <= m < nodes=10 \(from \{nodes_div: 1\}"),
        ("watts_strogatz", {"count": 1, "nodes": {"min": 8, "max": 20}, "k": {"nodes_div": 5}, "p": [1.0]},
         r"graphs\.watts_strogatz\.k: .*gives k=1 for nodes=8; expected integers >= 2"),
        ("newman_watts_strogatz", {"count": 1, "nodes": {"min": 10, "max": 20}, "k": {"nodes_div": 5}, "p": [0.1]},
         r"graphs\.newman_watts_strogatz\.k: .*gives k=3 for nodes=15; expected even integers"),
        ("random_regular", {"count": 1, "nodes": {"min": 10, "max": 12}, "d": {"nodes_div": 3}},
         r"graphs\.random_regular\.d: d=3 with nodes=11 makes nodes\*d odd"),
        ("barabasi_albert", {"count": 1, "nodes": {"min": 12, "max": 10}, "m": [1]},
         r"graphs\.barabasi_albert\.nodes: min=12 exceeds max=10"),
        ("barabasi_albert", {"count": 1, "nodes": {"min": 1, "max": 10}, "m": [1]},
         r"graphs\.barabasi_albert\.nodes: expected a range of integers >= 2, got 1"),
        ("barabasi_albert", {"count": 1, "nodes": {"min": 10}, "m": [1]},
         r"graphs\.barabasi_albert\.nodes: expected a list of choices or a range"),
        ("barabasi_albert", {"count": 1, "nodes": [10], "m": {"nodes_times": 2}},
         r"graphs\.barabasi_albert\.m: expected a list of choices or one rule of the node count \(\{nodes_div"),
        ("barabasi_albert", {"count": 1, "nodes": [10], "m": {"nodes_div": 0}},
         r"graphs\.barabasi_albert\.m\.nodes_div: expected an integer >= 1, got 0"),
        ("watts_strogatz", {"count": 1, "nodes": [10], "k": [2], "p": {"nodes_div": 2}},
         r"graphs\.watts_strogatz\.p: expected a non-empty list of choices, got"),
        ("watts_strogatz", {"count": 1, "nodes": [10], "k": [2], "p": [0.5], "connected": "yes"},
         r"graphs\.watts_strogatz\.connected: expected one of \[True, False\], got 'yes'"),
    ],
)
def test_bad_rules_and_ranges_are_one_line_config_errors_before_drawing(name, settings, message):
    with pytest.raises(ConfigError, match=message) as error:
        check_settings(name, settings)
    assert "\n" not in str(error.value)
    with pytest.raises(ConfigError, match=message):
        generate_graphs(name, settings, 0)


def _undirected(row):
    return graph_from_row(row).to_undirected()


def test_random_regular_graphs_have_degree_d():
    for row in generate_graphs("random_regular", RR, 3).to_dict("records"):
        d = json.loads(row["params"])["d"]
        assert {deg for _, deg in _undirected(row).degree()} == {d}
        assert len(row["src"]) == row["nodes"] * d // 2


def test_newman_watts_strogatz_keeps_its_ring_and_adds_shortcuts():
    table = generate_graphs("newman_watts_strogatz", {"count": 4, "nodes": [12], "k": [4], "p": [0.5]}, 0)
    for row in table.to_dict("records"):
        graph = _undirected(row)
        assert all(graph.has_edge(i, (i + j) % 12) for i in range(12) for j in (1, 2))
        assert graph.number_of_edges() >= 24
    assert any(graph_from_row(row).number_of_edges() > 24 for row in table.to_dict("records"))


def test_erdos_renyi_redraws_graphs_with_isolated_nodes():
    # nodes=12, p=0.2: about half of the first draws have an isolated node
    settings = {"count": 12, "nodes": [12], "p": [0.2]}
    redrawn = 0
    for row in generate_graphs("erdos_renyi", settings, 0).to_dict("records"):
        first = nx.gnp_random_graph(12, 0.2, seed=row["seed"])
        graph = _undirected(row)
        assert row["nodes"] == 12 and not list(nx.isolates(graph))
        if list(nx.isolates(first)):
            redrawn += 1
            again = [nx.gnp_random_graph(12, 0.2, seed=derive_seed(row["seed"], "redraw", k)) for k in range(1, 50)]
            assert any(set(graph.edges()) == set(g.edges()) for g in again)
        else:
            assert set(graph.edges()) == set(first.edges())
    assert redrawn > 0


def test_erdos_renyi_drop_removes_isolated_nodes_and_renumbers():
    settings = {"count": 6, "nodes": [20], "p": [0.05], "isolated": "drop"}
    table = generate_graphs("erdos_renyi", settings, 0)
    assert (table["nodes"] < 20).any()
    for row in table.to_dict("records"):
        graph = _undirected(row)
        assert not list(nx.isolates(graph))
        assert sorted(graph) == list(range(row["nodes"]))


def test_erdos_renyi_gives_up_naming_the_graph():
    message = rf"erdos_renyi-0000: .*no usable graph in {REDRAWS} draws.*larger p or isolated: drop"
    with pytest.raises(GraphError, match=message):
        generate_graphs("erdos_renyi", {"count": 1, "nodes": [60], "p": [0.001]}, 0)


@pytest.mark.parametrize(
    ("name", "settings", "message"),
    [
        ("erdos_renyi", {"count": 1, "nodes": [10], "p": [0]},
         r"graphs\.erdos_renyi\.p: expected probabilities in \(0, 1\], got 0"),
        ("erdos_renyi", {"count": 1, "nodes": [10], "p": [1.5]}, r"graphs\.erdos_renyi\.p: .*got 1\.5"),
        ("erdos_renyi", {"count": 1, "nodes": [1], "p": [0.5]}, r"graphs\.erdos_renyi\.nodes: expected integers >= 2"),
        ("erdos_renyi", {"count": 1, "nodes": [10]}, r"graphs\.erdos_renyi: missing keys \['p'\]"),
        ("erdos_renyi", {"count": 1, "nodes": [10], "p": [0.5], "q": 1}, r"graphs\.erdos_renyi: unknown keys \['q'\]"),
        ("erdos_renyi", {"count": 1, "nodes": [10], "p": [0.5], "isolated": "keep"},
         r"graphs\.erdos_renyi\.isolated: expected one of \['redraw', 'drop'\]"),
        ("erdos_renyi", {"count": 0, "nodes": [10], "p": [0.5]},
         r"graphs\.erdos_renyi\.count: expected an integer >= 1"),
        ("erdos_renyi", {"count": 1, "nodes": 10, "p": [0.5]},
         r"graphs\.erdos_renyi\.nodes: expected a non-empty list"),
        ("newman_watts_strogatz", {"count": 1, "nodes": [10], "k": [3], "p": [0.5]},
         r"graphs\.newman_watts_strogatz\.k: expected even integers >= 2"),
        ("newman_watts_strogatz", {"count": 1, "nodes": [10], "k": [10], "p": [0.5]},
         r"graphs\.newman_watts_strogatz\.k: k=10 must satisfy 2 <= k < nodes=10"),
        ("newman_watts_strogatz", {"count": 1, "nodes": [10], "k": [2], "p": [-0.1]},
         r"graphs\.newman_watts_strogatz\.p: expected probabilities in \[0, 1\]"),
        # every combination of choices is checked, whatever gets drawn
        ("random_regular", {"count": 1, "nodes": [10, 11], "d": [2, 3]},
         r"graphs\.random_regular\.d: d=3 with nodes=11 makes nodes\*d odd; expected nodes\*d even"),
        ("random_regular", {"count": 1, "nodes": [6], "d": [6]}, r"graphs\.random_regular\.d: d=6 must satisfy"),
        ("random_regular", {"count": 1, "nodes": [6], "d": [0]}, r"graphs\.random_regular\.d: expected integers >= 1"),
        ("random_regular", {"count": 1, "nodes": [6], "d": [True]}, r"graphs\.random_regular\.d: expected integers"),
    ],
)
def test_bad_parameters_name_the_key(name, settings, message):
    with pytest.raises(ConfigError, match=message):
        generate_graphs(name, settings, 0)


# --- user-supplied graphs --------------------------------------------------------------------------------------

def _files_table(tmp_path, *files):
    return generate_graphs("files", {"paths": [str(tmp_path / f) for f in files]}, 0)


def test_files_graphml_edgelist_and_csv(tmp_path):
    # GraphML with string labels: natural order n0 < n2 < n10
    labelled = nx.DiGraph([("n10", "n2"), ("n2", "n0"), ("n0", "n10"), ("n10", "n3")])
    nx.write_graphml(labelled, tmp_path / "a.graphml")
    # edge list with integer labels, a comment, a weight column and a duplicate (reversed) edge
    (tmp_path / "b.edgelist").write_text("# my graph\n10 2 0.5\n2 7\n7 10  # trailing comment\n2 10\n\n")
    (tmp_path / "c.csv").write_text("source,target,weight\n1,3,0.1\n3,2,0.2\n")
    (tmp_path / "d.txt").write_text("a b\nb c\nc a\n")
    table = _files_table(tmp_path, "a.graphml", "b.edgelist", "c.csv", "d.txt")
    assert list(table["graph_id"]) == ["files-0000", "files-0001", "files-0002", "files-0003"]
    assert set(table["generator"]) == {"files"}
    assert [json.loads(p)["path"] for p in table["params"]] == [str(tmp_path / f) for f in
                                                                ("a.graphml", "b.edgelist", "c.csv", "d.txt")]
    rows = table.to_dict("records")
    # n0 -> 0, n2 -> 1, n3 -> 2, n10 -> 3; the file's own directions are not kept
    assert (rows[0]["nodes"], list(zip(rows[0]["src"], rows[0]["dst"], strict=True))) == (
        4, [(0, 1), (0, 3), (1, 3), (2, 3)])
    # 2 -> 0, 7 -> 1, 10 -> 2 (numerically, not as text)
    assert (rows[1]["nodes"], list(zip(rows[1]["src"], rows[1]["dst"], strict=True))) == (3, [(0, 1), (0, 2), (1, 2)])
    assert (rows[2]["nodes"], list(zip(rows[2]["src"], rows[2]["dst"], strict=True))) == (3, [(0, 2), (1, 2)])
    assert rows[3]["nodes"] == 3 and len(rows[3]["src"]) == 3
    assert table.equals(_files_table(tmp_path, "a.graphml", "b.edgelist", "c.csv", "d.txt"))


def test_files_drop_self_loops(tmp_path):
    (tmp_path / "loops.txt").write_text("0 0\n0 1\n1 2\n2 2\n")
    row = _files_table(tmp_path, "loops.txt").iloc[0]
    assert list(zip(row["src"], row["dst"], strict=True)) == [(0, 1), (1, 2)]


def test_missing_and_unreadable_files_are_named(tmp_path):
    with pytest.raises(DataError, match=r"nope\.graphml: no such file; expected GraphML file"):
        _files_table(tmp_path, "nope.graphml")
    (tmp_path / "bad.graphml").write_text("<graphml><graph><node id=")
    with pytest.raises(DataError, match=r"bad\.graphml: unreadable .*expected GraphML file"):
        _files_table(tmp_path, "bad.graphml")
    (tmp_path / "bin.edgelist").write_bytes(b"\xff\xfe\x00 1")
    with pytest.raises(DataError, match=r"bin\.edgelist: unreadable .*expected an edge list \('u v' per line\)"):
        _files_table(tmp_path, "bin.edgelist")


def test_bad_files_settings(tmp_path):
    with pytest.raises(ConfigError, match=r"graphs\.files\.paths: .*g\.gml: unknown extension '\.gml'; expected"):
        _files_table(tmp_path, "g.gml")
    with pytest.raises(ConfigError, match=r"graphs\.files\.paths: expected a non-empty list"):
        generate_graphs("files", {"paths": []}, 0)
    with pytest.raises(ConfigError, match=r"graphs\.files: unknown keys \['count'\]"):
        generate_graphs("files", {"paths": ["a.txt"], "count": 1}, 0)


@pytest.mark.parametrize(("text", "message"),
                         [("0 1\n2\n", "isolated nodes"), ("7\n", "1 node"), ("# empty\n", "0 node")])
def test_unusable_files_name_the_graph_and_its_file(tmp_path, text, message):
    (tmp_path / "ok.txt").write_text("0 1\n")
    (tmp_path / "bad.txt").write_text(text)
    with pytest.raises(GraphError, match=rf"files-0001 \(.*bad\.txt\).*{message}"):
        _files_table(tmp_path, "ok.txt", "bad.txt")
