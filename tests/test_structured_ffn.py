import networkx as nx
import torch

from sparsepipe.data.vision import load_vision
from sparsepipe.graphs import layered_dag
from sparsepipe.models.structured_ffn import StructuredFFN
from sparsepipe.train import evaluate, fit

DAG = nx.DiGraph([(0, 1), (0, 2), (1, 3), (2, 3), (0, 3), (2, 4)])  # skip edge 0->3; sinks 3 and 4


def test_one_masked_layer_per_dag_layer_with_skip_edges():
    torch.manual_seed(0)
    layered = layered_dag(DAG)
    model = StructuredFFN(layered, inputs=6, classes=3)
    assert [layer.out_features for layer in model.hidden] == [1, 2, 2]
    mask = model.hidden[2].weight_mask  # layer 2 = nodes 3, 4 reading nodes 0 | 1, 2
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    x = torch.randn(5, 6)
    before = model(x)
    with torch.no_grad():
        model.hidden[2].weight_orig.add_((1 - mask) * 100.0)  # change only weights off the edges
    torch.testing.assert_close(model(x), before)


def test_learns_digits_above_chance():
    torch.manual_seed(0)
    data = load_vision("digits", 0.1, seed=0)
    two_layers = nx.DiGraph((u, v) for u in range(8) for v in range(8, 16) if (u + v) % 3)  # 8 sources, 8 sinks
    model = StructuredFFN(layered_dag(two_layers), 64, 10)
    fit(model, torch.optim.Adam(model.parameters(), lr=0.01), (data.x_train, data.y_train), 10, 32, seed=0)
    assert evaluate(model, (data.x_test, data.y_test)).accuracy > 0.6


def test_tanh_keeps_a_single_unit_bottleneck_alive_where_relu_dies():
    """A chain of one-unit layers: with ReLU some initialisations give a dead unit (no gradient reaches the
    input layer, the net is stuck at chance); tanh always passes a gradient."""
    chain = nx.DiGraph([(0, 1), (1, 2), (2, 3)])
    x = torch.rand(64, 6)  # non-negative like pixels

    def input_gradient(activation: str, seed: int) -> float:
        torch.manual_seed(seed)
        model = StructuredFFN(layered_dag(chain), inputs=6, classes=3, activation=activation)
        model(x).sum().backward()
        return model.hidden[0].weight.grad.abs().sum().item()

    assert any(input_gradient("relu", seed) == 0 for seed in range(20))
    assert all(input_gradient("tanh", seed) > 0 for seed in range(20))
