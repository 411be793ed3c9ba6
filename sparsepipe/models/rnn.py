"""Recurrent classifiers on token sequences (the Reber grammar), for four cell types.

Each recurrent layer is its own single-layer torch module, so its input-to-hidden (``weight_ih_l0``) and
hidden-to-hidden (``weight_hh_l0``) weights can carry torch.nn.utils.prune masks while the fused kernels run.

Batches are run *padded*, not packed: a unidirectional recurrence is causal, so the output at a string's last real
step never depends on the padding after it, and reading each string's output at ``length - 1`` gives exactly
what packing would. Padded input keeps the fused kernels on their fast CPU path (oneDNN for LSTM, input
projections precomputed for the whole sequence), which packed input loses; length-bucketed batches
(:mod:`sparsepipe.models.batching`) keep the padding small. Each batch is cut to its longest string first.

Engines (measured on CPU, bench/rnn_speed.py): LSTM and vanilla RNN layers run their module's fused kernel; GRU
layers on the CPU run :func:`sparsepipe.models.gru_sequence.gru_sequence` (same numbers, hand-written backward),
because PyTorch's CPU GRU is recorded by autograd op by op. On CUDA every layer runs its module (cuDNN).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from sparsepipe.errors import ConfigError
from sparsepipe.models.gru_sequence import gru_sequence
from sparsepipe.models.masks import effective_weight

CELLS = ("gru", "lstm", "rnn_tanh", "rnn_relu")
GATES = {"gru": 3, "lstm": 4, "rnn_tanh": 1, "rnn_relu": 1}


def check_cell(cell: str) -> None:
    if cell not in CELLS:
        raise ConfigError(f"unknown cell {cell!r}; expected one of {list(CELLS)}")


# torch's module per cell family: (whole sequence, single step); rnn_tanh / rnn_relu name the nonlinearity
_MODULES = {"gru": (nn.GRU, nn.GRUCell), "lstm": (nn.LSTM, nn.LSTMCell), "rnn": (nn.RNN, nn.RNNCell)}
# a single-layer module's parameters, in the order torch's fused kernels take them
WEIGHTS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")


def recurrent_module(cell: str, inputs: int, hidden: int, single_step: bool = False) -> nn.Module:
    """A torch recurrent module of type ``cell``: a single-layer sequence module, or its single-step cell (same
    parameter shapes, without the ``_l0`` suffix)."""
    check_cell(cell)
    family, _, nonlinearity = cell.partition("_")
    module = _MODULES[family][single_step]
    return module(inputs, hidden, nonlinearity=nonlinearity) if nonlinearity else module(inputs, hidden)


def recurrent_layer(cell: str, inputs: int, hidden: int) -> nn.RNNBase:
    """One single-layer recurrent module of type ``cell``, time first: (T, N, features), the layout the fused CPU
    kernels compute in (batch-first input costs them a transpose in and out)."""
    return recurrent_module(cell, inputs, hidden)


def trim(tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Cut the padding columns that no string of the batch reaches (batches come padded to the split's maximum)."""
    return tokens[:, : int(lengths.max())]


def at_last_step(outputs: torch.Tensor, lengths: torch.Tensor, time_first: bool = False) -> torch.Tensor:
    """``outputs[i, lengths[i] - 1]`` for every string i: (N, T, H) -> (N, H); (T, N, H) with ``time_first``.

    A flat ``index_select``: its backward is an ``index_add``, cheaper than advanced indexing's sorting one.
    """
    n, steps = len(lengths), outputs.shape[0 if time_first else 1]
    batch, last = torch.arange(n, device=outputs.device), lengths.to(outputs.device) - 1
    rows = last * n + batch if time_first else batch * steps + last
    return outputs.reshape(-1, outputs.shape[-1]).index_select(0, rows)


class RecurrentClassifier(nn.Module):
    """Embedding -> stacked recurrent layers -> linear classifier on the last real step."""

    def __init__(self, cell: str, vocabulary: int, embedding: int, hidden: Sequence[int], classes: int = 2):
        super().__init__()
        self.cell = cell
        self.embedding = nn.Embedding(vocabulary, embedding, padding_idx=0)
        widths = [embedding, *hidden]
        self.recurrent = nn.ModuleList(
            recurrent_layer(cell, fan_in, fan_out) for fan_in, fan_out in zip(widths[:-1], widths[1:], strict=True)
        )
        self.classifier = nn.Linear(widths[-1], classes)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = self.embedding(trim(tokens, lengths).t())  # time first
        if self.cell == "gru" and not x.is_cuda:
            for layer in self.recurrent:
                x = gru_sequence(layer, x)
        else:
            x = self.fused(x)
        return self.classifier(at_last_step(x, lengths, time_first=True))

    def fused(self, embedded: torch.Tensor) -> torch.Tensor:
        """The top layer's outputs (T, N, H) for ``embedded`` (T, N, E), through the fused kernels.

        On the CPU each layer calls its kernel directly with the (masked) weights: the module's own ``forward``
        costs ~25 us of Python per layer and step of training, a tenth of a small LSTM layer's time. On CUDA the
        modules are called (cuDNN wants their flattened weights; prune's pre-hook applies the masks)."""
        x = embedded
        if x.is_cuda:
            for layer in self.recurrent:
                x, _ = layer(x)
            return x
        kernel = _KERNELS[self.cell]
        for layer in self.recurrent:
            weights = [effective_weight(layer, name) for name in WEIGHTS]
            state = x.new_zeros(1, x.shape[1], layer.hidden_size)
            x = kernel(x, (state, state) if self.cell == "lstm" else state, weights, True, 1, 0.0, self.training,
                       False, False)[0]
        return x


# torch's fused sequence kernels, as nn.RNNBase.forward calls them:
# (input, hx, weights, has_biases, num_layers, dropout, train, bidirectional, batch_first)
_KERNELS = {"gru": torch.gru, "lstm": torch.lstm, "rnn_tanh": torch.rnn_tanh, "rnn_relu": torch.rnn_relu}
