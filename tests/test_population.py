"""Populations train exactly like their members alone; padding is inert; failures stay with their member."""

from __future__ import annotations

import logging
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
from sparsepipe.models.wavefront import Workspace
from sparsepipe.seeds import seed_everything
from sparsepipe.train import batches, evaluate, fit

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


def _strings_test(n: int = 64):
    t = tensors_of(generate_reber(n, 2, 14, seed=4), "train")
    return t.tokens, t.lengths, t.labels


def _check_same_training(builders, train_split, test_split, batcher, epochs: int = 2) -> None:
    """Members trained as populations by ``sparsepipe.populations.train`` (which trains with ``train.fit``) end
    where each one trained alone by ``train.fit`` ends: the same test loss and accuracy, to float tolerance."""
    candidates = [populations.Candidate(f"member {k}", 100 + k, build) for k, build in enumerate(builders)]
    common = {"epochs": epochs, "batch_size": 16, "batch_seed": 9, "batcher": batcher}

    def adam(parameters):
        return torch.optim.Adam(parameters, lr=0.02)

    together = {o.key: o for part in populations.train(
        candidates, train_split, test_split, make_optimizer=adam, populations={"size": "auto", "memory_gb": 1},
        device=torch.device("cpu"), **common) for o in part}
    assert len(together) == len(candidates) and {o.population for o in together.values()} == {len(candidates)}
    for candidate in candidates:
        seed_everything(candidate.seed)
        model = candidate.build()
        fit(model, adam(model.parameters()), train_split, common["epochs"], common["batch_size"],
            common["batch_seed"], batcher=batcher)
        alone = evaluate(model, test_split, common["batch_size"], batcher)
        outcome = together[candidate.key]
        assert outcome.error == ""
        assert outcome.loss == pytest.approx(alone.loss, rel=1e-4, abs=1e-6), candidate.key
        assert outcome.accuracy == pytest.approx(alone.accuracy, abs=1e-9), candidate.key


@pytest.mark.parametrize("cell", CELLS)
def test_a_mixed_recurrent_population_trains_like_each_member_alone(cell):
    builders = [lambda k=k: StructuredRNN(GRAPHS[k], cell, VOCABULARY, 3 + k) for k in range(len(GRAPHS))]  # widths
    _check_same_training(builders, _strings(), _strings_test(), bucketed_batches)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_a_mixed_feed_forward_population_trains_like_each_member_alone(activation):
    generator = torch.Generator().manual_seed(0)
    inputs, labels = torch.randn(160, 20, generator=generator), torch.randint(0, 4, (160,), generator=generator)
    builders = [lambda k=k: StructuredFFN(GRAPHS[k], 20, 4, activation) for k in range(len(GRAPHS))]
    _check_same_training(builders, (inputs[:96], labels[:96]), (inputs[96:], labels[96:]), batches)


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


def test_auto_caps_populations_on_the_cpu_and_fills_the_budget_elsewhere(caplog):
    """``size: auto`` on the CPU stops at the measured fastest size; on a GPU only the budget limits it."""
    members = []
    for k in range(populations.CPU_SIZE_CAP + 6):
        torch.manual_seed(k)
        members.append((populations.Candidate(f"g{k:03d}", k, None), StructuredRNN(GRAPHS[3], "gru", VOCABULARY, 3)))
    cpu = populations.group(members, 8, 10, "auto", 100.0, torch.device("cpu"))
    assert [len(g) for g in cpu] == [35, 35]  # two populations, as the cap needs, of equal size
    assert [len(g) for g in populations.group(members, 8, 10, "auto", 100.0, torch.device("cuda"))] == [len(members)]
    assert [len(g) for g in populations.group(members, 8, 10, 30, 100.0, torch.device("cpu"))] == [23, 24, 23]
    # a budget that fits 3 members: 4 members are cut 2 + 2, not 3 + 1
    few = members[:4]
    three = populations.memory_bytes([m for _, m in few[:3]], 8, 10) / populations.GIB
    assert [len(g) for g in populations.group(few, 8, 10, "auto", three)] == [2, 2]
    # and the log says what it chose and why
    split = _strings(16)
    candidates = [populations.Candidate(f"g{k:03d}", k, lambda: StructuredRNN(GRAPHS[3], "gru", VOCABULARY, 3))
                  for k in range(3)]
    with caplog.at_level(logging.INFO, logger="sparsepipe.populations"):
        list(populations.train(candidates, split, split, make_optimizer=lambda p: torch.optim.Adam(p), epochs=1,
                               batch_size=8, batch_seed=0, populations={"size": "auto", "memory_gb": 1},
                               device=torch.device("cpu")))
    assert any("3 members in 1 population(s) of 3 (auto: at most 64 on the CPU" in r.getMessage()
               for r in caplog.records)


def test_the_memory_estimate_covers_what_a_batch_takes():
    """The estimate sizes populations, so it must not undercount the wavefront's buffers."""
    population = RecurrentPopulation(_recurrent("lstm"))
    tokens, lengths, labels = _strings(64)
    population(tokens, lengths).sum().backward()
    taken = sum(block.numel() * 4 for block in population.wavefront.workspace.free)
    assert populations.memory_bytes(population.members, 64, int(lengths.max())) >= taken


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_the_in_place_estimate_covers_what_a_batch_of_the_c_path_takes(cell, monkeypatch):
    """The C path (and the Triton steps, same buffers) allocates no gathered block: the smaller estimate that
    sizes GPU populations still covers what a batch takes there."""
    from sparsepipe.models import fused, gpu_steps
    if fused.library() is None:
        pytest.skip("no C compiler here")
    monkeypatch.setitem(fused._state, "mode", "auto")
    monkeypatch.setitem(gpu_steps._state, "mode", "off")
    population = RecurrentPopulation(_recurrent(cell))
    tokens, lengths, labels = _strings(64)
    population(tokens, lengths).sum().backward()
    taken = sum(block.numel() * 4 for block in population.wavefront.workspace.free)
    in_place = populations.memory_bytes(population.members, 64, int(lengths.max()), inputs_in_place=True)
    assert taken <= in_place < populations.memory_bytes(population.members, 64, int(lengths.max()))


