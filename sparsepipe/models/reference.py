"""Reference implementations: a plain Python time-step loop over masked cells (nn.GRUCell/LSTMCell/RNNCell).

This is what a straightforward implementation of the paper's networks looks like, and it serves twice: as the
correctness oracle for the fast models (same weights, same masks -> same outputs to 1e-5) and as the baseline
the speed benchmarks in ``bench/`` measure against. Masks are torch.nn.utils.prune masks on the cells' weights,
applied by prune's own forward pre-hook; nothing here is clever on purpose. The structured reference derives its
wiring (which weights exist, which layer pairs have skip paths) from the DAG's edges itself, so that it checks
sparsepipe.models.structured's wiring rather than repeating it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils import prune

from sparsepipe.graphs.layering import LayeredDAG
from sparsepipe.models.rnn import GATES, RecurrentClassifier, at_last_step, recurrent_module, trim
from sparsepipe.models.rnn import WEIGHTS as LAYER_WEIGHTS
from sparsepipe.models.structured import StructuredRNN

WEIGHTS = tuple(name.removesuffix("_l0") for name in LAYER_WEIGHTS)  # a cell names them without the suffix


def recurrent_cell(cell: str, inputs: int, hidden: int) -> nn.RNNCellBase:
    """The single-step counterpart of :func:`sparsepipe.models.rnn.recurrent_layer` (same parameter shapes)."""
    return recurrent_module(cell, inputs, hidden, single_step=True)


def wiring(layered: LayeredDAG, source: int, target: int) -> torch.Tensor:
    """(|layer target|, |layer source|): 1 for every DAG edge from a node of layer ``source`` to one of ``target``."""
    mask = torch.zeros(len(layered.layers[target]), len(layered.layers[source]))
    for u, v in layered.dag.edges():
        if layered.layer_of[u] == source and layered.layer_of[v] == target:
            mask[layered.layers[target].index(v), layered.layers[source].index(u)] = 1.0
    return mask


def skip_paths(layered: LayeredDAG) -> list[tuple[int, int]]:
    """Layer pairs more than one layer apart that some DAG edge joins, in the order of the edges' targets."""
    pairs: list[tuple[int, int]] = []
    for target in range(len(layered.layers)):
        for source in range(target - 1):
            if wiring(layered, source, target).any():
                pairs.append((source, target))
    return pairs


def copy_layer_into_cell(layer: nn.RNNBase, cell: nn.RNNCellBase, own_masks: Sequence[str] = ()) -> None:
    """Give ``cell`` the weights and prune masks of the single-layer module ``layer`` (``weight_ih_l0`` -> ...);
    for the weights named in ``own_masks`` the cell keeps its own mask and takes only the unmasked values."""
    with torch.no_grad():
        for name in WEIGHTS:
            mask = getattr(layer, f"{name}_l0_mask", None)
            source = getattr(layer, f"{name}_l0_orig" if mask is not None else f"{name}_l0")
            if name in own_masks:
                getattr(cell, f"{name}_orig").copy_(source)
                continue
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
            prune.custom_from_mask(self.cells[-1], "weight_ih", wiring(layered, index - 1, index).repeat(
                GATES[cell], 1))
        self.skip_pairs = skip_paths(layered)
        self.skips = nn.ModuleList()
        for source, target in self.skip_pairs:
            self.skips.append(recurrent_cell(cell, widths[source], widths[target]))
            prune.custom_from_mask(self.skips[-1], "weight_ih", wiring(layered, source, target).repeat(GATES[cell], 1))
        order = [node for nodes in layered.layers for node in nodes]
        self.sink_index = [order.index(s) for s in layered.sinks]
        self.classifier = nn.Linear(len(layered.sinks), classes)

    @classmethod
    def like(cls, model: StructuredRNN, layered: LayeredDAG) -> ReferenceStructuredRNN:
        """A reference with ``model``'s weights (``layered``: the DAG ``model`` was built from). The input weights
        between DAG layers keep the reference's own wiring, not ``model``'s masks; other masks (e.g. pruned
        hidden-to-hidden weights) are copied. A ``model`` whose skip paths are not the DAG's is refused."""
        reference = cls(layered, model.cell, model.embedding.num_embeddings, model.embedding.embedding_dim,
                        model.classifier.out_features)
        reference.embedding.load_state_dict(model.embedding.state_dict())
        reference.classifier.load_state_dict(model.classifier.state_dict())
        if sorted(map(tuple, model.skip_pairs)) != sorted(reference.skip_pairs):
            raise ValueError(f"the model's skip paths {list(model.skip_pairs)} are not the DAG's "
                             f"{reference.skip_pairs}")
        skips = dict(zip(map(tuple, model.skip_pairs), model.skips, strict=True))
        copy_layer_into_cell(model.recurrent[0], reference.cells[0])
        for layer, cell in zip(model.recurrent[1:], reference.cells[1:], strict=True):
            copy_layer_into_cell(layer, cell, own_masks=("weight_ih",))
        for pair, cell in zip(reference.skip_pairs, reference.skips, strict=True):
            copy_layer_into_cell(skips[pair], cell, own_masks=("weight_ih",))
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
