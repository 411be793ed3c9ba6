"""Recurrent classifiers on token sequences (the Reber grammar), for four cell types.

Each recurrent layer is its own single-layer torch module, so its input-to-hidden (``weight_ih_l0``) and
hidden-to-hidden (``weight_hh_l0``) weights can carry torch.nn.utils.prune masks while the fused kernels run.
Sequences are packed, so a string's prediction reads the state at its last *real* step: padding never leaks in.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

from sparsepipe.errors import ConfigError

CELLS = ("gru", "lstm", "rnn_tanh", "rnn_relu")
GATES = {"gru": 3, "lstm": 4, "rnn_tanh": 1, "rnn_relu": 1}


def recurrent_layer(cell: str, inputs: int, hidden: int) -> nn.RNNBase:
    """One single-layer recurrent module of type ``cell``."""
    if cell == "gru":
        return nn.GRU(inputs, hidden, batch_first=True)
    if cell == "lstm":
        return nn.LSTM(inputs, hidden, batch_first=True)
    if cell in ("rnn_tanh", "rnn_relu"):
        return nn.RNN(inputs, hidden, nonlinearity=cell.removeprefix("rnn_"), batch_first=True)
    raise ConfigError(f"unknown cell {cell!r}; expected one of {list(CELLS)}")


def run_layer(layer: nn.RNNBase, packed: PackedSequence) -> tuple[PackedSequence, torch.Tensor]:
    """Run one layer; returns its packed outputs and its state at each sequence's last real step (N, H)."""
    output, state = layer(packed)
    if isinstance(state, tuple):  # LSTM: (h, c)
        state = state[0]
    return output, state[-1]


def pack(embedded: torch.Tensor, lengths: torch.Tensor) -> PackedSequence:
    return pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)


class RecurrentClassifier(nn.Module):
    """Embedding -> stacked recurrent layers -> linear classifier on the last real step."""

    def __init__(self, cell: str, vocabulary: int, embedding: int, hidden: Sequence[int], classes: int = 2):
        super().__init__()
        self.embedding = nn.Embedding(vocabulary, embedding, padding_idx=0)
        widths = [embedding, *hidden]
        self.recurrent = nn.ModuleList(
            recurrent_layer(cell, fan_in, fan_out) for fan_in, fan_out in zip(widths[:-1], widths[1:], strict=True)
        )
        self.classifier = nn.Linear(widths[-1], classes)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack(self.embedding(tokens), lengths)
        for layer in self.recurrent:
            packed, last = run_layer(layer, packed)
        return self.classifier(last)
