import networkx as nx
import pytest
import torch

from sparsepipe.data.reber import VOCABULARY, generate_reber, tensors_of
from sparsepipe.errors import ConfigError
from sparsepipe.graphs import layered_dag, to_dag
from sparsepipe.models.reference import ReferenceRecurrentClassifier, ReferenceStructuredRNN
from sparsepipe.models.rnn import CELLS, GATES, RecurrentClassifier
from sparsepipe.models.structured import StructuredRNN, skip_pairs

DAG = nx.DiGraph([(0, 1), (0, 2), (1, 3), (2, 3), (0, 3), (2, 4)])  # skip edge 0->3; sinks 3 and 4


def _strings(n=12, max_length=14):
    return tensors_of(generate_reber(n, 2, max_length, seed=5), "train")


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
    layered = layered_dag(DAG)  # layers {0}, {1, 2}, {3, 4}
    model = StructuredRNN(layered, cell, VOCABULARY, 4).eval()
    assert [layer.hidden_size for layer in model.recurrent] == [len(nodes) for nodes in layered.layers]
    assert model.skip_pairs == ((0, 2),)  # the edge 0->3 skips layer 1
    gates = GATES[cell]
    # layer 2 reads layer 1 (nodes 1, 2): node 3 <- 1, 2; node 4 <- 2
    main = model.recurrent[2].weight_ih_l0_mask
    assert main.shape == (gates * 2, 2) and main[0].tolist() == [1, 1] and main[1].tolist() == [0, 1]
    # the skip path reads layer 0 (node 0) into layer 2's width: only node 3 has the edge
    skip = model.skips[0].weight_ih_l0_mask
    assert skip.shape == (gates * 2, 1) and skip[:, 0].tolist() == [1, 0] * gates
    assert model.skips[0].hidden_size == 2
    t = _strings()
    paths = [model.recurrent[2], model.skips[0]]
    with torch.no_grad():
        for layer in [*model.recurrent, *model.skips]:  # keep ReLU units alive, so gradients reach every path
            layer.bias_ih_l0.fill_(1.0)
        before = model(t.tokens, t.lengths)
        for path in paths:  # change only weights off the edges
            path.weight_ih_l0_orig.add_((1 - path.weight_ih_l0_mask) * 10.0)
        after = model(t.tokens, t.lengths)
    torch.testing.assert_close(before, after)
    model.train()
    model(t.tokens, t.lengths).sum().backward()
    for path in paths:
        grad, mask = path.weight_ih_l0_orig.grad, path.weight_ih_l0_mask
        assert (grad[mask == 0] == 0).all()
        assert (grad[mask == 1] != 0).any()


def test_skip_paths_cover_every_layer_pair_joined_by_a_long_edge():
    layered = layered_dag(to_dag(nx.barabasi_albert_graph(30, 2, seed=3)))
    long_edges = {(layered.layer_of[u], layered.layer_of[v]) for u, v in layered.dag.edges()
                  if layered.layer_of[v] - layered.layer_of[u] > 1}
    assert set(skip_pairs(layered)) == long_edges
    model = StructuredRNN(layered, "gru", VOCABULARY, 4)
    assert len(model.skips) == len(long_edges)
    assert all(model.skips[k].hidden_size == len(layered.layers[target])
               for k, (_, target) in enumerate(model.skip_pairs))


def _assert_same_as_reference(model, reference, t):
    fast, slow = model(t.tokens, t.lengths), reference(t.tokens, t.lengths)
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)
    (fast.square().sum()).backward()
    (slow.square().sum()).backward()
    # the reference's cells are "cells.k" and name their weights weight_ih (the modules': weight_ih_l0)
    fast_grads = {name.replace("_l0", ""): p.grad for name, p in model.named_parameters()}
    slow_grads = {name.replace("cells.", "recurrent."): p.grad for name, p in reference.named_parameters()}
    assert fast_grads.keys() == slow_grads.keys()
    for name, grad in slow_grads.items():
        torch.testing.assert_close(fast_grads[name], grad, rtol=1e-4, atol=1e-5, msg=name)


@pytest.mark.parametrize("cell", CELLS)
def test_dense_model_equals_the_reference_loop(cell):
    torch.manual_seed(1)
    model = RecurrentClassifier(cell, VOCABULARY, 5, [9, 7, 6])
    _assert_same_as_reference(model, ReferenceRecurrentClassifier.like(model), _strings(24, 20))


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("graph", ["ba", "ws"])
def test_structured_wavefront_equals_the_reference_loop(cell, graph):
    """Deep graphs with skip paths over many layers: the wavefront must read every path's input at the right delay."""
    torch.manual_seed(2)
    g = (nx.barabasi_albert_graph(30, 2, seed=0) if graph == "ba" else nx.watts_strogatz_graph(16, 4, 0.3, seed=0))
    layered = layered_dag(to_dag(g))
    model = StructuredRNN(layered, cell, VOCABULARY, 5)
    assert model.skips and max(target - source for source, target in model.skip_pairs) > 2
    _assert_same_as_reference(model, ReferenceStructuredRNN.like(model, layered), _strings(20, 16))


