"""Populations: many small graph-structured nets trained together in one set of batched tensor operations.

The structure study and the genetic search train hundreds of nets of 10-50 units each. Trained one at a time,
such a net spends most of its time in per-operation overhead (~1 GFLOP/s on a CPU core; on a GPU it leaves the
device idle). A population lays K nets side by side so each batch costs a few large operations instead of K times
many small ones:

- recurrent nets (:class:`RecurrentPopulation`): all members' layers and paths form one diagonal wavefront
  (:mod:`sparsepipe.models.wavefront`); each layer keeps its own time level, each member's first layer reads its
  own embedding columns, the classifiers are one gather and one ``index_add``;
- feed-forward nets (:class:`FeedForwardPopulation`): every member's units sit in one padded row block of ``U``
  rows; DAG layer ``l`` of all members is one ``bmm`` over their padded ``(w_l, U)`` weights, added onto the
  members' rows with one ``index_add``.

Parameters are stored *packed* (members' weights scattered into padded tensors, prune masks packed beside them),
so an optimizer step is one fused operation over a handful of tensors. Padding entries start at zero, are
multiplied by a zero mask and never receive a gradient, so Adam (elementwise) leaves them at zero and each member
trains exactly as it would alone: same initialisation (members are built as single nets, then packed), same
batches, same per-member mean loss (the population's loss is the sum of its members' losses, so each member's
gradient is its own), same optimizer arithmetic. Only float summation order differs (tested to 1e-5).
:meth:`unpack` writes the trained values back into the member modules.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from sparsepipe.models.masks import mask_of, trainable
from sparsepipe.models.rnn import WEIGHTS, trim
from sparsepipe.models.structured import StructuredRNN
from sparsepipe.models.structured_ffn import StructuredFFN
from sparsepipe.models.wavefront import (
    BUCKET_OVERHEAD,
    EMBEDDING,
    Wavefront,
    buckets_of,
    step_embedding,
    workspace_bytes,
)


class _Packing:
    """Where each member tensor's entries live in one flat packed tensor (entry by entry, via an index)."""

    def __init__(self, size: int):
        self.size, self.index = size, []

    def add(self, index: torch.Tensor) -> None:
        self.index.append(index.reshape(-1))

    def pack(self, tensors: Sequence[torch.Tensor]) -> torch.Tensor:
        out = torch.zeros(self.size, dtype=tensors[0].dtype)
        for tensor, index in zip(tensors, self.index, strict=True):
            out[index] = tensor.detach().reshape(-1).cpu()
        return out

    def unpack(self, packed: torch.Tensor, tensors: Sequence[torch.Tensor]) -> None:
        flat = packed.detach().reshape(-1).cpu()
        for tensor, index in zip(tensors, self.index, strict=True):
            tensor.data.copy_(flat[index].view_as(tensor))


