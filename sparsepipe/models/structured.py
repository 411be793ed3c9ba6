"""Graph-structured recurrent networks: a layered DAG turned into a recurrent classifier, as Stier et al. build it.

- One recurrent layer per DAG layer; its units are the layer's nodes. The sources (layer 0) read the token
  embedding densely.
- Layer ``l > 0`` reads layer ``l - 1``'s output through input-to-hidden weights masked (torch.nn.utils.prune)
  to the edges between the two layers, the mask repeated over the gates.
- Skip connections: for every pair of layers ``j < l - 1`` joined by edges, a skip path -- a recurrent layer of
  the same cell type from layer ``j``'s output to layer ``l``'s width, its input weights masked to the edges
  ``j -> l`` -- whose output is *added* to layer ``l``'s output. A layer's output (what later layers and the
  classifier read) is its own hidden state plus the outputs of the skip paths into it.
- Within a layer (and a skip path) the recurrence is dense. As in the paper's code (deepstruct's
  ArbitraryStructureRNN), a skip path spans layer ``l``'s full width, so its dense recurrence also reaches units of
  ``l`` that have no edge from ``j``; only its *input* weights follow the edges.
- The classifier reads the sinks' outputs at each string's last real step.

The forward pass runs all layers and skip paths together as one diagonal wavefront
(:mod:`sparsepipe.models.wavefront`); :class:`sparsepipe.models.reference.ReferenceStructuredRNN` is the plain
time-step loop it is tested against.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import prune

from sparsepipe.graphs.layering import LayeredDAG
from sparsepipe.models.masks import effective_weight
from sparsepipe.models.rnn import GATES, check_cell, recurrent_layer, trim
from sparsepipe.models.wavefront import EMBEDDING, Wavefront, step_embedding


def edge_mask(layered: LayeredDAG, source: int, target: int) -> torch.Tensor:
    """(|layer target|, |layer source|): 1 where an edge joins a node of layer ``source`` to one of ``target``."""
    sources, targets = layered.layers[source], layered.layers[target]
    column = {node: k for k, node in enumerate(sources)}
    mask = torch.zeros(len(targets), len(sources))
    for row, node in enumerate(targets):
        for parent in layered.dag.predecessors(node):
            if parent in column:
                mask[row, column[parent]] = 1.0
    return mask


def skip_pairs(layered: LayeredDAG) -> tuple[tuple[int, int], ...]:
    """Layer pairs ``(j, l)`` with ``j < l - 1`` joined by at least one edge, sorted by ``l`` then ``j``."""
    pairs = {(layered.layer_of[u], layered.layer_of[v]) for u, v in layered.dag.edges()}
    return tuple(sorted(((source, target) for source, target in pairs if source < target - 1),
                        key=lambda pair: (pair[1], pair[0])))


def masked_path(cell: str, layered: LayeredDAG, source: int, target: int) -> nn.RNNBase:
    """A recurrent layer from DAG layer ``source`` to ``target`` whose input weights exist only along edges."""
    layer = recurrent_layer(cell, len(layered.layers[source]), len(layered.layers[target]))
    prune.custom_from_mask(layer, "weight_ih_l0", edge_mask(layered, source, target).repeat(GATES[cell], 1))
    return layer


class StructuredRNN(nn.Module):
    """A recurrent classifier whose wiring is a layered DAG.

    ``recurrent[l]`` is DAG layer ``l``'s recurrent layer; ``skips[k]`` is the skip path ``skip_pairs[k]``.
    """

    def __init__(self, layered: LayeredDAG, cell: str, vocabulary: int, embedding: int, classes: int = 2):
        super().__init__()
        check_cell(cell)
        self.cell = cell
        widths = [len(nodes) for nodes in layered.layers]
        self.embedding = nn.Embedding(vocabulary, embedding, padding_idx=0)
        self.recurrent = nn.ModuleList([recurrent_layer(cell, embedding, widths[0])])
        self.recurrent.extend(masked_path(cell, layered, index - 1, index) for index in range(1, len(widths)))
        self.skip_pairs = skip_pairs(layered)
        self.skips = nn.ModuleList(masked_path(cell, layered, source, target) for source, target in self.skip_pairs)
        paths = [(EMBEDDING, 0), *((index - 1, index) for index in range(1, len(widths))), *self.skip_pairs]
        self.layer_widths, self.path_pairs = tuple(widths), tuple(paths)  # read by sparsepipe.models.population
        self.wavefront = Wavefront(cell, widths, paths, embedding)
        order = [node for nodes in layered.layers for node in nodes]
        self.register_buffer("sink_column", torch.tensor([order.index(s) for s in layered.sinks]), persistent=False)
        self.register_buffer("sink_layer", torch.tensor([layered.layer_of[s] for s in layered.sinks]),
                             persistent=False)
        self.classifier = nn.Linear(len(layered.sinks), classes)

    def paths_in_order(self) -> list[nn.RNNBase]:
        """The recurrent modules in the order of ``path_pairs`` (the wavefront's paths)."""
        return [*self.recurrent, *self.skips]

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        embedded = step_embedding(effective_weight(self.embedding), trim(tokens, lengths))
        steps = embedded.shape[1] + self.wavefront.depth - 1
        read = (lengths, self.sink_layer, self.sink_column)
        sinks = self.wavefront(self.paths_in_order(), embedded, steps, read=read)
        return self.classifier(sinks)
