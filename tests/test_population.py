"""Populations train exactly like their members alone; padding is inert; failures stay with their member."""

from __future__ import annotations

import math

import networkx as nx
import pytest
import torch

from sparsepipe import populations
from sparsepipe.data.reber import VOCABULARY, generate_reber, tensors_of
from sparsepipe.errors import ConfigError, GraphError
from sparsepipe.graphs import layered_dag, to_dag
from sparsepipe.models.batching import bucketed_batches
from sparsepipe.models.population import FeedForwardPopulation, RecurrentPopulation, member_losses
from sparsepipe.models.rnn import CELLS
from sparsepipe.models.structured import StructuredRNN
from sparsepipe.models.structured_ffn import StructuredFFN
from sparsepipe.train import batches

# mixed depths, widths and skip patterns: a deep BA graph with long skips, a wide shallow WS graph, a chain with one
# long skip edge (depth 6), and a two-layer graph
GRAPHS = [
    layered_dag(to_dag(nx.barabasi_albert_graph(18, 2, seed=0))),
    layered_dag(to_dag(nx.watts_strogatz_graph(12, 4, 0.6, seed=1))),
    layered_dag(nx.DiGraph([(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (0, 5)])),
    layered_dag(nx.DiGraph([(0, 2), (1, 2), (1, 3)])),
]


def _strings(n: int = 96):
    t = tensors_of(generate_reber(n, 2, 14, seed=3), "train")
    return t.tokens, t.lengths, t.labels


def _recurrent(cell: str) -> list[StructuredRNN]:
    members = []
    for k, layered in enumerate(GRAPHS):
        torch.manual_seed(100 + k)
        members.append(StructuredRNN(layered, cell, VOCABULARY, 3 + k))  # embedding widths differ too
    return members


def _feed_forward(activation: str = "tanh") -> list[StructuredFFN]:
    members = []
    for k, layered in enumerate(GRAPHS):
        torch.manual_seed(200 + k)
        members.append(StructuredFFN(layered, 20, 4, activation))
    return members


def _train_steps(model, data, batcher, steps: int, population: bool) -> list[torch.Tensor]:
    """Per-step losses of Adam training on one seeded batch order (each member's mean loss in a population)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02, fused=True)
    losses = []
    for step, (*inputs, labels) in enumerate(batcher(data, 16, torch.Generator().manual_seed(9))):
        if step == steps:
            break
        optimizer.zero_grad()
        output = model(*inputs)
        loss = member_losses(output, labels) if population else torch.nn.functional.cross_entropy(output, labels)
        loss.sum().backward()
        optimizer.step()
        losses.append(loss.detach())
    return losses


def _check_same_training(alone, together, data, batcher, steps: int = 6) -> None:
    population = (RecurrentPopulation if isinstance(together[0], StructuredRNN) else FeedForwardPopulation)(together)
    pooled = torch.stack(_train_steps(population, data, batcher, steps, population=True))  # (steps, K)
    assert pooled.shape == (steps, len(alone))
    for k, member in enumerate(alone):
        own = torch.stack(_train_steps(member, data, batcher, steps, population=False))
        torch.testing.assert_close(pooled[:, k], own, rtol=1e-5, atol=1e-5)
    population.unpack()
    with torch.no_grad():
        *inputs, _ = data
        for member, trained in zip(alone, together, strict=True):
            member.eval(), trained.eval()
            torch.testing.assert_close(trained(*inputs), member(*inputs), rtol=1e-4, atol=1e-4)
            assert torch.equal(trained(*inputs).argmax(1), member(*inputs).argmax(1))


@pytest.mark.parametrize("cell", CELLS)
def test_a_mixed_recurrent_population_trains_like_each_member_alone(cell):
    _check_same_training(_recurrent(cell), _recurrent(cell), _strings(), bucketed_batches)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_a_mixed_feed_forward_population_trains_like_each_member_alone(activation):
    torch.manual_seed(0)
    data = (torch.randn(96, 20), torch.randint(0, 4, (96,)))
    _check_same_training(_feed_forward(activation), _feed_forward(activation), data, batches)


def _padding(population) -> dict[str, torch.Tensor]:
    """Each packed parameter's padding: entries that belong to no member."""
    def free(packing, size):
        used = torch.zeros(size, dtype=torch.bool)
        for index in packing.index:
            used[index] = True
        return ~used

    if isinstance(population, RecurrentPopulation):
        return {"weight": free(population._weights, population.weight.numel()),
                "bias_ih": free(population._biases[0], population.bias_ih.numel()),
                "bias_hh": free(population._biases[1], population.bias_hh.numel())}
    out = {"output_weight": free(population._output, population.output_weight.numel())}
    for k, ((weights, biases, _), weight, bias) in enumerate(zip(population._layers, population.weights,
                                                                 population.biases, strict=True)):
        out[f"weights.{k}"] = free(weights, weight.numel())
        out[f"biases.{k}"] = free(biases, bias.numel())
    return out


@pytest.mark.parametrize("kind", ["gru", "lstm", "ffn"])
def test_padding_never_receives_a_gradient_nor_changes_an_output(kind):
    if kind == "ffn":
        population, data = FeedForwardPopulation(_feed_forward()), (torch.randn(32, 20), torch.randint(0, 4, (32,)))
    else:
        population, data = RecurrentPopulation(_recurrent(kind)), _strings(32)
    *inputs, labels = data
    padding = _padding(population)
    assert all(mask.any() for mask in padding.values())  # the members differ, so every packed tensor is padded
    member_losses(population(*inputs), labels).sum().backward()
    parameters = dict(population.named_parameters())
    for name, mask in padding.items():
        assert parameters[name].grad.reshape(-1)[mask].abs().max() == 0, name
    with torch.no_grad():
        before = population(*inputs)
        for name, mask in padding.items():
            parameters[name].view(-1)[mask] = torch.randn(int(mask.sum())) * 10
        torch.testing.assert_close(population(*inputs), before, rtol=0, atol=0)


def test_a_member_that_cannot_be_built_fails_alone_named():
    data = _strings(64)

    def broken():
        raise GraphError("ba-0007: has no edges; a structural prior needs a path from a source to a sink")

    candidates = [populations.Candidate("ba-0001#0", 1, lambda: StructuredRNN(GRAPHS[2], "gru", VOCABULARY, 3)),
                  populations.Candidate("ba-0007#0", 2, broken),
                  populations.Candidate("ba-0002#0", 3, lambda: StructuredRNN(GRAPHS[3], "gru", VOCABULARY, 3))]
    outcomes = [o for part in populations.train(
        candidates, data, data, make_optimizer=lambda p: torch.optim.Adam(p, lr=0.01), epochs=1, batch_size=32,
        batch_seed=0, populations={"size": "auto", "memory_gb": 1}, device=torch.device("cpu"),
        batcher=bucketed_batches) for o in part]
    by_key = {o.key: o for o in outcomes}
    assert "ba-0007" in by_key["ba-0007#0"].error and math.isnan(by_key["ba-0007#0"].accuracy)
    assert all(0 <= by_key[k].accuracy <= 1 and by_key[k].error == "" for k in ("ba-0001#0", "ba-0002#0"))
    assert by_key["ba-0001#0"].population == 2


def test_populations_fit_the_memory_budget_and_a_net_over_it_is_named():
    members = [(populations.Candidate(f"g{k}", k, None), m) for k, m in enumerate(_recurrent("gru"))]
    each = [populations.memory_bytes([m], 128, 20) for _, m in members]
    budget = 1.5 * max(each) / populations.GIB
    groups = populations.group(members, 128, 20, "auto", budget)
    assert sum(len(g) for g in groups) == len(members) and len(groups) > 1
    assert all(populations.memory_bytes([m for _, m in g], 128, 20) <= budget * populations.GIB for g in groups)
    assert [len(g) for g in populations.group(members, 128, 20, 2, 100.0)] == [2, 2]
    biggest, second = sorted(range(len(each)), key=each.__getitem__, reverse=True)[:2]
    tight = (each[biggest] + each[second]) / 2 / populations.GIB
    with pytest.raises(ConfigError, match=rf"populations.memory_gb: g{biggest} alone needs .* over the budget of "):
        populations.group(members, 128, 20, "auto", tight)


def test_the_memory_estimate_covers_what_a_batch_takes():
    """The estimate sizes populations, so it must not undercount the wavefront's buffers."""
    population = RecurrentPopulation(_recurrent("lstm"))
    tokens, lengths, labels = _strings(64)
    population(tokens, lengths).sum().backward()
    taken = sum(block.numel() * 4 for block in population.wavefront.workspace.free)
    assert populations.memory_bytes(population.members, 64, int(lengths.max())) >= taken


def test_an_interrupted_population_resumes_from_its_checkpoint_and_ends_the_same(tmp_path):
    data = _strings(96)
    candidates = [populations.Candidate(f"g{k}#0", k, lambda k=k: StructuredRNN(GRAPHS[k], "gru", VOCABULARY, 3))
                  for k in range(3)]
    common = {"make_optimizer": lambda p: torch.optim.Adam(p, lr=0.02), "epochs": 3, "batch_size": 16,
              "batch_seed": 4, "populations": {"size": "auto", "memory_gb": 1}, "device": torch.device("cpu"),
              "checkpoint": str(tmp_path / "shard.population"), "settings": {"lr": 0.02}}
    calls = {"n": 0}

    def dies_in_epoch_two(tensors, batch_size, generator=None):
        for batch in bucketed_batches(tensors, batch_size, generator):
            calls["n"] += 1
            if generator is not None and calls["n"] > 8:  # 6 training batches an epoch
                raise KeyboardInterrupt
            yield batch

    with pytest.raises(KeyboardInterrupt):
        list(populations.train(candidates, data, data, batcher=dies_in_epoch_two, **common))
    assert len(list(tmp_path.glob("shard.population.*.partial"))) == 1  # epoch 1 checkpointed
    resumed = [o for part in populations.train(candidates, data, data, batcher=bucketed_batches, **common)
               for o in part]
    assert not list(tmp_path.glob("shard.population.*.partial"))
    fresh = [o for part in populations.train(candidates, data, data, batcher=bucketed_batches,
                                              **(common | {"checkpoint": None})) for o in part]
    assert [(o.key, o.accuracy, o.loss) for o in resumed] == [(o.key, o.accuracy, o.loss) for o in fresh]
