"""Graph-structured recurrent networks: a layered DAG turned into a recurrent classifier.

Every DAG layer becomes one recurrent layer whose units are the layer's nodes. The sources (layer 0) read the
token embedding; a node of a later layer reads, at the same time step, the outputs of its predecessors in any
earlier layer (skip edges included), through the input-to-hidden weights masked with torch.nn.utils.prune so
that connections exist only along edges (the mask repeated over the gates). Within a layer the recurrence is
dense. The classifier reads the sinks' states at each string's last real step.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import prune
from torch.nn.utils.rnn import PackedSequence

from sparsepipe.graphs.layering import LayeredDAG
from sparsepipe.models.rnn import GATES, pack, recurrent_layer, run_layer


def input_masks(layered: LayeredDAG, cell: str) -> list[torch.Tensor | None]:
    """The input-to-hidden mask of each layer (``None`` for layer 0, which reads the embedding densely)."""
    masks: list[torch.Tensor | None] = [None]
    earlier: list[int] = list(layered.layers[0])
    for nodes in layered.layers[1:]:
        column = {node: j for j, node in enumerate(earlier)}
        mask = torch.zeros(len(nodes), len(earlier))
        for i, node in enumerate(nodes):
            for parent in layered.dag.predecessors(node):
                mask[i, column[parent]] = 1.0
        masks.append(mask.repeat(GATES[cell], 1))
        earlier.extend(nodes)
    return masks


class StructuredRNN(nn.Module):
    """A recurrent classifier whose wiring is a layered DAG."""

    def __init__(self, layered: LayeredDAG, cell: str, vocabulary: int, embedding: int, classes: int = 2):
        super().__init__()
        self.embedding = nn.Embedding(vocabulary, embedding, padding_idx=0)
        widths = [len(nodes) for nodes in layered.layers]
        self.recurrent = nn.ModuleList()
        fan_in = embedding
        for index, mask in enumerate(input_masks(layered, cell)):
            layer = recurrent_layer(cell, fan_in, widths[index])
            if mask is not None:
                prune.custom_from_mask(layer, "weight_ih_l0", mask)
            self.recurrent.append(layer)
            fan_in = sum(widths[: index + 1])
        order = [node for nodes in layered.layers for node in nodes]
        self.register_buffer("sink_index", torch.tensor([order.index(s) for s in layered.sinks]))
        self.classifier = nn.Linear(len(layered.sinks), classes)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack(self.embedding(tokens), lengths)
        outputs: list[torch.Tensor] = []  # packed data of every layer so far, (steps, width)
        states: list[torch.Tensor] = []
        for index, layer in enumerate(self.recurrent):
            if index > 0:
                data = torch.cat(outputs, dim=1)
                packed = PackedSequence(data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
            output, last = run_layer(layer, packed)
            outputs.append(output.data)
            states.append(last)
        return self.classifier(torch.cat(states, dim=1)[:, self.sink_index])
