"""What a layer computes with, read through its forward pass: for checks that must not read the weights that
torch.nn.utils.prune's own forward pre-hook has just zeroed (``layer.weight`` is ``weight_orig * weight_mask``
by construction, so testing it for zeros where the mask is 0 cannot fail)."""

import torch
from torch import nn


def computed_weight(layer: nn.Linear) -> torch.Tensor:
    """The (out, in) matrix ``layer`` applies to its input: its outputs on the unit vectors, less the bias."""
    with torch.no_grad():
        eye = torch.eye(layer.in_features, dtype=layer.bias.dtype)
        return (layer(eye) - layer.bias).T
