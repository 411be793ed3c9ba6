import networkx as nx
import pytest
import torch

from sparsepipe.data.reber import VOCABULARY, generate_reber, tensors_of
from sparsepipe.graphs import layered_dag
from sparsepipe.models.rnn import CELLS, GATES, RecurrentClassifier
from sparsepipe.models.structured import StructuredRNN

DAG = nx.DiGraph([(0, 1), (0, 2), (1, 3), (2, 3), (0, 3), (2, 4)])  # skip edge 0->3; sinks 3 and 4


def _strings(n=12):
    return tensors_of(generate_reber(n, 2, 14, seed=5), "train")


@pytest.mark.parametrize("model_kind", ["dense", "structured"])
@pytest.mark.parametrize("cell", CELLS)
def test_padding_never_leaks_into_the_prediction(model_kind, cell):
    torch.manual_seed(0)
    model = (RecurrentClassifier(cell, VOCABULARY, 4, [6, 5]) if model_kind == "dense"
             else StructuredRNN(layered_dag(DAG), cell, VOCABULARY, 4)).eval()
    t = _strings()
    padded = torch.cat([t.tokens, torch.zeros(len(t), 7, dtype=torch.long)], dim=1)
    with torch.no_grad():
        together = model(t.tokens, t.lengths)
        more_padding = model(padded, t.lengths)
        alone = torch.cat([model(t.tokens[i : i + 1, : t.lengths[i]], t.lengths[i : i + 1]) for i in range(len(t))])
    torch.testing.assert_close(together, more_padding)
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cell", CELLS)
def test_structured_net_has_one_layer_per_dag_layer_and_connections_only_along_edges(cell):
    torch.manual_seed(0)
    layered = layered_dag(DAG)
    model = StructuredRNN(layered, cell, VOCABULARY, 4).eval()
    assert [layer.hidden_size for layer in model.recurrent] == [len(nodes) for nodes in layered.layers]
    # layer 2 holds node 3, whose predecessors are 0 (layer 0), 1 and 2 (layer 1); node 4 is in layer 2 too
    mask = model.recurrent[2].weight_ih_l0_mask
    assert mask.shape == (GATES[cell] * 2, 3)  # inputs: nodes 0, 1, 2
    assert mask[0].tolist() == [1, 1, 1] and mask[1].tolist() == [0, 0, 1]
    t = _strings()
    with torch.no_grad():
        before = model(t.tokens, t.lengths)
        orig = model.recurrent[2].weight_ih_l0_orig
        orig.add_((1 - model.recurrent[2].weight_ih_l0_mask) * 10.0)  # change only weights off the edges
        after = model(t.tokens, t.lengths)
    torch.testing.assert_close(before, after)
    model.train()
    model(t.tokens, t.lengths).sum().backward()
    assert (orig.grad[mask == 0] == 0).all()
    assert (orig.grad[mask == 1] != 0).any()
