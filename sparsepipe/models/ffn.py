"""Feed-forward classifiers whose linear layers carry torch.nn.utils.prune masks when pruned."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from sparsepipe.errors import ConfigError


class MLP(nn.Sequential):
    """``inputs -> hidden[0] -> ... -> classes`` with ReLU between linear layers."""

    def __init__(self, inputs: int, hidden: Sequence[int], classes: int):
        widths = [inputs, *hidden, classes]
        layers: list[nn.Module] = []
        for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            layers.append(nn.Linear(fan_in, fan_out))
            if i < len(widths) - 2:
                layers.append(nn.ReLU())
        super().__init__(*layers)


def linear_layers(model: nn.Module) -> list[nn.Linear]:
    """The prunable layers, input to output."""
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def hidden_widths(arch: str) -> list[int]:
    """Hidden widths from an architecture name: '100' -> [100], '300-100' -> [300, 100]."""
    try:
        widths = [int(w) for w in arch.split("-")]
    except ValueError:
        widths = []
    if not widths or min(widths) < 1:
        raise ConfigError(f"ffn.archs: {arch!r} is not hidden widths joined by '-', e.g. '100' or '300-100'")
    return widths
