"""Graph-structured feed-forward classifiers (the 2019 predecessor of the paper embedded DAGs into image nets).

Input -> one masked linear layer per DAG layer -> output. The sources (layer 0) read the whole input densely; a
node of a later layer reads the ReLU outputs of its predecessors in *any* earlier layer (skip edges included),
through a linear layer over the concatenated earlier outputs whose weights are masked with torch.nn.utils.prune
so that connections exist only along edges. The output layer reads the sinks.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import prune

from sparsepipe.graphs.layering import LayeredDAG


def edge_masks(layered: LayeredDAG) -> list[torch.Tensor]:
    """For every layer after the first: a (layer width, width of all earlier layers) 0/1 mask of its in-edges."""
    masks = []
    earlier: list[int] = list(layered.layers[0])
    for nodes in layered.layers[1:]:
        column = {node: j for j, node in enumerate(earlier)}
        mask = torch.zeros(len(nodes), len(earlier))
        for i, node in enumerate(nodes):
            for parent in layered.dag.predecessors(node):
                mask[i, column[parent]] = 1.0
        masks.append(mask)
        earlier.extend(nodes)
    return masks


class StructuredFFN(nn.Module):
    """A feed-forward classifier whose hidden wiring is a layered DAG."""

    def __init__(self, layered: LayeredDAG, inputs: int, classes: int):
        super().__init__()
        widths = [len(nodes) for nodes in layered.layers]
        self.hidden = nn.ModuleList([nn.Linear(inputs, widths[0])])
        for index, mask in enumerate(edge_masks(layered), start=1):
            layer = nn.Linear(sum(widths[:index]), widths[index])
            prune.custom_from_mask(layer, "weight", mask)
            self.hidden.append(layer)
        order = [node for nodes in layered.layers for node in nodes]
        self.register_buffer("sink_index", torch.tensor([order.index(s) for s in layered.sinks]))
        self.output = nn.Linear(len(layered.sinks), classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs: list[torch.Tensor] = []
        for index, layer in enumerate(self.hidden):
            source = x if index == 0 else torch.cat(outputs, dim=1)
            outputs.append(torch.relu(layer(source)))
        return self.output(torch.cat(outputs, dim=1)[:, self.sink_index])
