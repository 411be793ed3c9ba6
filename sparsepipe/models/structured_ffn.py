"""Graph-structured feed-forward classifiers (the 2019 predecessor of the paper embedded DAGs into image nets).

Input -> one masked linear layer per DAG layer -> output. The sources (layer 0) read the whole input densely; a
node of a later layer reads the activated outputs of its predecessors in *any* earlier layer (skip edges included),
through a linear layer over the concatenated earlier outputs whose weights are masked with torch.nn.utils.prune
so that connections exist only along edges. The output layer reads the sinks.

Every node is one unit, so a graph with one source (or one node a layer) squeezes the whole net through a single
unit. With ReLU such a unit can die and take the net down to chance: in short trainings on Fashion-MNIST (2 epochs,
3,000 images) 44% of random BA/WS graphs ended at exactly 10%, and a graph's repeated trainings spread as widely as
different graphs did. tanh never dies there (4% at chance) and the spread between graphs is 4x the spread between
seeds, which is what a search or a structure-only predictor needs; hence the ``activation`` choice.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import prune

from sparsepipe.graphs.layering import LayeredDAG

ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh, "leaky_relu": nn.functional.leaky_relu}


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

    def __init__(self, layered: LayeredDAG, inputs: int, classes: int, activation: str = "relu"):
        super().__init__()
        self.activation = ACTIVATIONS[activation]
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
            outputs.append(self.activation(layer(source)))
        return self.output(torch.cat(outputs, dim=1)[:, self.sink_index])
