"""CUDA-graph training steps (sparsepipe.capture): padding to fixed lengths changes no number (on the CPU), and on a
GPU the captured steps train like the eager ones, with a one-line fallback where capture fails."""

from __future__ import annotations

import logging

import networkx as nx
import pytest
import torch

from sparsepipe import capture
from sparsepipe.data.reber import VOCABULARY, generate_reber, tensors_of
from sparsepipe.graphs import layered_dag, to_dag
from sparsepipe.models import fused
from sparsepipe.models.batching import bucketed_batches
from sparsepipe.models.population import FeedForwardPopulation, RecurrentPopulation, population_loss
from sparsepipe.models.structured import StructuredRNN
from sparsepipe.models.structured_ffn import StructuredFFN
from sparsepipe.train import fit

CELLS = ["gru", "lstm", "rnn_tanh", "rnn_relu"]
GRAPHS = [
    layered_dag(to_dag(nx.barabasi_albert_graph(18, 2, seed=0))),
    layered_dag(to_dag(nx.watts_strogatz_graph(12, 4, 0.6, seed=1))),
    layered_dag(nx.DiGraph([(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (0, 5)])),
]
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")


def _strings(n: int = 160, seed: int = 3):
    t = tensors_of(generate_reber(n, 2, 20, seed=seed), "train")
    return t.tokens, t.lengths, t.labels


def _recurrent(cell: str, device: str = "cpu") -> RecurrentPopulation:
    members = []
    for k, layered in enumerate(GRAPHS):
        torch.manual_seed(100 + k)
        members.append(StructuredRNN(layered, cell, VOCABULARY, 3 + k))
    return RecurrentPopulation(members).to(device)


def _feed_forward(device: str = "cpu") -> FeedForwardPopulation:
    members = []
    for k, layered in enumerate(GRAPHS):
        torch.manual_seed(200 + k)
        members.append(StructuredFFN(layered, 20, 4, "tanh"))
    return FeedForwardPopulation(members).to(device)


def _images(n: int = 160):
    generator = torch.Generator().manual_seed(5)
    return torch.randn(n, 20, generator=generator), torch.randint(0, 4, (n,), generator=generator)


def _fit(model: torch.nn.Module, data, *, capture_steps: bool = False, batcher=bucketed_batches,
         epochs: int = 3) -> tuple[list[float], list[torch.Tensor]]:
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02, fused=next(model.parameters()).is_cuda)
    history = fit(model, optimizer, data, epochs, 32, 7, batcher=batcher, criterion=population_loss,
                  capture=capture_steps)
    return [record["train_loss"] for record in history], [p.detach().cpu() for p in model.parameters()]


def _padded_batcher(length_step: int):
    def batcher(tensors, batch_size, generator=None):
        for batch in bucketed_batches(tensors, batch_size, generator):
            yield capture.padded(batch, length_step)
    return batcher


def test_padding_rounds_the_longest_string_up_and_leaves_images_alone():
    tokens = torch.arange(1, 25).view(2, 12)
    lengths = torch.tensor([11, 9])
    labels = torch.tensor([0, 1])
    out_tokens, out_lengths, out_labels = capture.padded((tokens, lengths, labels), 8)
    assert out_tokens.shape == (2, 16)  # 11 rounded up to 16
    assert torch.equal(out_tokens[:, :12], tokens) and not out_tokens[:, 12:].any()
    assert capture.padded((tokens, torch.tensor([3, 2]), labels), 8)[0].shape == (2, 8)  # cut: 3 -> 8
    images = (torch.randn(4, 20), torch.tensor([0, 1, 2, 3]))
    assert capture.padded(images, 8) is images


