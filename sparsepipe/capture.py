"""Training steps as CUDA graphs: a population's whole step captured once per batch shape, then replayed.

On a GPU a population's batch is thousands of tiny kernels (per wavefront step and bucket: a gather, a matrix
product, the gates' elementwise passes, a scatter; the hand-written backward mirrors them), each launched from
Python: the device waits on the launches, not on the arithmetic. A CUDA graph records a step's kernels (forward,
backward, optimizer) once and replays them with one launch. What capture needs, and how it gets it here:

- **Fixed shapes.** A batch of strings is padded to its longest string's length rounded up to a multiple of
  ``length_step`` (and the model skips its own trim, which reads the lengths back to the host). A recurrence is
  causal and each string is read at its own last symbol, so the padded steps change no output and their gradients
  are exact zeros: the losses are the eager step's. One graph per (batch size, padded length); images need no
  padding.
- **No host synchronisation inside a step.** The loss comes back as a device tensor (:func:`sparsepipe.train.fit`
  sums it on the device); the optimizer keeps its step counts on the device (``capturable``); a constant learning
  rate (annealed or plateau-scheduled training is never captured: a graph would replay the captured rate).
- **Memory that outlives the capture.** The wavefront's scratch blocks (:class:`~.models.wavefront.Workspace`)
  come, during capture, from a workspace of this object's that never frees a block, so no graph replays into
  memory that something else took over. Graphs replay one after another on one stream, so they share it.

The first batch of a shape runs eagerly, on a side stream as torch's capture asks (it trains as usual and warms
up: optimizer state, cuBLAS handles); the second is captured and replayed, and so is every later one. Shapes beyond
``max_graphs`` run eagerly. A capture that fails (an operation that synchronises, a driver without graph support)
logs one warning line naming the reason, and that step and all later ones run eagerly, trimmed as before: capture
records kernels without running them, so the failed step changed nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from sparsepipe.data.reber import is_string_batch
from sparsepipe.models.wavefront import Wavefront, Workspace

log = logging.getLogger(__name__)

LENGTH_STEP = 8  # strings are padded to a multiple of this: few shapes, at most 7 padded steps per batch
MAX_GRAPHS = 16  # each graph keeps its own activations and gradients (~1 GB for 400 paper-scale members)


def padded(batch: tuple[torch.Tensor, ...], length_step: int = LENGTH_STEP) -> tuple[torch.Tensor, ...]:
    """A string batch with its tokens cut or padded (token 0) to its longest string rounded up to a multiple of
    ``length_step``; any other batch unchanged. Runs on the host, before the batch goes to the device."""
    if not is_string_batch(batch):
        return batch
    tokens, lengths, *rest = batch
    width = -(-int(lengths.max()) // length_step) * length_step
    if tokens.shape[1] >= width:
        tokens = tokens[:, :width]
    else:
        tokens = torch.cat([tokens, tokens.new_zeros(len(tokens), width - tokens.shape[1])], dim=1)
    return (tokens, lengths, *rest)


@dataclass
class _Graph:
    graph: torch.cuda.CUDAGraph
    inputs: list[torch.Tensor]  # the static tensors the graph reads: copy each batch in, then replay
    loss: torch.Tensor  # the static loss the graph writes


class CapturedSteps:
    """A training step of ``model`` that replays CUDA graphs: ``steps(batch)`` trains on one host batch and returns
    its loss (a device tensor, overwritten by the next step: consume it on the device's stream first). Use as a
    context manager around the epochs: it switches the model's own trimming off and back on."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer,
                 criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], label: str = "model",
                 length_step: int = LENGTH_STEP, max_graphs: int = MAX_GRAPHS):
        self.model, self.optimizer, self.criterion, self.label = model, optimizer, criterion, label
        self.length_step, self.max_graphs = length_step, max_graphs
        self.device = next(model.parameters()).device
        self.graphs: dict[tuple, _Graph] = {}
        self.seen: set[tuple] = set()
        self.failure = ""  # why capture failed, once it has
        self.replays = self.eager = 0
        self._trims = getattr(model, "trims_batches", None)
        self.workspaces = {plan: Workspace(release=False) for plan in model.modules() if isinstance(plan, Wavefront)}
        self.side = torch.cuda.Stream(self.device)
        for group in optimizer.param_groups:
            if "capturable" in group:  # Adam and friends: step counts on the device, bias corrections as tensors
                group["capturable"] = True

    def __enter__(self) -> CapturedSteps:
        self._set_trimming(False)
        return self

    def __exit__(self, *exc) -> None:
        self._set_trimming(self._trims)
        shapes = ", ".join(f"{shape[0][0]}x{shape[0][1]}" if len(shape[0]) == 2 else str(shape[0][0])
                           for shape in sorted(self.graphs))
        log.info("%s: CUDA graphs of %d batch shape(s) (%s) replayed %d of %d training batches%s", self.label,
                 len(self.graphs), shapes or "none", self.replays, self.replays + self.eager,
                 f"; capture failed: {self.failure}" if self.failure else "")

    def _set_trimming(self, value: bool | None) -> None:
        if value is not None:
            self.model.trims_batches = value

    def __call__(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        if self.failure:
            return self._eager(batch)
        host = padded(batch, self.length_step)
        shape = tuple(tuple(t.shape) for t in host)
        graph = self.graphs.get(shape)
        if graph is None and shape in self.seen and len(self.graphs) < self.max_graphs:
            graph = self._capture(host, shape)
            if graph is None:
                return self._eager(batch)
        if graph is None:
            first = shape not in self.seen
            self.seen.add(shape)
            return self._eager(host, warm_up=first and len(self.graphs) < self.max_graphs)
        for static, value in zip(graph.inputs, host, strict=True):
            static.copy_(value, non_blocking=True)
        graph.graph.replay()
        self.replays += 1
        return graph.loss

    def _step(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        *features, labels = inputs
        loss = self.criterion(self.model(*features), labels)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    def _eager(self, batch: tuple[torch.Tensor, ...], warm_up: bool = False) -> torch.Tensor:
        """One eager step; a shape's first (``warm_up``) on a side stream, as capture asks of the steps before it."""
        self.eager += 1
        inputs = [t.to(self.device, non_blocking=True) for t in batch]
        self.optimizer.zero_grad(set_to_none=True)
        if not warm_up:
            return self._step(inputs)
        self.side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(self.side):
            loss = self._step(inputs)
        torch.cuda.current_stream(self.device).wait_stream(self.side)
        return loss

    def _capture(self, host: tuple[torch.Tensor, ...], shape: tuple) -> _Graph | None:
        """The step captured for ``shape`` and replayed once on ``host`` (capture itself runs nothing); None, with
        one warning line, where capture fails."""
        inputs = [t.to(self.device) for t in host]
        self.optimizer.zero_grad(set_to_none=True)  # the graph's backward allocates its own gradients
        graph = torch.cuda.CUDAGraph()
        eager = {plan: plan.workspace for plan in self.workspaces}
        try:
            for plan, workspace in self.workspaces.items():
                plan.workspace = workspace
            with torch.cuda.graph(graph):
                loss = self._step(inputs)
        except Exception as error:  # any failure: the plain eager step is always there
            self.failure = " ".join(f"{type(error).__name__}: {error}".split())[:300]
            log.warning("%s: CUDA graph capture failed, training on without graphs: %s", self.label, self.failure)
            self.optimizer.zero_grad(set_to_none=True)
            self._set_trimming(self._trims)
            return None
        finally:
            for plan, workspace in eager.items():
                plan.workspace = workspace
        self.graphs[shape] = result = _Graph(graph, inputs, loss)
        return result
