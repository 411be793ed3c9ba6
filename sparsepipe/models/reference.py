"""Reference implementations: a plain Python time-step loop over masked cells (nn.GRUCell/LSTMCell/RNNCell).

This is what a straightforward implementation of the paper's networks looks like, and it serves twice: as the
correctness oracle for the fast models (same weights, same masks -> same outputs to 1e-5) and as the baseline
the speed benchmarks in ``bench/`` measure against. Masks are torch.nn.utils.prune masks on the cells' weights,
applied by prune's own forward pre-hook; nothing here is clever on purpose.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils import prune

from sparsepipe.graphs.layering import LayeredDAG
from sparsepipe.models.rnn import GATES, RecurrentClassifier, at_last_step, recurrent_module, trim
from sparsepipe.models.rnn import WEIGHTS as LAYER_WEIGHTS
from sparsepipe.models.structured import StructuredRNN, edge_mask, skip_pairs

WEIGHTS = tuple(name.removesuffix("_l0") for name in LAYER_WEIGHTS)  # a cell names them without the suffix


def recurrent_cell(cell: str, inputs: int, hidden: int) -> nn.RNNCellBase:
    """The single-step counterpart of :func:`sparsepipe.models.rnn.recurrent_layer` (same parameter shapes)."""
    return recurrent_module(cell, inputs, hidden, single_step=True)


def copy_layer_into_cell(layer: nn.RNNBase, cell: nn.RNNCellBase) -> None:
    """Give ``cell`` the weights and prune masks of the single-layer module ``layer`` (``weight_ih_l0`` -> ...)."""
    with torch.no_grad():
        for name in WEIGHTS:
            mask = getattr(layer, f"{name}_l0_mask", None)
            source = getattr(layer, f"{name}_l0_orig" if mask is not None else f"{name}_l0")
            if hasattr(cell, f"{name}_orig"):
                prune.remove(cell, name)
            getattr(cell, name).copy_(source)
            if mask is not None:
                prune.custom_from_mask(cell, name, mask.clone())


def step(cell: nn.RNNCellBase, x: torch.Tensor, state: tuple[torch.Tensor, ...] | torch.Tensor | None):
    """One time step; returns the new state (``(h, c)`` for LSTM, ``h`` otherwise)."""
    return cell(x) if state is None else cell(x, state)


def hidden_of(state: tuple[torch.Tensor, ...] | torch.Tensor) -> torch.Tensor:
    return state[0] if isinstance(state, tuple) else state


class ReferenceRecurrentClassifier(nn.Module):
    """:class:`RecurrentClassifier` as a Python loop over time and layers."""

    def __init__(self, cell: str, vocabulary: int, embedding: int, hidden: Sequence[int], classes: int = 2):
        super().__init__()
        self.embedding = nn.Embedding(vocabulary, embedding, padding_idx=0)
        widths = [embedding, *hidden]
        self.cells = nn.ModuleList(recurrent_cell(cell, a, b) for a, b in zip(widths[:-1], widths[1:], strict=True))
        self.classifier = nn.Linear(widths[-1], classes)

    @classmethod
    def like(cls, model: RecurrentClassifier) -> ReferenceRecurrentClassifier:
        """A reference with ``model``'s weights and masks."""
        hidden = [layer.hidden_size for layer in model.recurrent]
        reference = cls(model.cell, model.embedding.num_embeddings, model.embedding.embedding_dim, hidden,
                        model.classifier.out_features)
        reference.embedding.load_state_dict(model.embedding.state_dict())
        reference.classifier.load_state_dict(model.classifier.state_dict())
        for layer, cell in zip(model.recurrent, reference.cells, strict=True):
            copy_layer_into_cell(layer, cell)
        return reference

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = self.embedding(trim(tokens, lengths))
        states: list = [None] * len(self.cells)
        tops = []
        for t in range(x.shape[1]):
            inputs = x[:, t]
            for index, cell in enumerate(self.cells):
                states[index] = step(cell, inputs, states[index])
                inputs = hidden_of(states[index])
            tops.append(inputs)
        return self.classifier(at_last_step(torch.stack(tops, dim=1), lengths))


class ReferenceStructuredRNN(nn.Module):
    """:class:`StructuredRNN` as a Python loop: every time step, every layer in order, its skip paths after it."""

    def __init__(self, layered: LayeredDAG, cell: str, vocabulary: int, embedding: int, classes: int = 2):
        super().__init__()
        widths = [len(nodes) for nodes in layered.layers]
        self.embedding = nn.Embedding(vocabulary, embedding, padding_idx=0)
        self.cells = nn.ModuleList([recurrent_cell(cell, embedding, widths[0])])
        for index in range(1, len(widths)):
            self.cells.append(recurrent_cell(cell, widths[index - 1], widths[index]))
            prune.custom_from_mask(self.cells[-1], "weight_ih", edge_mask(layered, index - 1, index).repeat(
                GATES[cell], 1))
        self.skip_pairs = skip_pairs(layered)
        self.skips = nn.ModuleList()
        for source, target in self.skip_pairs:
            self.skips.append(recurrent_cell(cell, widths[source], widths[target]))
            prune.custom_from_mask(self.skips[-1], "weight_ih",
                                   edge_mask(layered, source, target).repeat(GATES[cell], 1))
        order = [node for nodes in layered.layers for node in nodes]
        self.sink_index = [order.index(s) for s in layered.sinks]
        self.classifier = nn.Linear(len(layered.sinks), classes)

    @classmethod
    def like(cls, model: StructuredRNN, layered: LayeredDAG) -> ReferenceStructuredRNN:
        """A reference with ``model``'s weights and masks (``layered``: the DAG ``model`` was built from)."""
        reference = cls(layered, model.cell, model.embedding.num_embeddings, model.embedding.embedding_dim,
                        model.classifier.out_features)
        reference.embedding.load_state_dict(model.embedding.state_dict())
        reference.classifier.load_state_dict(model.classifier.state_dict())
        for layer, cell in zip([*model.recurrent, *model.skips], [*reference.cells, *reference.skips], strict=True):
            copy_layer_into_cell(layer, cell)
        return reference

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = self.embedding(trim(tokens, lengths))
        states: list = [None] * len(self.cells)
        skip_states: list = [None] * len(self.skips)
        into = {layer: [k for k, (_, target) in enumerate(self.skip_pairs) if target == layer]
                for layer in range(len(self.cells))}
        sinks = []
        for t in range(x.shape[1]):
            outputs: list[torch.Tensor] = []  # each layer's output at time t: hidden state + skip paths into it
            for index, cell in enumerate(self.cells):
                states[index] = step(cell, x[:, t] if index == 0 else outputs[index - 1], states[index])
                out = hidden_of(states[index])
                for k in into[index]:
                    skip_states[k] = step(self.skips[k], outputs[self.skip_pairs[k][0]], skip_states[k])
                    out = out + hidden_of(skip_states[k])
                outputs.append(out)
            sinks.append(torch.cat(outputs, dim=1)[:, self.sink_index])
        return self.classifier(at_last_step(torch.stack(sinks, dim=1), lengths))
