"""The fused gate kernels (sparsepipe.models.fused) against the plain path: same training, step by step."""

from __future__ import annotations

import logging

import networkx as nx
import pytest
import torch

from sparsepipe.data.reber import VOCABULARY, generate_reber, tensors_of
from sparsepipe.graphs import layered_dag, to_dag
from sparsepipe.models import fused
from sparsepipe.models.batching import bucketed_batches
from sparsepipe.models.population import RecurrentPopulation, population_loss
from sparsepipe.models.structured import StructuredRNN

GRAPHS = [
    layered_dag(to_dag(nx.barabasi_albert_graph(18, 2, seed=0))),
    layered_dag(to_dag(nx.watts_strogatz_graph(12, 4, 0.6, seed=1))),
    layered_dag(nx.DiGraph([(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (0, 5)])),
]


@pytest.fixture
def kernels_mode():
    """Restore the process's kernel mode after a test flips it."""
    before = fused._state["mode"]
    yield fused.use
    fused.use(before)


def _population(cell: str) -> RecurrentPopulation:
    members = []
    for k, layered in enumerate(GRAPHS):
        torch.manual_seed(10 + k)
        members.append(StructuredRNN(layered, cell, VOCABULARY, 3 + k))
    return RecurrentPopulation(members)


def test_the_test_populations_have_padded_paths():
    """The C path skips each path's padding (units and inputs beyond its own): the comparisons below only test that
    if some bucket holds paths narrower than its widest."""
    plan = _population("gru").wavefront
    assert any(min(b.path_units.tolist()) < b.units for b in plan.buckets)
    assert any(min(b.path_inputs.tolist()) < b.inputs for b in plan.buckets)


def _train(cell: str, mode: str, steps: int = 6) -> tuple[list[float], list[torch.Tensor]]:
    """Losses of ``steps`` SGD steps and the final parameters, with the kernels in ``mode``. SGD, not Adam: Adam's
    first step is lr * g / (|g| + eps), so a gradient of ~1e-8 (an idle unit's bias) turns float rounding into a
    tenth of a step; SGD moves parameters by what the gradients differ, which is what is compared."""
    fused.use(mode)
    population = _population(cell)
    optimizer = torch.optim.SGD(population.parameters(), lr=0.5)
    split = tensors_of(generate_reber(256, 2, 16, seed=5), "train")
    losses = []
    for step, (tokens, lengths, labels) in enumerate(bucketed_batches(
            (split.tokens, split.lengths, split.labels), 32, torch.Generator().manual_seed(0))):
        if step == steps:
            break
        optimizer.zero_grad()
        loss = population_loss(population(tokens, lengths), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses, [p.detach().clone() for p in population.parameters()]


@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn_tanh", "rnn_relu"])
def test_the_fused_kernels_train_like_the_plain_path(cell, kernels_mode):
    if fused.library() is None:
        pytest.skip("no C compiler here: the plain path is all there is")
    plain, plain_params = _train(cell, "plain")
    quick, quick_params = _train(cell, "auto")
    assert len(plain) == 6 and quick == pytest.approx(plain, rel=1e-5, abs=1e-6)
    for a, b in zip(plain_params, quick_params, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
    # and the fused path really ran: gradients differ at float rounding, not bit for bit
    assert any(not torch.equal(a, b) for a, b in zip(plain_params, quick_params, strict=True))


@pytest.mark.parametrize("strings", [64, 45, 7])
def test_the_fused_gradients_match_the_plain_ones_in_one_step(strings, kernels_mode):
    """Every parameter's gradient after one backward, all four cells. The C products run 32 strings at a time in
    registers and the rest one by one: 64 strings take the first way only, 7 the second only, 45 both."""
    if fused.library() is None:
        pytest.skip("no C compiler here")
    split = tensors_of(generate_reber(strings, 2, 16, seed=6), "train")
    for cell in ("gru", "lstm", "rnn_tanh", "rnn_relu"):
        grads = {}
        for mode in ("plain", "auto"):
            fused.use(mode)
            population = _population(cell)
            population_loss(population(split.tokens, split.lengths), split.labels).backward()
            grads[mode] = [p.grad.clone() for p in population.parameters()]
        for a, b in zip(grads["plain"], grads["auto"], strict=True):
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6)


def test_a_failing_compiler_falls_back_with_one_warning(monkeypatch, tmp_path, caplog, kernels_mode):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    monkeypatch.setenv("SPARSEPIPE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(fused._state, "tried", False)
    monkeypatch.setitem(fused._state, "library", None)
    fused.use("auto")
    with caplog.at_level(logging.WARNING):
        assert fused.library() is None
        assert fused.library() is None  # tried once, warned once
        losses, _ = _train("gru", "auto", steps=2)
    warnings = [r for r in caplog.records if "C wavefront unavailable" in r.getMessage()]
    assert len(warnings) == 1 and "no-such-compiler" in warnings[0].getMessage()
    plain, _ = _train("gru", "plain", steps=2)
    assert losses == plain  # the fallback is the plain path, bit for bit


def test_an_unknown_kernel_mode_is_named():
    with pytest.raises(ValueError, match="kernels: expected one of auto, plain; got 'fast'"):
        fused.use("fast")


@pytest.mark.parametrize("mode", ["auto", "plain"])
def test_reading_inside_the_wavefront_equals_reading_its_outputs(mode, kernels_mode):
    """``run(read=...)`` (what the models train with: no copy of every step's outputs) against ``read(run())``:
    the same values and the same gradients, through the C path and the plain one."""
    fused.use(mode)
    population = _population("gru")
    split = tensors_of(generate_reber(45, 2, 16, seed=7), "train")
    plan = population.wavefront
    embedded = torch.nn.functional.embedding(split.tokens, population.embedding, padding_idx=0)
    steps = embedded.shape[1] + plan.depth - 1
    read = (split.lengths, population.sink_level, population.sink_column)
    results = []
    for inside in (True, False):
        weights = population.weight.detach().clone().requires_grad_()
        bias = population.bias_ih.detach().clone().requires_grad_()
        source = embedded.detach().clone().requires_grad_()
        sinks = (plan.run(weights, bias, source, steps, read=read) if inside
                 else plan.read(plan.run(weights, bias, source, steps), *read))
        (sinks * torch.linspace(-1, 1, sinks.numel()).view_as(sinks)).sum().backward()
        results.append([sinks.detach(), weights.grad, bias.grad, source.grad])
    for a, b in zip(*results, strict=True):
        assert torch.equal(a, b)