def member_losses(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(K,) each member's mean cross-entropy, for population logits (N, classes, K) and shared labels (N,)."""
    targets = labels[:, None].expand(-1, logits.shape[2])
    return nn.functional.cross_entropy(logits, targets, reduction="none").mean(0)


def population_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The sum of the members' mean losses: its gradient in each member's weights is that member's own."""
    return member_losses(logits, labels).sum()


class RecurrentPopulation(nn.Module):
    """Graph-structured recurrent nets (:class:`StructuredRNN`, one cell type) as one module.

    ``forward(tokens, lengths)`` gives logits (N, classes, K). The members are kept (not as submodules) so that
    :meth:`unpack` can write the trained weights back into them. ``trims_batches``: cut each batch to its longest
    string first (that reads the lengths back to the host); :mod:`sparsepipe.capture` switches it off and pads the
    batches itself, since a captured step must neither synchronise nor change shape.
    """

    trims_batches = True

    def __init__(self, members: Sequence[StructuredRNN], bucket_overhead: int = BUCKET_OVERHEAD):
        """``bucket_overhead``: a bucket's fixed cost per step in padded path-units (:func:`~.wavefront.buckets_of`;
        measured on the CPU; on a GPU, where a bucket's step is a few kernel launches and padding nearly free,
        fewer buckets may pay: bench/cuda_graphs.py --bucket-overhead)."""
        super().__init__()
        if not members:
            raise ValueError("a population needs at least one member")
        cells = {m.cell for m in members}
        if len(cells) != 1:
            raise ValueError(f"a recurrent population holds one cell type; got {sorted(cells)}")
        self.cell, self.members, self.size = members[0].cell, list(members), len(members)
        widths, levels, paths, slices, modules = [], [], [], [], []
        sink_level, sink_column, sink_member = [], [], []
        layer_offset = unit_offset = embedding_offset = 0
        for k, member in enumerate(members):
            embedding = member.embedding.embedding_dim
            widths += member.layer_widths
            levels += range(len(member.layer_widths))
            for source, target in member.path_pairs:
                if source == EMBEDDING:
                    paths.append((EMBEDDING, target + layer_offset))
                    slices.append((embedding_offset, embedding))
                else:
                    paths.append((source + layer_offset, target + layer_offset))
            modules += member.paths_in_order()
            sink_level += member.sink_layer.tolist()
            sink_column += (member.sink_column + unit_offset).tolist()
            sink_member += [k] * len(member.sink_layer)
            layer_offset += len(member.layer_widths)
            unit_offset += sum(member.layer_widths)
            embedding_offset += embedding
        self.wavefront = Wavefront(self.cell, widths, paths, embedding_offset, levels, slices, bucket_overhead)
        self.register_buffer("sink_level", torch.tensor(sink_level), persistent=False)
        self.register_buffer("sink_column", torch.tensor(sink_column), persistent=False)
        self.register_buffer("sink_member", torch.tensor(sink_member), persistent=False)
        self._modules_in_order = modules
        # the wavefront's flat packing: weight_ih of every path, weight_hh of every path, bias_ih, bias_hh
        plan = self.wavefront
        counts = [getattr(m, name).numel() for name in WEIGHTS for m in modules]
        pieces = plan.destination.cpu().split(counts)
        n = len(modules)
        self._weights = _Packing(plan.weight_size)
        for index in pieces[: 2 * n]:
            self._weights.add(index)
        self._biases = [_Packing(plan.bias_size) for _ in range(2)]
        for half, packing in enumerate(self._biases):
            for index in pieces[(2 + half) * n : (3 + half) * n]:
                packing.add(index - plan.weight_size)
        names = [name for name in WEIGHTS[:2] for _ in modules]
        sources = [m for _ in WEIGHTS[:2] for m in modules]
        self.weight = nn.Parameter(self._weights.pack([trainable(m, k) for m, k in zip(sources, names, strict=True)]))
        self.register_buffer("weight_mask", self._weights.pack(
            [mask_of(m, k) for m, k in zip(sources, names, strict=True)]))
        self.bias_ih = nn.Parameter(self._biases[0].pack([m.bias_ih_l0 for m in modules]))
        self.bias_hh = nn.Parameter(self._biases[1].pack([m.bias_hh_l0 for m in modules]))
        # each bias only where its module has entries: padded units' biases would otherwise learn from the gradient
        # the wavefront routes to its zero row, and (GRU) the candidate's input bias from its hidden bias's row
        ones = [torch.ones_like(m.bias_ih_l0) for m in modules]
        self.register_buffer("bias_ih_mask", self._biases[0].pack(ones))
        self.register_buffer("bias_hh_mask", self._biases[1].pack(ones))
        self.embedding = nn.Parameter(torch.cat([m.embedding.weight.detach() for m in members], dim=1))
        self.classifier_weight = nn.Parameter(torch.cat([m.classifier.weight.detach() for m in members], dim=1))
        self.classifier_bias = nn.Parameter(torch.stack([m.classifier.bias.detach() for m in members], dim=1))

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        tokens = trim(tokens, lengths) if self.trims_batches else tokens
        embedded = step_embedding(self.embedding, tokens)
        steps = embedded.shape[1] + self.wavefront.depth - 1
        bias = self.bias_ih * self.bias_ih_mask + self.bias_hh * self.bias_hh_mask
        sinks = self.wavefront.run(self.weight * self.weight_mask, bias, embedded, steps,
                                   read=(lengths, self.sink_level, self.sink_column))  # (N, all sinks)
        terms = sinks[:, None, :] * self.classifier_weight[None]  # (N, classes, all sinks)
        logits = terms.new_zeros(len(sinks), terms.shape[1], self.size).index_add(2, self.sink_member, terms)
        return logits + self.classifier_bias[None]

    @torch.no_grad()
    def unpack(self) -> list[StructuredRNN]:
        """Write the trained packed values back into the member modules; returns the members."""
        modules = self._modules_in_order
        self._weights.unpack(self.weight, [trainable(m, name) for name in WEIGHTS[:2] for m in modules])
        self._biases[0].unpack(self.bias_ih, [m.bias_ih_l0 for m in modules])
        self._biases[1].unpack(self.bias_hh, [m.bias_hh_l0 for m in modules])
        offsets = [0, *torch.tensor([m.embedding.embedding_dim for m in self.members]).cumsum(0).tolist()]
        sinks = [0, *torch.tensor([m.classifier.in_features for m in self.members]).cumsum(0).tolist()]
        for k, member in enumerate(self.members):
            member.embedding.weight.copy_(self.embedding[:, offsets[k] : offsets[k + 1]].cpu())
            member.classifier.weight.copy_(self.classifier_weight[:, sinks[k] : sinks[k + 1]].cpu())
            member.classifier.bias.copy_(self.classifier_bias[:, k].cpu())
        return self.members


def path_units(member: StructuredRNN) -> list[int]:
    """Units of each of a net's paths (the width of the layer it writes), in path order."""
    return [member.layer_widths[target] for _, target in member.path_pairs]


def recurrent_bytes(members: Sequence[StructuredRNN], batch: int, length: int, inputs_in_place: bool = False) -> int:
    """Bytes one training batch of ``batch`` strings of ``length`` symbols takes in a population of ``members``
    (the wavefront's buffers, bucketed as :class:`RecurrentPopulation` would bucket them, without building it;
    ``inputs_in_place``: see :func:`~.wavefront.workspace_bytes`)."""
    plans = [m.wavefront for m in members]
    units = [u for m in members for u in path_units(m)]
    fan_in = [m.embedding.embedding_dim if source == EMBEDDING else m.layer_widths[source]
              for m in members for source, _ in m.path_pairs]
    shapes = [(len(b), max(units[p] for p in b), max(fan_in[p] for p in b)) for b in buckets_of(units)]
    steps = length + max(p.depth for p in plans) - 1
    return workspace_bytes(members[0].cell, sum(p.outputs for p in plans), sum(p.embedding for p in plans), shapes,
                           max(p.window for p in plans), batch, steps, inputs_in_place=inputs_in_place)


class FeedForwardPopulation(nn.Module):
    """Graph-structured feed-forward nets (:class:`StructuredFFN`, one activation) as one module.

    Units live in a (K * U + 1, N) block, member k's units (in its layer order) at rows ``k * U + j``; the last
    row takes the padded rows' outputs (always zero). ``forward(x)`` gives logits (N, classes, K).
    """

    def __init__(self, members: Sequence[StructuredFFN]):
        super().__init__()
        if not members:
            raise ValueError("a population needs at least one member")
        activations = {m.activation for m in members}
        if len(activations) != 1:
            raise ValueError("a feed-forward population holds one activation")
        self.activation, self.members, self.size = members[0].activation, list(members), len(members)
        k_count = len(members)
        widths = [[layer.out_features for layer in m.hidden] for m in members]
        units = max(sum(w) for w in widths)
        self.units, self.depth = units, max(len(w) for w in widths)
        dummy = k_count * units
        # layer 0: every member's sources read the shared input densely: one (all sources, inputs) matrix
        self.input_weight = nn.Parameter(torch.cat([m.hidden[0].weight.detach() for m in members]))
        self.input_bias = nn.Parameter(torch.cat([m.hidden[0].bias.detach() for m in members]))
        self.register_buffer("input_rows", torch.cat([k * units + torch.arange(w[0]) for k, w in enumerate(widths)]),
                             persistent=False)
        self._layers: list[tuple[_Packing, _Packing, list[nn.Linear]]] = []
        self.weights, self.biases = nn.ParameterList(), nn.ParameterList()
        for depth in range(1, self.depth):
            owners = [(k, m) for k, m in enumerate(members) if len(widths[k]) > depth]
            wide = max(widths[k][depth] for k, _ in owners)
            weights, biases = _Packing(k_count * wide * units), _Packing(k_count * wide)
            rows = torch.full((k_count, wide), dummy)
            for k, member in owners:
                layer, start = member.hidden[depth], sum(widths[k][:depth])
                row = torch.arange(layer.out_features)
                weights.add((k * wide + row)[:, None] * units + torch.arange(layer.in_features)[None, :])
                biases.add(k * wide + row)
                rows[k, : layer.out_features] = k * units + start + row
            layers = [m.hidden[depth] for _, m in owners]
            self._layers.append((weights, biases, layers))
            self.weights.append(nn.Parameter(weights.pack([trainable(x, "weight") for x in layers])
                                             .view(k_count, wide, units)))
            self.register_buffer(f"mask_{depth}", weights.pack([mask_of(x, "weight") for x in layers])
                                 .view(k_count, wide, units))
            self.biases.append(nn.Parameter(biases.pack([x.bias for x in layers]).view(k_count, wide, 1)))
            self.register_buffer(f"rows_{depth}", rows.reshape(-1), persistent=False)
        classes = members[0].output.out_features
        self._output = _Packing(k_count * classes * units)
        for k, member in enumerate(members):
            sinks = k * units + member.sink_index.cpu()
            self._output.add((k * classes + torch.arange(classes))[:, None] * units
                             + (sinks - k * units)[None, :])
        self.output_weight = nn.Parameter(self._output.pack([m.output.weight for m in members])
                                          .view(k_count, classes, units))
        # the output reads only the sinks: without a mask, its padded columns would learn from the other units
        self.register_buffer("output_mask", self._output.pack([torch.ones_like(m.output.weight) for m in members])
                             .view(k_count, classes, units))
        self.output_bias = nn.Parameter(torch.stack([m.output.bias.detach() for m in members])[..., None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        activation = self.activation
        k_count, units = self.size, self.units
        first = activation(nn.functional.linear(x, self.input_weight, self.input_bias)).t()  # (all sources, N)
        h = first.new_zeros(k_count * units + 1, len(x)).index_add(0, self.input_rows, first)
        for depth in range(1, self.depth):
            weight = self.weights[depth - 1] * getattr(self, f"mask_{depth}")
            z = torch.baddbmm(self.biases[depth - 1], weight, h[:-1].view(k_count, units, -1))
            h = h.index_add(0, getattr(self, f"rows_{depth}"), activation(z).reshape(-1, len(x)))
        logits = torch.baddbmm(self.output_bias, self.output_weight * self.output_mask, h[:-1].view(k_count, units, -1))
        return logits.permute(2, 1, 0)  # (N, classes, K)

    @torch.no_grad()
    def unpack(self) -> list[StructuredFFN]:
        """Write the trained packed values back into the member modules; returns the members."""
        start = 0
        for member in self.members:
            first = member.hidden[0]
            first.weight.copy_(self.input_weight[start : start + first.out_features].cpu())
            first.bias.copy_(self.input_bias[start : start + first.out_features].cpu())
            start += first.out_features
        for (weights, biases, layers), weight, bias in zip(self._layers, self.weights, self.biases, strict=True):
            weights.unpack(weight, [trainable(x, "weight") for x in layers])
            biases.unpack(bias, [x.bias for x in layers])
        self._output.unpack(self.output_weight, [m.output.weight for m in self.members])
        for k, member in enumerate(self.members):
            member.output.bias.copy_(self.output_bias[k, :, 0].cpu())
        return self.members


def feed_forward_bytes(members: Sequence[StructuredFFN], batch: int) -> int:
    """Bytes one training batch takes in a population of ``members``: the unit block and each layer's
    pre-activations, kept once per layer for the backward, forward and gradient."""
    units = max(sum(layer.out_features for layer in m.hidden) for m in members)
    depth = max(len(m.hidden) for m in members)
    wide = max(layer.out_features for m in members for layer in m.hidden)
    inputs = members[0].hidden[0].in_features
    return 4 * batch * (2 * depth * len(members) * (units + 2 * wide) + inputs)
