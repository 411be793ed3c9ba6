"""The Triton wavefront steps (sparsepipe.models.gpu_steps) without a GPU: their arithmetic through Triton's
interpreter against the plain path (training step by step, all four cells), their compilation for an H200-class GPU
(sm_90, by Triton's own ptxas), and the one-line fallback where they cannot run. On a GPU they also run compiled
(tests/test_capture.py, bench/cuda_graphs.py)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import networkx as nx
import pytest
import torch

from sparsepipe.data.reber import VOCABULARY, generate_reber, tensors_of
from sparsepipe.graphs import layered_dag, to_dag
from sparsepipe.models import fused, gpu_steps
from sparsepipe.models.batching import bucketed_batches
from sparsepipe.models.population import RecurrentPopulation, population_loss
from sparsepipe.models.structured import StructuredRNN

CELLS = ["gru", "lstm", "rnn_tanh", "rnn_relu"]
# small, so that the interpreter (each program run in numpy, one after another) takes seconds; with buckets cut at
# an overhead of 8 they form two buckets, one padding 2-unit paths to 4 units, the other 1-input paths to 4 inputs
GRAPHS = [
    layered_dag(to_dag(nx.barabasi_albert_graph(7, 2, seed=0))),
    layered_dag(nx.DiGraph([(0, 1), (1, 2), (2, 3), (0, 3)])),
    layered_dag(nx.DiGraph([(0, k) for k in range(1, 5)] + [(k, 5) for k in range(1, 5)])),
]

try:
    import triton  # noqa: F401
    HAVE_TRITON = True
except ImportError:
    HAVE_TRITON = False
needs_triton = pytest.mark.skipif(not HAVE_TRITON, reason="Triton is not installed (it comes with torch's CUDA build)")


@pytest.fixture
def modes():
    """Restore both kernel switches (and a fallback's state) after a test flips them."""
    before = dict(gpu_steps._state), fused._state["mode"]
    yield
    gpu_steps._state.clear()
    gpu_steps._state.update(before[0])
    fused.use(before[1])


def _population(cell: str) -> RecurrentPopulation:
    members = []
    for k, layered in enumerate(GRAPHS):
        torch.manual_seed(20 + k)
        members.append(StructuredRNN(layered, cell, VOCABULARY, 3 + k))
    return RecurrentPopulation(members, bucket_overhead=8)


def _train(cell: str, steps: int = 2, device: str = "cpu") -> tuple[list[float], list[torch.Tensor]]:
    """Losses of ``steps`` SGD steps (batches of 20 strings: two blocks of 16 in the kernels, the second partial)
    and the final parameters; SGD moves parameters by what the gradients differ (see tests/test_fused.py)."""
    population = _population(cell).to(device)
    optimizer = torch.optim.SGD(population.parameters(), lr=0.5)
    split = tensors_of(generate_reber(60, 2, 10, seed=5), "train")
    losses = []
    batches = bucketed_batches((split.tokens, split.lengths, split.labels), 20, torch.Generator().manual_seed(0))
    for step, (tokens, lengths, labels) in enumerate(batches):
        if step == steps:
            break
        optimizer.zero_grad()
        loss = population_loss(population(tokens.to(device), lengths.to(device)), labels.to(device))
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses, [p.detach().clone() for p in population.parameters()]


def _compare_in_interpreter() -> dict:
    """Run in a child process with TRITON_INTERPRET=1: each cell trained by the plain path and by the Triton
    steps, interpreted on the CPU. Returns the losses and the largest parameter differences."""
    gpu_steps.MAX_BLOCK_N = 16
    buckets = _population("gru").wavefront.buckets
    results = {"buckets": [(b.paths, b.units, sorted(set(b.path_units.tolist()))) for b in buckets]}
    for cell in CELLS:
        gpu_steps.use("off")
        fused.use("plain")
        plain, plain_params = _train(cell)
        gpu_steps.use("interpret")
        fused.use("auto")  # populations.kernels: plain turns the Triton steps off too
        calls = {"forward": 0, "backward": 0}
        originals = {name: getattr(gpu_steps.Kernels, f"{name}_step") for name in calls}
        for name, method in originals.items():  # count the launches: the Triton path really ran

            def counted(self, *args, _method=method, _name=name, _calls=calls, **kwargs):
                _calls[_name] += 1
                return _method(self, *args, **kwargs)
            setattr(gpu_steps.Kernels, f"{name}_step", counted)
        try:
            quick, quick_params = _train(cell)
        finally:
            for name, method in originals.items():
                setattr(gpu_steps.Kernels, f"{name}_step", method)
        results[cell] = {
            "plain": plain, "triton": quick, "calls": calls, "failed": gpu_steps._state["failed"],
            "max_abs": max((a - b).abs().max().item() for a, b in zip(plain_params, quick_params, strict=True)),
            "max_rel": max(((a - b).abs() / (a.abs() + 1e-3)).max().item()
                           for a, b in zip(plain_params, quick_params, strict=True)),
            "equal": all(torch.equal(a, b) for a, b in zip(plain_params, quick_params, strict=True)),
            "verified": gpu_steps._state["verified"].get((cell, "cpu"))}
    results["skewed"] = _skewed_kernels_fall_back()
    return results


def _skewed_kernels_fall_back() -> dict:
    """A forward kernel 0.1% off (as a race or a miscompile might leave it): the check before the first step
    catches it, and training is the fallback's (here the C path) bit for bit."""
    gpu_steps.use("off")
    fused.use("auto")
    reference, reference_params = _train("gru")
    gpu_steps._state.update(verified={}, failed="", mode="interpret")
    original = gpu_steps.Kernels.forward_step

    def skewed(self, cell, plan, st, out, *args):
        original(self, cell, plan, st, out, *args)
        out.mul_(1.001)
    gpu_steps.Kernels.forward_step = skewed
    try:
        rng = torch.get_rng_state()
        gpu_steps.verify("gru", torch.zeros(1))
        rng_kept = torch.equal(rng, torch.get_rng_state())
        losses, params = _train("gru")
    finally:
        gpu_steps.Kernels.forward_step = original
    return {"failed": gpu_steps._state["failed"], "rng_kept": rng_kept, "same_losses": losses == reference,
            "same_params": all(torch.equal(a, b) for a, b in zip(params, reference_params, strict=True))}


@needs_triton
@pytest.mark.slow
def test_the_triton_steps_train_like_the_plain_path():
    env = {**os.environ, "TRITON_INTERPRET": "1", "SPARSEPIPE_GPU_STEPS": "interpret"}
    done = subprocess.run([sys.executable, __file__], env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    buckets = results.pop("buckets")
    skewed = results.pop("skewed")
    assert skewed["failed"].startswith("the gru kernels differ from the plain path on cpu by ")
    assert skewed["rng_kept"] and skewed["same_losses"] and skewed["same_params"], skewed
    assert len(buckets) >= 2 and any(min(units) < width for _, width, units in buckets)
    for cell, found in results.items():
        assert not found["failed"], (cell, found["failed"])
        assert found["calls"]["forward"] > 0 and found["calls"]["backward"] > 0, cell
        assert len(found["plain"]) == 2 and found["triton"] == pytest.approx(found["plain"], rel=1e-5, abs=1e-6), cell
        assert found["max_rel"] < 1e-4, (cell, found)
        assert not found["equal"], cell  # the kernels ran: sums in another order, not bit for bit
        assert 0 < found["verified"] < gpu_steps.TOLERANCE, cell  # checked against the plain path before step one


@needs_triton
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("cell", CELLS)
def test_the_compiled_triton_steps_train_like_the_plain_path_on_cuda(cell, modes):
    """Compiled, on a GPU, under the pipeline's deterministic CUDA setting: the same check as the interpreter's,
    and two runs equal to the bit."""
    gpu_steps.MAX_BLOCK_N = 16
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        gpu_steps.use("off")
        plain, plain_params = _train(cell, device="cuda")
        gpu_steps.use("auto")
        fused.use("auto")
        quick, quick_params = _train(cell, device="cuda")
        again, again_params = _train(cell, device="cuda")
    finally:
        gpu_steps.MAX_BLOCK_N = 128
        torch.use_deterministic_algorithms(False)
    assert not gpu_steps._state["failed"]
    # no atomics: the same numbers bit for bit on every run
    assert again == quick and all(torch.equal(a, b) for a, b in zip(quick_params, again_params, strict=True))
    assert quick == pytest.approx(plain, rel=1e-5, abs=1e-6)
    for a, b in zip(plain_params, quick_params, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
    assert any(not torch.equal(a, b) for a, b in zip(plain_params, quick_params, strict=True))


@needs_triton
@pytest.mark.parametrize("cell", CELLS)
def test_the_kernels_compile_for_an_h200(cell):
    """Every kernel of buckets 1, 5 and 24 units wide compiles to sm_90 machine code (H100/H200), here without a
    GPU: what the interpreter cannot show (its Python runs any shape; the compiler checks types and layouts). And
    the tiles fit the registers: at most a few bytes spilled (ptxas -v)."""
    for units in (1, 5, 24):
        found = gpu_steps.compile_for(90, cell, units)
        assert set(found) == {"forward", "backward", "table_add"}
        assert all(k["cubin"] > 1000 and k["registers"] <= 255 and k["spilled"] <= 64 for k in found.values()), found


def test_without_the_interpreter_the_cpu_falls_back_with_one_warning(modes, caplog):
    """``interpret`` on the CPU needs TRITON_INTERPRET set before Triton's import; without it (or without Triton)
    one warning names the reason, and training is the plain path's, bit for bit."""
    if os.environ.get("TRITON_INTERPRET"):
        pytest.skip("this process interprets Triton")
    fused.use("auto")
    gpu_steps.use("off")
    plain, _ = _train("gru", steps=1)  # what runs without the Triton steps: the C path (or plain, without cc)
    gpu_steps._state.update(kernels={}, failed="")
    gpu_steps.use("interpret")
    with caplog.at_level(logging.WARNING):
        losses, _ = _train("gru", steps=1)
        _train("gru", steps=1)
    warnings = [r.getMessage() for r in caplog.records if "Triton wavefront steps unavailable" in r.getMessage()]
    assert len(warnings) == 1
    assert ("TRITON_INTERPRET" in warnings[0]) if HAVE_TRITON else ("ImportError" in warnings[0])
    assert losses == plain


def test_a_compile_error_falls_back_before_the_first_step(modes, caplog, monkeypatch):
    """A kernel that does not compile (checked before any step runs) leaves the batch to the plain path whole."""
    class Broken:
        def __init__(self, interpret: bool):
            pass

        def check(self, cell, plan, like):
            raise RuntimeError("PassManager::run failed\nand more lines")

    monkeypatch.setattr(gpu_steps, "Kernels", Broken)
    fused.use("auto")
    gpu_steps.use("off")
    plain, _ = _train("lstm", steps=2)
    gpu_steps._state.update(kernels={}, failed="")
    gpu_steps.use("interpret")
    with caplog.at_level(logging.WARNING):
        losses, _ = _train("lstm", steps=2)
    warnings = [r.getMessage() for r in caplog.records if "Triton wavefront steps unavailable" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].endswith("RuntimeError: PassManager::run failed")
    assert losses == plain


def test_an_unknown_mode_is_named():
    with pytest.raises(ValueError, match="gpu steps: expected one of auto, off, interpret; got 'fast'"):
        gpu_steps.use("fast")


def test_blocks_are_powers_of_two_within_the_tile():
    assert gpu_steps.block_n(1, 128, 1024) == (2, 128)
    assert gpu_steps.block_n(5, 7, 1024) == (8, 16)  # at least 16 strings
    assert gpu_steps.block_n(20, 128, 1024) == (32, 32)
    assert gpu_steps.block_n(20, 128, 512) == (32, 16)
    assert gpu_steps.block_n(8, 45, 1024) == (8, 64)  # no more than the batch needs
    assert gpu_steps.table_block(300) == 128 and gpu_steps.table_block(20) == 32


if __name__ == "__main__":  # the interpreter's side of test_the_triton_steps_train_like_the_plain_path
    print(json.dumps(_compare_in_interpreter()))
