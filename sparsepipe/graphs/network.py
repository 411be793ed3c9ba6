"""The graph of a (pruned) feed-forward network: one node per unit, one edge per surviving weight.

Units are numbered input to output: the ``widths[0]`` inputs are ``0..widths[0]-1``, then the first hidden layer's
units, and so on to the outputs; every node carries ``layer`` (0 = inputs) and ``unit`` (its index in that layer).
A weight ``W[j, i]`` of the ``l``-th linear layer whose mask is 1 (its ``weight_mask`` buffer from
``torch.nn.utils.prune``; a layer without one keeps every weight) becomes the edge from unit ``i`` of layer ``l`` to
unit ``j`` of layer ``l+1``; edges thus go from lower to higher index, as in every graph of the pipeline. Biases are
not edges. Every unit is a node, also one that lost every weight (an isolated node): the features of a network
drop those explicitly and count them (:func:`sparsepipe.features.network_features`).

No torch import is needed here: layers are read through their ``weight`` / ``weight_mask`` attributes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import networkx as nx
import numpy as np

from sparsepipe.errors import GraphError


def _mask_array(layer: Any, position: int) -> np.ndarray:
    """The keep-mask (out x in) of an ``nn.Linear`` (its ``weight_mask``, or all ones) or of a given mask."""
    if hasattr(layer, "weight"):
        mask = getattr(layer, "weight_mask", None)
        array = np.ones(tuple(layer.weight.shape), dtype=bool) if mask is None else _to_numpy(mask) != 0
    else:
        array = _to_numpy(layer) != 0
    if array.ndim != 2:
        raise GraphError(f"network layer {position}: expected a 2-D weight mask (out x in), got shape {array.shape}")
    return array


def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def network_graph(layers: Sequence[Any]) -> nx.DiGraph:
    """The DAG of surviving weights of ``layers`` (``nn.Linear`` from input to output, e.g.
    ``sparsepipe.models.ffn.linear_layers(model)``, or their 0/1 masks of shape out x in)."""
    masks = [_mask_array(layer, i) for i, layer in enumerate(layers)]
    if not masks:
        raise GraphError("network: no linear layers")
    for i in range(1, len(masks)):
        if masks[i].shape[1] != masks[i - 1].shape[0]:
            raise GraphError(f"network layer {i}: takes {masks[i].shape[1]} inputs but layer {i - 1} "
                             f"gives {masks[i - 1].shape[0]} outputs")
    widths = [masks[0].shape[1], *(mask.shape[0] for mask in masks)]
    offsets = np.concatenate([[0], np.cumsum(widths)])
    graph = nx.DiGraph()
    for layer, width in enumerate(widths):
        graph.add_nodes_from((int(offsets[layer]) + unit, {"layer": layer, "unit": unit}) for unit in range(width))
    for layer, mask in enumerate(masks):
        out_units, in_units = np.nonzero(mask)
        graph.add_edges_from(zip((in_units + offsets[layer]).tolist(), (out_units + offsets[layer + 1]).tolist(),
                                 strict=True))
    return graph
