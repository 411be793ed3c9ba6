"""The graph of a pruned feed-forward net and its features: one node per unit, one edge per surviving weight."""

import networkx as nx
import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from sparsepipe.errors import GraphError
from sparsepipe.features import FEATURE_COLUMNS, NETWORK_FEATURE_COLUMNS, graph_features, network_features
from sparsepipe.graphs.network import network_graph
from sparsepipe.models.ffn import MLP, linear_layers

# 4 inputs -> 3 hidden -> 2 outputs; masks are out x in
MASK_1 = torch.tensor([[1, 0, 0, 0],
                       [1, 1, 0, 0],
                       [0, 0, 1, 0]])  # input 3 loses every weight
MASK_2 = torch.tensor([[1, 1, 0],
                       [0, 1, 1]])


def _pruned_mlp(*masks):
    torch.manual_seed(0)
    layers = linear_layers(MLP(4, [3], 2))
    for layer, mask in zip(layers, masks, strict=False):
        prune.custom_from_mask(layer, "weight", mask)
    return layers


def test_nodes_are_units_and_edges_surviving_weights():
    layers = _pruned_mlp(MASK_1, MASK_2)
    graph = network_graph(layers)
    assert graph.number_of_nodes() == 4 + 3 + 2
    assert graph.number_of_edges() == int(MASK_1.sum() + MASK_2.sum()) == 8
    # input i is node i, hidden unit j is node 4 + j, output k is node 7 + k
    assert sorted(graph.edges()) == [(0, 4), (0, 5), (1, 5), (2, 6), (4, 7), (5, 7), (5, 8), (6, 8)]
    assert graph.nodes[5] == {"layer": 1, "unit": 1} and graph.nodes[8] == {"layer": 2, "unit": 1}
    assert list(nx.isolates(graph)) == [3]
    assert sorted(network_graph([MASK_1, MASK_2]).edges()) == sorted(graph.edges())  # masks alone give the same


def test_unpruned_layers_keep_every_weight():
    graph = network_graph(_pruned_mlp(MASK_1))  # second layer never pruned
    assert graph.number_of_edges() == int(MASK_1.sum()) + 3 * 2


def test_isolated_units_are_dropped_and_counted():
    layers = _pruned_mlp(MASK_1, MASK_2)
    f = network_features(layers, "tiny")
    assert list(f) == list(NETWORK_FEATURE_COLUMNS)
    assert (f["dropped_isolated_nodes"], f["nodes"], f["edges"]) == (1, 8, 8)
    graph = network_graph(layers)
    graph.remove_node(3)
    assert {k: f[k] for k in FEATURE_COLUMNS} == graph_features(graph)
    # longest-path layers: inputs {0,1,2}, hidden {4,5,6}, outputs {7,8}
    assert (f["layers"], f["source_nodes"], f["sink_nodes"], f["layer_width_max"], f["skip_edges"]) == (3, 3, 2, 3, 0)


def test_a_dead_hidden_unit_is_dropped_and_a_unit_without_inputs_becomes_a_source():
    mask_1 = torch.tensor([[1, 1, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0]])  # hidden 1 dead, hidden 2 has no input
    mask_2 = torch.tensor([[1, 0, 1], [1, 0, 0]])
    f = network_features(_pruned_mlp(mask_1, mask_2))
    assert (f["dropped_isolated_nodes"], f["nodes"], f["edges"]) == (1, 8, 7)
    # longest-path layering: hidden 2 (a source now) is in layer 0 with the inputs, output 0 in layer 2 (through
    # hidden 0), so the weight hidden 2 -> output 0 counts as a skip edge
    assert (f["source_nodes"], f["layers"], f["skip_edges"]) == (5, 3, 1)


def test_bad_networks_are_errors():
    with pytest.raises(GraphError, match="network layer 1: takes 4 inputs but layer 0 gives 3 outputs"):
        network_graph([nn.Linear(4, 3), nn.Linear(4, 2)])
    with pytest.raises(GraphError, match="pruned-net: has 0 node"):
        network_features([torch.zeros(3, 4), torch.zeros(2, 3)], "pruned-net")
    with pytest.raises(GraphError, match="no linear layers"):
        network_graph([])