@pytest.mark.parametrize("cell", CELLS)
def test_padded_steps_train_as_the_trimmed_batches(cell):
    """What capture relies on: strings padded past their batch's longest one (the model's own trim off) give the
    same losses and parameters, on whichever wavefront path runs here (the C path, or the plain one)."""
    data = _strings()
    trimmed_losses, trimmed = _fit(_recurrent(cell), data)
    model = _recurrent(cell)
    model.trims_batches = False
    padded_losses, padded = _fit(model, data, batcher=_padded_batcher(8))
    assert padded_losses == pytest.approx(trimmed_losses, rel=1e-6)
    for a, b in zip(padded, trimmed, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert trimmed_losses[-1] < trimmed_losses[0]  # it trained


@pytest.fixture
def plain_kernels():
    fused.use("plain")
    yield
    fused.use("auto")


@pytest.fixture
def deterministic():
    """torch's deterministic algorithms, as sparsepipe.train.deterministic_cuda sets them for CUDA runs."""
    torch.use_deterministic_algorithms(True, warn_only=True)
    yield
    torch.use_deterministic_algorithms(False)


def _with_tables(model: RecurrentPopulation, tables: bool) -> RecurrentPopulation:
    model.wavefront.deterministic_scatter = tables
    return model


@pytest.mark.parametrize("cell", CELLS)
def test_table_scatters_train_like_index_add(cell, plain_kernels):
    """The deterministic scatters (a sorted table per active slice, summed in a fixed order) that replace torch's
    sorting index_add_ on CUDA compute the same sums (in another order) on the plain path."""
    data = _strings()
    plain_losses, plain = _fit(_with_tables(_recurrent(cell), False), data)
    table_losses, tables = _fit(_with_tables(_recurrent(cell), True), data)
    assert table_losses == pytest.approx(plain_losses, rel=1e-5)
    for a, b in zip(tables, plain, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_a_captured_runs_optimizer_state_resumes_on_the_cpu(tmp_path):
    """A checkpoint of a captured CUDA run holds ``capturable`` param groups, which torch's Adam refuses on the CPU;
    fit resumes such a state there (here: an Adam made capturable on the CPU, as loading that checkpoint makes it)."""
    model = _recurrent("gru")
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02, capturable=True)
    history = fit(model, optimizer, _strings(), 1, 32, 7, batcher=bucketed_batches, criterion=population_loss)
    assert len(history) == 1 and history[0]["train_loss"] > 0


def test_capture_asks_nothing_of_the_cpu():
    """On the CPU ``capture=True`` trains eagerly, exactly as without it."""
    data = _strings()
    assert _fit(_recurrent("gru"), data, capture_steps=True)[0] == _fit(_recurrent("gru"), data)[0]


@cuda
@pytest.mark.parametrize("cell", CELLS)
def test_captured_steps_train_like_eager_ones_on_cuda(cell, caplog):
    data = _strings()
    eager_losses, eager = _fit(_recurrent(cell, "cuda"), data)
    with caplog.at_level(logging.INFO, logger="sparsepipe.capture"):
        captured_losses, captured = _fit(_recurrent(cell, "cuda"), data, capture_steps=True)
    assert "replayed" in caplog.text and "capture failed" not in caplog.text
    replayed = int(caplog.text.split("replayed ")[1].split()[0])
    assert replayed > 0  # graphs ran, not only eager steps
    assert captured_losses == pytest.approx(eager_losses, rel=1e-5)
    for a, b in zip(captured, eager, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@cuda
def test_captured_feed_forward_population_trains_like_eager_on_cuda():
    data = _images()
    eager_losses, eager = _fit(_feed_forward("cuda"), data)
    captured_losses, captured = _fit(_feed_forward("cuda"), data, capture_steps=True)
    assert captured_losses == pytest.approx(eager_losses, rel=1e-5)
    for a, b in zip(captured, eager, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@cuda
def test_a_failing_capture_falls_back_with_one_warning(monkeypatch, caplog):
    """A model that reads a value back to the host mid-step (here: its own trim, left on) cannot be captured: one
    warning line names the reason, and training goes on eagerly with the same numbers."""
    data = _strings()
    eager_losses, eager = _fit(_recurrent("gru", "cuda"), data)
    monkeypatch.setattr(capture.CapturedSteps, "_set_trimming", lambda self, value: None)
    with caplog.at_level(logging.WARNING, logger="sparsepipe.capture"):
        losses, params = _fit(_recurrent("gru", "cuda"), data, capture_steps=True)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "CUDA graph capture failed" in warnings[0].getMessage()
    assert losses == pytest.approx(eager_losses, rel=1e-5)
    for a, b in zip(params, eager, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@cuda
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_deterministic_captured_runs_repeat_bit_for_bit_on_cuda(cell, deterministic):
    """Under torch's deterministic algorithms (the pipeline's CUDA setting) the captured population uses the table
    scatters: two runs give the same numbers bit for bit, close to the atomics' numbers."""
    data = _strings()
    first_losses, first = _fit(_recurrent(cell, "cuda"), data, capture_steps=True)
    second_losses, second = _fit(_recurrent(cell, "cuda"), data, capture_steps=True)
    assert first_losses == second_losses
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    atomics_losses, _ = _fit(_with_tables(_recurrent(cell, "cuda"), False), data, capture_steps=True)
    assert first_losses == pytest.approx(atomics_losses, rel=1e-5)