def test_gpu_populations_are_sized_by_the_in_place_estimate(monkeypatch):
    """On CUDA the Triton steps read inputs in place, so a budget between the two estimates holds all members in
    one population there, and needs two with the plain ops (grouping needs no GPU: only the device's type)."""
    from sparsepipe.models import fused, gpu_steps
    members = [(populations.Candidate(f"g{k}", k, None), m) for k, m in enumerate(_recurrent("lstm"))]
    models = [m for _, m in members]
    budget = (populations.memory_bytes(models, 128, 20, True) + populations.memory_bytes(models, 128, 20)) / 2
    monkeypatch.setitem(fused._state, "mode", "auto")
    monkeypatch.setitem(gpu_steps._state, "failed", "")
    cuda = torch.device("cuda")
    monkeypatch.setitem(gpu_steps._state, "mode", "auto")
    if not gpu_steps.would_run():
        pytest.skip("Triton is not installed")
    assert [len(g) for g in populations.group(members, 128, 20, "auto", budget / populations.GIB, cuda)] == [4]
    monkeypatch.setitem(gpu_steps._state, "mode", "off")
    assert len(populations.group(members, 128, 20, "auto", budget / populations.GIB, cuda)) == 2
    monkeypatch.setitem(gpu_steps._state, "mode", "auto")
    monkeypatch.setitem(fused._state, "mode", "plain")  # populations.kernels: plain
    assert len(populations.group(members, 128, 20, "auto", budget / populations.GIB, cuda)) == 2


def test_the_workspace_keeps_no_outgrown_blocks_so_the_estimate_holds_after_batches_of_growing_length():
    """Batches come in random length order; each longer one grows the workspace. Blocks outgrown by a longer batch
    are released, so what a population holds after many batches stays within the estimate for the longest one."""
    population = RecurrentPopulation(_recurrent("gru"))
    tokens, lengths, labels = _strings(256)
    order = lengths.argsort()
    for chunk in order.split(32):  # each batch longer than the one before
        population(tokens[chunk], lengths[chunk]).sum().backward()
    workspace = population.wavefront.workspace
    held = sum(block.numel() for block in workspace.free)
    assert all(block.numel() == workspace.largest for block in workspace.free)
    assert held <= 2 * workspace.largest
    assert populations.memory_bytes(population.members, 32, int(lengths.max())) >= 4 * held


def test_a_capture_workspace_keeps_every_block_it_served():
    """CUDA graphs replay into the blocks they were captured with, so capture's workspace never drops one."""
    like = torch.zeros(1)
    for release, kept in ((True, [300]), (False, [300, 200, 100])):
        workspace = Workspace(release=release)
        blocks = [workspace.take([(size,)], like)[0] for size in (100, 200, 300)]  # each batch longer
        for block in blocks:
            workspace.give(block)
        assert [block.numel() for block in workspace.free] == kept


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


def test_a_population_that_runs_out_of_memory_halves_and_gives_the_same_numbers(monkeypatch, caplog):
    """A device out of memory mid-training: the population is halved (logged) and each half trains from its members'
    seeds, ending exactly where populations of that size end."""
    data = _strings(64)
    candidates = [populations.Candidate(f"g{k}#0", k, lambda k=k: StructuredRNN(GRAPHS[k], "gru", VOCABULARY, 3))
                  for k in range(4)]
    common = {"make_optimizer": lambda p: torch.optim.Adam(p, lr=0.02), "epochs": 2, "batch_size": 16,
              "batch_seed": 4, "device": torch.device("cpu"), "batcher": bucketed_batches}
    real_fit = populations.fit
    calls = {"n": 0}

    def fit_with_a_small_device(population, *args, **kwargs):
        if population.size > 2:
            calls["n"] += 1
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_fit(population, *args, **kwargs)

    monkeypatch.setattr(populations, "fit", fit_with_a_small_device)
    with caplog.at_level("WARNING"):
        halved = [o for part in populations.train(candidates, data, data, populations={"size": "auto"}, **common)
                  for o in part]
    assert calls["n"] == 1 and "ran out of memory on cpu; halved into 2 + 2 members" in caplog.text
    monkeypatch.setattr(populations, "fit", real_fit)
    pairs = [o for part in populations.train(candidates, data, data, populations={"size": 2}, **common) for o in part]
    assert [(o.key, o.accuracy, o.loss, o.population) for o in halved] == [
        (o.key, o.accuracy, o.loss, o.population) for o in pairs]

    def always_fails(population, *args, **kwargs):
        raise RuntimeError("CUDA error: out of memory")

    monkeypatch.setattr(populations, "fit", always_fails)
    with pytest.raises(RuntimeError, match="out of memory"):  # one member that does not fit: the error stands
        list(populations.train(candidates[:1], data, data, populations={"size": "auto"}, **common))
    monkeypatch.setattr(populations, "fit", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("shape mismatch")))
    with pytest.raises(RuntimeError, match="shape mismatch"):  # other errors are not memory: never halved
        list(populations.train(candidates, data, data, populations={"size": "auto"}, **common))