@pytest.mark.parametrize("bug", ["extra_edge", "missing_edge", "missing_skip"])
def test_the_reference_catches_wrong_wiring(monkeypatch, bug):
    """The oracle wires itself from the DAG: a model built with a broken edge mask or skip list must disagree."""
    from sparsepipe.models import structured

    torch.manual_seed(2)
    layered = layered_dag(to_dag(nx.barabasi_albert_graph(30, 2, seed=0)))
    right_mask, right_pairs = structured.edge_mask, structured.skip_pairs

    broken = []

    def broken_mask(layered, source, target):
        mask = right_mask(layered, source, target).clone()
        flat = mask.view(-1)
        candidates = (flat == (0 if bug == "extra_edge" else 1)).nonzero()
        if len(candidates) and not broken:  # one wrong weight in the whole net
            flat[int(candidates[0])] = 1 - flat[int(candidates[0])]
            broken.append((source, target))
        return mask

    if bug == "missing_skip":
        monkeypatch.setattr(structured, "skip_pairs", lambda layered: right_pairs(layered)[:-1])
    else:
        monkeypatch.setattr(structured, "edge_mask", broken_mask)
    model = structured.StructuredRNN(layered, "gru", VOCABULARY, 5)
    t = _strings(20, 16)
    if bug == "missing_skip":
        with pytest.raises(ValueError, match="skip paths"):
            ReferenceStructuredRNN.like(model, layered)
        return
    assert broken
    reference = ReferenceStructuredRNN.like(model, layered)
    assert not torch.allclose(model(t.tokens, t.lengths), reference(t.tokens, t.lengths), rtol=1e-5, atol=1e-5)


def test_masks_added_later_reach_every_engine():
    """A mask put on a weight after construction (e.g. by pruning) must hold in the fast paths, which never call the
    module (so cannot rely on prune's pre-hook) -- including after the masked-off weights change."""
    from torch.nn.utils import prune

    torch.manual_seed(3)
    t = _strings(16, 16)
    for model in (StructuredRNN(layered_dag(DAG), "gru", VOCABULARY, 4),
                  RecurrentClassifier("gru", VOCABULARY, 4, [6])):
        prune.random_unstructured(model.recurrent[0], "weight_hh_l0", amount=0.5)
        reference = (ReferenceStructuredRNN.like(model, layered_dag(DAG)) if isinstance(model, StructuredRNN)
                     else ReferenceRecurrentClassifier.like(model))
        with torch.no_grad():
            model.recurrent[0].weight_hh_l0_orig.add_((1 - model.recurrent[0].weight_hh_l0_mask) * 5.0)
        torch.testing.assert_close(model(t.tokens, t.lengths), reference(t.tokens, t.lengths), rtol=1e-5, atol=1e-5)


def test_fused_module_path_equals_the_custom_gru():
    torch.manual_seed(4)
    model = RecurrentClassifier("gru", VOCABULARY, 5, [8, 8]).eval()
    t = _strings(16, 16)
    with torch.no_grad():
        x = model.embedding(t.tokens.t())
        fused = model.classifier(model.fused(x)[t.lengths - 1, torch.arange(len(t))])
        torch.testing.assert_close(model(t.tokens, t.lengths), fused, rtol=1e-5, atol=1e-6)


def test_unknown_cell_is_a_config_error():
    with pytest.raises(ConfigError, match="gru"):
        RecurrentClassifier("transformer", VOCABULARY, 4, [4])
    with pytest.raises(ConfigError, match="gru"):
        StructuredRNN(layered_dag(DAG), "transformer", VOCABULARY, 4)


def test_the_step_embedding_is_the_padded_embedding_laid_out_for_the_wavefront():
    """Values equal to nn.functional.embedding's bit for bit, gradients to float rounding, the pad row without any;
    the memory laid out (E, T, N), so the wavefront's copy reads rows of strings."""
    from sparsepipe.models.wavefront import step_embedding

    torch.manual_seed(3)
    weight = torch.randn(VOCABULARY, 6)
    split = tensors_of(generate_reber(40, 2, 12, seed=3), "train")
    tokens = split.tokens[:, : int(split.lengths.max())]
    assert (tokens == 0).any()  # padded strings: the pad row is read and must take no gradient
    upstream = torch.randn(*tokens.shape, 6)
    results = []
    for embed in (step_embedding, lambda w, t: torch.nn.functional.embedding(t, w, padding_idx=0)):
        leaf = weight.clone().requires_grad_()
        out = embed(leaf, tokens)
        (out * upstream).sum().backward()
        results.append((out.detach(), leaf.grad))
    (fast, fast_grad), (plain, plain_grad) = results
    assert torch.equal(fast, plain)
    torch.testing.assert_close(fast_grad, plain_grad, rtol=1e-5, atol=1e-6)
    assert not fast_grad[0].any() and fast_grad[1:].abs().sum() > 0
    assert fast.permute(2, 1, 0).is_contiguous()  # (E, T, N) in memory
