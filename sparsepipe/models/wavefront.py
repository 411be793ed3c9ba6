"""The diagonal wavefront: many small recurrent layers run as one batched recurrence, with a hand-written backward.

A graph-structured recurrent net computes layer ``l`` at time ``t`` from layer ``l - 1`` (and, through skip paths,
from earlier layers) at the *same* time, so run straightforwardly it takes ``T x paths`` sequential cell calls, each
tiny (a DAG layer often has 1-7 units): on a CPU the cost is per-call overhead, not arithmetic. The wavefront
shifts every path writing a layer of level ``l`` (its DAG layer) by ``l`` steps: at wavefront step ``s`` it
processes time ``t = s - l``. Everything a path reads was then written at an *earlier* step (layer ``l - 1`` wrote
time ``t`` at step ``s - 1``; a skip path from layer ``j`` reads what ``j`` wrote ``l - j`` steps ago), so all
paths advance together: ``T + depth - 1`` steps instead of ``T x paths`` calls. Layers carry their level
explicitly, so several nets can share one wavefront (a population, :mod:`sparsepipe.models.population`).

Buckets: paths are grouped by width (:func:`buckets_of`); within a bucket each path's units are padded to the
bucket's widest path (``w``) and its inputs to the widest input (``I``); padded weights and biases are zero, so
padded units stay exactly zero. Every step runs one batched cell step per bucket. One bucket pads a 1-unit path to
the widest layer of the whole population; a bucket per width would pay each step's ~25 operations once per width;
:func:`buckets_of` picks the boundaries that minimise padded units plus a fixed cost per bucket.

Layout (batch last): every step's results live in one buffer whose rows are: the layers' outputs (``W``), the
embedding (read by first layers at delay 0), every bucket's path hidden units (read back at delay 1) and one zero row
(where padded inputs point). A bucket's step gathers each path's ``[input; previous hidden]`` with one
``index_select`` from the last ``K + 1`` steps' rows, multiplies by the paths' combined ``[W_ih | W_hh]`` in one
``bmm``, runs the cell's gate math and adds the hidden units onto their layers' rows with one ``index_add_``.

The backward is written by hand (back-propagation through time over the same buffers, the gathers becoming
scatters) because autograd's bookkeeping of ~15 small ops per step costs several times their arithmetic here. The
paths stay ordinary single-layer ``nn.GRU``/``nn.LSTM``/``nn.RNN`` modules that carry torch.nn.utils.prune masks;
:meth:`Wavefront.pack` reads their (masked) weights differentiably, so gradients reach ``weight_ih_l0_orig`` etc.

On the CPU the steps' loop runs in C by default (:mod:`sparsepipe.models.fused`: one call for the forward, one for
the backward, on these same buffers, each path at its own size); the torch loop below is the plain path, kept for
GPUs, float64, machines without a C compiler and ``populations.kernels: plain``, and as the reference the C path
is tested against.
"""

from __future__ import annotations

import bisect
import contextlib
import math
from collections import Counter
from collections.abc import Sequence

import torch
from torch import nn

from sparsepipe.models import fused, gpu_steps
from sparsepipe.models.masks import effective_weight
from sparsepipe.models.rnn import GATES, WEIGHTS, check_cell

EMBEDDING = -1  # the source of a path that reads the token embedding
# a bucket's fixed cost per step in padded path-units: ~25 operations of ~10 us each, against ~0.1 us per unit and
# batch of 128 strings for the arithmetic (measured on the CPU; bench/population_speed.py)
BUCKET_OVERHEAD = 64


def tanh_(x: torch.Tensor) -> torch.Tensor:
    """In-place tanh as ``2 sigmoid(2x) - 1`` (equal up to float rounding, ~1e-7): on CPU, torch's float tanh is
    several times slower than its sigmoid, and the gates' tanh would be a large share of a step's arithmetic."""
    return x.mul_(2).sigmoid_().mul_(2).sub_(1)


def buckets_of(units: Sequence[int], overhead: int = BUCKET_OVERHEAD) -> list[list[int]]:
    """Path indices grouped into buckets of consecutive widths (``units[p]``: path p's units), minimising
    ``sum over buckets (overhead + paths * widest)``: dynamic programming over the distinct widths."""
    widths = sorted(set(units))
    count = Counter(units)
    best, cut = [0.0] + [math.inf] * len(widths), [0] * (len(widths) + 1)
    for j in range(1, len(widths) + 1):
        paths = 0
        for i in range(j - 1, -1, -1):
            paths += count[widths[i]]
            cost = best[i] + overhead + paths * widths[j - 1]
            if cost < best[j]:
                best[j], cut[j] = cost, i
    bounds, j = [], len(widths)
    while j > 0:
        bounds.append((widths[cut[j]], widths[j - 1]))
        j = cut[j]
    return [[p for p, u in enumerate(units) if low <= u <= high] for low, high in reversed(bounds)]


def packed_rows_of(cell: str, units: int) -> int:
    """Rows per path in a bucket of ``units``: LSTM/RNN gates; GRU r, z, then the candidate's input and hidden
    parts apart, because its reset gate multiplies only the hidden part."""
    return (GATES[cell] + (cell == "gru")) * units


def workspace_bytes(cell: str, outputs: int, embedding: int, buckets: Sequence[tuple[int, int, int]], window: int,
                    batch: int, steps: int, element: int = 4, inputs_in_place: bool = False) -> int:
    """Bytes one training batch takes: the forward block (step rows, gathered inputs, gate activations, LSTM cell
    states), the backward block (row and gate gradients; the :class:`Workspace` gives it a block as large as the
    largest it has served, the forward's) and the layer outputs handed to and back from autograd.
    ``buckets``: (paths, units, inputs) of each bucket. ``inputs_in_place``: no gathered block (the C path and the
    Triton steps read the inputs where they lie); both keep other buffers smaller too, so either way this bounds
    the paths that read in place from above."""
    rows = outputs + embedding + sum(p * w for p, w, _ in buckets) + 1
    forward = (window + steps) * rows
    for paths, units, inputs in buckets:
        gathered = 0 if inputs_in_place else inputs + units
        forward += steps * (gathered + packed_rows_of(cell, units)) * paths
        if cell == "lstm":
            forward += (3 * steps + 1) * paths * units
    return element * batch * (2 * forward + 2 * steps * outputs)


class _Bucket(nn.Module):
    """Index plan of one bucket of paths (``index``: their positions in the wavefront's path order)."""

    def __init__(self, plan: Wavefront, index: list[int], hidden_row: int, sources: list[int], targets: list[int],
                 fan_in: list[int], sizes: list[int], input_row: list[int], level: list[int]):
        super().__init__()
        index = sorted(index, key=lambda p: level[targets[p]])  # so a step's active paths are one slice
        self.index, self.paths = index, len(index)
        self.levels = [level[targets[p]] for p in index]
        self.units, self.inputs = max(sizes[p] for p in index), max(fan_in[p] for p in index)  # w, I
        self.hidden_row, self.packed_rows = hidden_row, packed_rows_of(plan.cell, self.units)
        w, i_max, window, rows, zero_row = self.units, self.inputs, plan.window, plan.rows, plan.zero_row
        self.span = i_max + w  # a path's gathered column: its inputs, then its previous hidden state
        gather = torch.full((self.paths, self.span), window * rows + zero_row)  # padding reads the zero row
        route = torch.full((self.paths, w), zero_row)  # padded units read the zero row's (zero) gradient
        for q, p in enumerate(index):
            delay = 0 if sources[p] == EMBEDDING else level[targets[p]] - level[sources[p]]
            gather[q, : fan_in[p]] = (window - delay) * rows + input_row[p] + torch.arange(fan_in[p])
            gather[q, i_max:] = (window - 1) * rows + hidden_row + q * w + torch.arange(w)
            route[q, : sizes[p]] = plan.starts[targets[p]] + torch.arange(sizes[p])
        self.register_buffer("level_index", torch.tensor(self.levels, dtype=torch.long), persistent=False)
        # each path's LSTM cell state before its first step, zeroed per batch (idle paths never write theirs), as
        # flat indices, so that one index_fill_ zeroes them all (see Wavefront.first_state_rows)
        self.register_buffer("first_cell_state", torch.tensor([lv * self.paths + q for q, lv in enumerate(self.levels)],
                                                              dtype=torch.long), persistent=False)
        # each path's own units and inputs (the C path skips the padding, sparsepipe.models.fused)
        self.register_buffer("path_units", torch.tensor([sizes[p] for p in index], dtype=torch.long),
                             persistent=False)
        self.register_buffer("path_inputs", torch.tensor([fan_in[p] for p in index], dtype=torch.long),
                             persistent=False)
        self.register_buffer("gather", gather.reshape(-1), persistent=False)
        self.register_buffer("route", route.reshape(-1), persistent=False)
        # for the deterministic scatters (:class:`_Scatter`), built per active slice on first use
        self._plan_rows = (window, rows, zero_row)
        self._gather_host, self._route_host = gather, route
        self._scatters: dict[tuple[str, int, int, str], _Scatter] = {}
        # forward scatter: padded units (exactly zero) add onto row 0, so the scatter stays within the output rows
        self.register_buffer("route_out", torch.where(route == zero_row, 0, route).reshape(-1), persistent=False)
        self.weight_size = self.paths * self.packed_rows * self.span
        self.bias_size = self.paths * self.packed_rows

    def active(self, step: int, length: int) -> tuple[int, int]:
        """The slice of paths that step ``step`` computes for strings of ``length`` symbols: those whose time
        ``step - level`` lies in [0, length). The others are idle (not started, or past the strings' end): their
        rows are never written (they stay zero) and nothing that matters reads them."""
        return bisect.bisect_left(self.levels, step - length + 1), bisect.bisect_right(self.levels, step)

    def scatter(self, kind: str, lo: int, hi: int, device: torch.device) -> _Scatter:
        """The deterministic scatter of paths ``lo:hi`` (kind ``forward``: their hidden units onto their layers'
        rows, read from a step window; ``backward``: the gradients of their gathered columns back onto the window's
        rows, read from the bucket's spill block), cached per slice and device."""
        key = (kind, lo, hi, str(device))
        found = self._scatters.get(key)
        if found is None:
            window, rows, zero_row = self._plan_rows
            w, span = self.units, self.span
            if kind == "forward":  # padded units (route: the zero row) add exact zeros: left out
                route = self._route_host[lo:hi]
                sources = window * rows + self.hidden_row + torch.arange(lo * w, hi * w).view(hi - lo, w)
                keep = route != zero_row
                found = _Scatter(sources[keep], route[keep], window * rows + zero_row)
            else:  # padded inputs (gather: the zero row) take gradients no one reads: left out
                gather = self._gather_host[lo:hi]
                keep = gather != window * rows + zero_row
                sources = torch.arange(lo * span, hi * span).view(hi - lo, span)
                found = _Scatter(sources[keep], gather[keep], self.paths * span)
            found = self._scatters[key] = found.to(device)
        return found

    def indices(self, cell: str, q: int, size: int, inputs: int) -> tuple[torch.Tensor, ...]:
        """Flat positions (within this bucket's weight and bias blocks) of path q's weight_ih, weight_hh, bias_ih
        and bias_hh, in the module's own entry order (row gate * size + unit)."""
        w, span, g = self.units, self.span, GATES[cell]
        unit = torch.arange(size)
        # GRU's candidate: input part at row 2w + u, hidden part at 3w + u
        ih_rows = torch.cat([k * w + unit for k in range(g)])
        hh_rows = torch.cat([(k + (k == 2 and cell == "gru")) * w + unit for k in range(g)])
        base = q * self.packed_rows
        return (((base + ih_rows)[:, None] * span + torch.arange(inputs)[None, :]).reshape(-1),
                ((base + hh_rows)[:, None] * span + self.inputs + unit[None, :]).reshape(-1),
                base + ih_rows, base + hh_rows)  # LSTM/RNN: both biases land on the same rows, summed


@contextlib.contextmanager
def _atomics_allowed():
    """torch's atomic ``index_add_`` even where deterministic algorithms are on: for scatters whose indices are
    unique, where atomics cannot race (torch cannot know that, and would sort the indices on every call)."""
    if not torch.are_deterministic_algorithms_enabled():
        yield
        return
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(False)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(True, warn_only=warn_only)


class _StepEmbedding(torch.autograd.Function):
    """Embedding rows laid out as the wavefront reads them: (E, T * N), string index innermost."""

    @staticmethod
    def forward(ctx, weight: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        flat = tokens.t().reshape(-1)  # time-major: position t * N + n
        ctx.save_for_backward(flat)
        ctx.vocabulary = weight.shape[0]
        return weight.t().contiguous().index_select(1, flat)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (flat,) = ctx.saved_tensors
        onehot = (flat[:, None] == torch.arange(ctx.vocabulary, device=flat.device)).to(grad.dtype)
        d_weight = (grad.reshape(grad.shape[0], -1) @ onehot).t().contiguous()  # one matrix product
        d_weight[0] = 0  # padding_idx 0, as nn.Embedding(padding_idx=0): pads take no gradient
        return d_weight, None


def step_embedding(weight: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """``nn.functional.embedding(tokens, weight, padding_idx=0)``, (N, T, E), with its memory laid out (E, T, N):
    the wavefront copies it into its step rows (T, E, N) row by row of N strings, where the usual (N, T, E) layout
    made that copy, and its gradient's copy back, a transpose with a stride of T * E floats (measured: ~10% of a
    batch of a population of 16 RNN-tanh nets). The gradient is one matrix product with the tokens' one-hot
    matrix instead of ``embedding_dense_backward``: the same sums in another order (float rounding)."""
    n, t = tokens.shape
    return _StepEmbedding.apply(weight, tokens).view(-1, t, n).permute(2, 1, 0)


class _Scatter:
    """``target.index_add_(0, targets, src[sources])``, deterministic and without sorting at run time.

    On CUDA, ``index_add_`` adds with atomics, so where several sources hit one row the sum's order (and its
    rounding) changes from run to run; under torch's deterministic algorithms it sorts the indices on every call
    instead, which measured 86% of a GRU population's batch on an H200 (bench/cuda_graphs.py --profile). The
    indices here are fixed per active slice, so the sort is done once: a table of each target row's sources (padded
    with a row of zeros) is gathered, summed over its columns in a fixed order, and added onto the unique target
    rows, where atomics cannot race."""

    def __init__(self, sources: torch.Tensor, targets: torch.Tensor, zero: int):
        order = torch.argsort(targets, stable=True)
        sources, targets = sources[order], targets[order]
        self.unique, counts = torch.unique_consecutive(targets, return_counts=True)
        self.width = int(counts.max()) if len(counts) else 0
        table = torch.full((len(self.unique), self.width), zero, dtype=torch.long)
        first = torch.cumsum(counts, 0) - counts
        rank = torch.arange(len(targets)) - torch.repeat_interleave(first, counts)
        table[torch.repeat_interleave(torch.arange(len(self.unique)), counts), rank] = sources
        self.table = table.reshape(-1)

    def to(self, device: torch.device) -> _Scatter:
        self.unique, self.table = self.unique.to(device), self.table.to(device)
        return self

    def add(self, target: torch.Tensor, src: torch.Tensor) -> None:
        if not self.width:
            return
        picked = src.index_select(0, self.table)
        sums = picked.view(len(self.unique), self.width, -1).sum(1) if self.width > 1 else picked
        with _atomics_allowed():
            target.index_add_(0, self.unique, sums)


class Wavefront(nn.Module):
    """Index plan of a wavefront over layers of units (``widths``) written by recurrent ``paths``.

    ``paths[k] = (source, target)``: path ``k`` reads layer ``source`` (or the embedding, ``source = EMBEDDING``)
    and its hidden units add onto layer ``target``'s output (a layer's output is the sum of the paths writing it).
    ``levels[l]``: layer l's time shift (default: its index); a path reads a layer of a lower level.
    ``embedding_slices``: (offset, width) of the embedding columns each embedding-reading path reads, in path order
    (default: all ``embedding`` columns). Buffers are non-persistent: they follow ``.to(device)`` but stay out of
    state dicts. Packed weights are flat: every bucket's ``[W_ih | W_hh]`` block, then every bucket's biases.
    """

    def __init__(self, cell: str, widths: Sequence[int], paths: Sequence[tuple[int, int]], embedding: int,
                 levels: Sequence[int] | None = None, embedding_slices: Sequence[tuple[int, int]] | None = None,
                 bucket_overhead: int = BUCKET_OVERHEAD):
        super().__init__()
        check_cell(cell)
        level = list(range(len(widths))) if levels is None else list(levels)
        if any(source != EMBEDDING and not level[source] < level[target] for source, target in paths):
            raise ValueError(f"every path must read a layer of a lower level or the embedding; got {list(paths)}")
        readers = [p for p, (source, _) in enumerate(paths) if source == EMBEDDING]
        slices = [(0, embedding)] * len(readers) if embedding_slices is None else list(embedding_slices)
        if len(slices) != len(readers) or any(o < 0 or k < 1 or o + k > embedding for o, k in slices):
            raise ValueError(f"embedding_slices: one (offset, width) within {embedding} columns per embedding "
                             f"path; got {slices}")
        slice_of = dict(zip(readers, slices, strict=True))
        self.cell, self.gates = cell, GATES[cell]
        self.starts = [sum(widths[:k]) for k in range(len(widths) + 1)]
        self.paths = len(paths)  # P
        sources, targets = [s for s, _ in paths], [t for _, t in paths]
        fan_in = [slice_of[p][1] if s == EMBEDDING else widths[s] for p, s in enumerate(sources)]
        sizes = [widths[t] for t in targets]
        self.outputs, self.embedding = self.starts[-1], embedding  # W, E
        input_row = [self.outputs + slice_of[p][0] if s == EMBEDDING else self.starts[s] for p, s in enumerate(sources)]
        self.depth = max(level[t] for t in targets) + 1
        self.window = max([level[t] - level[s] for s, t in paths if s != EMBEDDING] + [1])  # K
        groups = buckets_of(sizes, bucket_overhead)
        hidden = [max(sizes[p] for p in g) * len(g) for g in groups]
        self.hidden_row = self.outputs + embedding  # first row of the paths' hidden units
        self.zero_row = self.hidden_row + sum(hidden)
        self.rows = self.zero_row + 1  # R: rows per step in the buffer
        firsts = [self.hidden_row + sum(hidden[:b]) for b in range(len(groups))]
        self.buckets = nn.ModuleList(_Bucket(self, g, first, sources, targets, fan_in, sizes, input_row, level)
                                     for g, first in zip(groups, firsts, strict=True))
        self.units = max(sizes)  # the widest path (for sorting nets into populations)
        self.weight_size = sum(b.weight_size for b in self.buckets)
        self.bias_size = sum(b.bias_size for b in self.buckets)
        weight_offset = [sum(b.weight_size for b in self.buckets[:k]) for k in range(len(self.buckets))]
        bias_offset = [self.weight_size + sum(b.bias_size for b in self.buckets[:k]) for k in range(len(self.buckets))]
        parts: list[list[torch.Tensor]] = [[torch.empty(0, dtype=torch.long)] * self.paths for _ in range(4)]
        for b, bucket in enumerate(self.buckets):
            for q, p in enumerate(bucket.index):
                offsets = (weight_offset[b], weight_offset[b], bias_offset[b], bias_offset[b])
                for k, (index, offset) in enumerate(zip(bucket.indices(cell, q, sizes[p], fan_in[p]), offsets,
                                                        strict=True)):
                    parts[k][p] = index + offset
        self.register_buffer("destination", torch.cat([i for part in parts for i in part]), persistent=False)
        # each path's state before its first step, zeroed per batch (idle paths never write theirs): its rows in the
        # step rows (forward; the backward's are ``length`` steps later), as flat indices, so that one index_fill_
        # zeroes them all (one zero_ per level run cost ~2 ms a batch in a population of 16)
        self.register_buffer("first_state_rows", torch.tensor(
            [(self.window + lv - 1) * self.rows + b.hidden_row + q * b.units + u
             for b in self.buckets for q, lv in enumerate(b.levels) for u in range(b.units)], dtype=torch.long),
            persistent=False)
        self.workspace = Workspace()
        # scatters by :class:`_Scatter` tables (deterministic, no sort per call): None = on CUDA where torch's
        # deterministic algorithms are on (where index_add_ would sort); True/False force it (tests)
        self.deterministic_scatter: bool | None = None

    def pack(self, modules: Sequence[nn.RNNBase]) -> tuple[torch.Tensor, torch.Tensor]:
        """The paths' (masked) weights as the flat weight and bias blocks :meth:`run` takes. Differentiable:
        gradients flow back to each module's parameters (``*_orig`` where pruned)."""
        values = torch.cat([effective_weight(m, name).reshape(-1) for name in WEIGHTS for m in modules])
        packed = values.new_zeros(self.weight_size + self.bias_size).index_add(0, self.destination, values)
        weights, bias = packed.split([self.weight_size, self.bias_size])
        return weights, bias

    def forward(self, modules: Sequence[nn.RNNBase], embedded: torch.Tensor, steps: int,
                read: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """Layer outputs (steps, W, N) for ``embedded`` (N, T, E): ``[s, layer l's units]`` is layer l's output at
        time ``s - level(l)`` (zero for negative times; times at or past T are computed but meaningless, and a
        causal reader never needs them). One call = one batch; ``steps`` is normally ``T + depth - 1``. With
        ``read``, only the values :meth:`read` would take (see :meth:`run`)."""
        weights, bias = self.pack(modules)
        return self.run(weights, bias, embedded, steps, read)

    def run(self, weights: torch.Tensor, bias: torch.Tensor, embedded: torch.Tensor, steps: int,
            read: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """:meth:`forward` with the paths' weights already packed (flat, as :meth:`pack` returns them). With
        ``read = (lengths, layers, columns)``: what :meth:`read` would take from the outputs, (N, k), without
        copying every step's layer outputs out of the buffers first (nor their mostly-zero gradient back in:
        for a population of 16 GRUs on paper-length strings, ~60 MB of memory traffic per batch)."""
        backward = torch.is_grad_enabled() and (embedded.requires_grad or weights.requires_grad
                                                or bias.requires_grad)
        gpu_steps.verify(self.cell, embedded)  # a cell's first wavefront on a device: its kernels, checked once
        return _WavefrontFunction.apply(self, embedded.permute(1, 2, 0), weights, bias, steps, backward, read)

    def read(self, outputs: torch.Tensor, lengths: torch.Tensor, layers: torch.Tensor, columns: torch.Tensor
             ) -> torch.Tensor:
        """(N, k): output unit ``columns[j]`` (of a layer of level ``layers[j]``) at each string's last real step,
        from the :meth:`forward` outputs; a layer of level ``l`` wrote time ``t`` at wavefront step ``t + l``."""
        _, width, n = outputs.shape
        flat = _read_index(lengths, layers, columns, 0, width, n)
        return outputs.reshape(-1).index_select(0, flat).view(n, -1)  # backward: index_add, not a sorting scatter


def _read_index(lengths: torch.Tensor, layers: torch.Tensor, columns: torch.Tensor, first: int, rows: int, n: int
                ) -> torch.Tensor:
    """Flat positions of :meth:`Wavefront.read`'s values in a (slabs, rows, N) buffer whose slab ``first + s``
    holds wavefront step s: row ``columns[j]`` of the slab of step ``lengths - 1 + layers[j]``, string by string."""
    step = lengths.to(layers.device)[:, None] - 1 + layers[None, :]
    batch = torch.arange(n, device=layers.device)[:, None]
    return (((first + step) * rows + columns[None, :]) * n + batch).reshape(-1)


class Workspace:
    """Memory for the per-batch buffers (several MB), reused from batch to batch.

    On the CPU a fresh multi-megabyte tensor costs a page fault per 4 KiB page on first touch (glibc serves large
    allocations by mmap and unmaps them on free) -- measured here as ~20% of a batch. A forward takes a block and the
    backward gives it back; a forward that no backward will follow gives it back itself.
    """

    def __init__(self, release: bool = True):
        """``release=False``: never drop a block (CUDA graphs replay into the blocks they were captured with).
        Otherwise only blocks of the largest size are kept, so the free list holds at most as many blocks as were
        ever taken at once (a forward's and its backward's)."""
        self.release, self.free, self.largest = release, [], 0

    def take(self, shapes: Sequence[tuple[int, ...]], like: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """A block and views of it with ``shapes`` (contents undefined); give the block back when done."""
        sizes = [math.prod(shape) for shape in shapes]
        need = sum(sizes)
        for k, block in enumerate(self.free):
            if block.numel() >= need and block.dtype == like.dtype and block.device == like.device:
                self.free.pop(k)
                break
        else:
            self.largest = max(self.largest, need)  # grow to the largest batch seen, so later batches fit
            self._release_outgrown()
            block = like.new_empty(self.largest)
        return block, [view.view(shape) for view, shape in zip(block[:need].split(sizes), shapes, strict=True)]

    def give(self, block: torch.Tensor) -> None:
        self.free = sorted([*self.free, block], key=torch.Tensor.numel, reverse=True)
        self._release_outgrown()

    def _release_outgrown(self) -> None:
        """Drop free blocks smaller than the largest: every block taken from now on is allocated at the largest
        size, so they would never be used again and only hold memory (batches come in random length order, so
        a population grew 4 blocks of 320-500 MB where 2 of the largest serve every batch)."""
        if self.release:
            self.free = [block for block in self.free if block.numel() >= self.largest]


def _steps(x: torch.Tensor, *blocks: tuple[int, int]) -> list[tuple[torch.Tensor, ...]]:
    """Per-step views of ``x`` (steps, P, rows, N): one tuple per row block ``(start, stop)``, made with ``unbind``
    once instead of by indexing inside the loop (there, indexing costs as much as the arithmetic)."""
    return [x[:, :, start:stop].unbind(0) for start, stop in blocks]


class _BucketState:
    """One bucket's per-step views of the forward buffers."""

    def __init__(self, bucket: _Bucket, cell: str, out: torch.Tensor, window: int, steps: int, weights: torch.Tensor,
                 bias: torch.Tensor, gathered: torch.Tensor, acts: torch.Tensor, lstm: list[torch.Tensor],
                 views: bool = True, tables: bool = False):
        p, w, i_max, n = bucket.paths, bucket.units, bucket.inputs, out.shape[-1]
        self.bucket, self.weights, self.bias, self.tables = bucket, weights, bias, tables
        self.gathered, self.acts, self.lstm = gathered, acts, lstm
        if cell == "lstm":  # a path's cell state before its first step (idle paths never write theirs)
            lstm[0].view(-1, *lstm[0].shape[2:]).index_fill_(0, bucket.first_cell_state, 0)
        if not views:  # the C path reads the buffers whole (sparsepipe.models.fused.bucket_spec)
            return
        self.gather = bucket.gather.view(p, -1)
        self.route_out, self.route = bucket.route_out.view(p, w), bucket.route.view(p, w)
        self.hidden = out[window:, bucket.hidden_row : bucket.hidden_row + p * w].view(steps, p, w, n)
        self.h_t = self.hidden.unbind(0)
        self.xh_t, (self.h_prev,) = gathered.unbind(0), _steps(gathered, (i_max, i_max + w))
        self.acts_t = acts.unbind(0)
        self.blocks = _steps(acts, *((k * w, (k + 1) * w) for k in range(4)), (0, 2 * w))
        if cell == "lstm":
            self.c_t, self.g_t, self.tanh_t = (x.unbind(0) for x in lstm)


class _WavefrontFunction(torch.autograd.Function):
    """Forward and hand-written backward of a wavefront; see the module docstring for the layout."""

    @staticmethod
    def forward(ctx, plan: Wavefront, embedded: torch.Tensor, weights: torch.Tensor, bias: torch.Tensor,
                steps: int, backward: bool, read: tuple[torch.Tensor, ...] | None) -> torch.Tensor:
        length, _, n = embedded.shape
        window, rows, cell = plan.window, plan.rows, plan.cell
        steps_kernels = gpu_steps.kernels_for(cell, embedded)  # Triton, per step and bucket (CUDA)
        if steps_kernels is not None:
            try:
                steps_kernels.check(cell, plan, embedded)
            except Exception as error:  # a compile error: the plain path, for this batch and every later one
                gpu_steps.fail(gpu_steps.reason_of(error))
                steps_kernels = None
        kernels = fused.kernels_for(cell, embedded) if steps_kernels is None else None  # C, one call (CPU)
        inputs_in_place = kernels is not None or steps_kernels is not None  # no gathered block
        shapes = [(window + steps, rows, n)]
        # the C path reads a path's inputs in place (no gathered block), and the RNN cells' backward reads their new
        # state where the forward wrote it, so their pre-activations need one path's rows, not every step's (the C
        # side's twin of this rule: acts_at in sparsepipe/models/fused.py)
        one_path = kernels is not None and cell in ("rnn_tanh", "rnn_relu")
        for b in plan.buckets:
            shapes += [(0,) if inputs_in_place else (steps, b.paths, b.span, n),
                       (b.packed_rows, n) if one_path else (steps, b.paths, b.packed_rows, n)]
            if cell == "lstm":
                shapes += [(steps + 1, b.paths, b.units, n), (steps, b.paths, b.units, n), (steps, b.paths, b.units, n)]
        block, (out, *views) = plan.workspace.take(shapes, embedded)
        # out[window + s]: what wavefront step s wrote. Zero what is read before any step writes it: the layers'
        # rows (accumulated into), each path's state before its first step (idle paths never write theirs, and
        # only a path's own next step reads its state), the zero row, and the embedding rows past the strings
        # (the C path zeroes a step's layer rows itself, just before the step adds onto them: one pass fewer over
        # every step's rows, and the zeros are still in cache when the step adds)
        out[: window if kernels is not None else None, : plan.outputs].zero_()
        out[:, plan.zero_row].zero_()
        out.view(-1, n).index_fill_(0, plan.first_state_rows, 0)
        out[window : window + min(length, steps), plan.outputs : plan.hidden_row] = embedded[:steps]
        out[window + length :, plan.outputs : plan.hidden_row].zero_()
        per = 5 if cell == "lstm" else 2
        weight_parts = weights.split([b.weight_size for b in plan.buckets])
        bias_parts = bias.split([b.bias_size for b in plan.buckets])
        tables = plan.deterministic_scatter
        if tables is None:
            tables = embedded.is_cuda and torch.are_deterministic_algorithms_enabled()
        states = [_BucketState(b, cell, out, window, steps, wp.view(b.paths, b.packed_rows, b.span),
                               bp.view(b.paths, b.packed_rows, 1), *views[k * per : k * per + 2],
                               views[k * per + 2 : (k + 1) * per], views=not inputs_in_place,
                               tables=(tables and kernels is None) or steps_kernels is not None)
                  for k, (b, wp, bp) in enumerate(zip(plan.buckets, weight_parts, bias_parts, strict=True))]
        if kernels is not None:  # every step of every bucket in one C call (sparsepipe.models.fused)
            kernels.wavefront_forward(fused.CELLS[cell], steps, length, n, rows, window, plan.outputs, out.data_ptr(),
                                      len(states), fused.bucket_spec(states))
        elif steps_kernels is not None:  # two kernels per step and bucket (sparsepipe.models.gpu_steps)
            for s in range(steps):
                for st in states:
                    lo, hi = st.bucket.active(s, length)
                    if lo < hi:
                        steps_kernels.forward_step(cell, plan, st, out, s, lo, hi)
        else:
            # the rows step s gathers from: the K + 1 newest steps, as (rows * (K + 1), N) views
            windows = out.view(-1, n).unfold(0, (window + 1) * rows, rows).transpose(1, 2).unbind(0)
            outputs_t = out[window:, : plan.outputs].unbind(0)
            for s in range(steps):
                for st in states:
                    lo, hi = st.bucket.active(s, length)
                    if lo < hi:
                        _cell_forward(cell, s, st, lo, hi, windows[s], outputs_t[s], n)
        if read is not None:
            ctx.read_index = _read_index(*read, window, rows, n)
            result = out.view(-1).index_select(0, ctx.read_index).view(n, -1)
        else:
            ctx.read_index = None
            result = out[window:, : plan.outputs].clone()  # the block is reused: the caller gets its own copy
        if not backward:
            plan.workspace.give(block)
            return result
        ctx.plan, ctx.length, ctx.block, ctx.out, ctx.states, ctx.kernels = plan, length, block, out, states, kernels
        ctx.steps_kernels = steps_kernels
        return result

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        if ctx.block is None:
            raise RuntimeError("wavefront: a second backward through the same forward is not supported")
        plan, length, states = ctx.plan, ctx.length, ctx.states
        window, rows, cell = plan.window, plan.rows, plan.cell
        n = ctx.out.shape[-1]
        steps = ctx.out.shape[0] - window
        # the C path consumes a path's gate gradients right after computing them: one path's rows per bucket,
        # reused (cache-resident), instead of every step's (for a GRU population of 16 on paper-length strings,
        # ~180 MB written and read back per batch)
        shapes = [(window + steps, rows, n)] + [(st.bucket.packed_rows, n) if ctx.kernels is not None
                                                else (0,) if ctx.steps_kernels is not None  # in registers
                                                else tuple(st.acts.shape) for st in states]
        d_block, (d_out, *d_acts) = plan.workspace.take(shapes, grad_out)
        # Zero what is read before it is written whole: the embedding rows and the zero row (accumulated into),
        # and each path's state gradient after its last step (no later step of the path adds to it). A path's
        # earlier state gradients are zeroed by the step that accumulates into them (_cell_backward). The
        # layers' rows before the first step take gradients no one reads.
        if ctx.read_index is None:
            d_out[window:, : plan.outputs] = grad_out
        else:  # the read values' gradients, where they were read
            d_out[window:, : plan.outputs].zero_()
            d_out.view(-1).index_add_(0, ctx.read_index, grad_out.reshape(-1))
        d_out[:, plan.outputs : plan.hidden_row].zero_()
        d_out[:, plan.zero_row].zero_()
        d_out.view(-1, n).index_fill_(0, plan.first_state_rows + length * rows, 0)
        grads = [_BucketGradient(st, cell, d_out, d, window, steps,
                                 views=ctx.kernels is None and ctx.steps_kernels is None)
                 for st, d in zip(states, d_acts, strict=True)]
        if ctx.kernels is not None:
            # the forward's step rows, untouched since: the C backward reads the paths' inputs there
            ctx.kernels.wavefront_backward(fused.CELLS[cell], steps, length, n, rows, window, ctx.out.data_ptr(),
                                           d_out.data_ptr(), len(grads), fused.bucket_spec(states, grads))
        elif ctx.steps_kernels is not None:
            for s in range(steps - 1, -1, -1):
                for g in grads:
                    lo, hi = g.st.bucket.active(s, length)
                    if lo < hi:
                        ctx.steps_kernels.backward_step(cell, plan, g, ctx.out, d_out, s, lo, hi)
        else:
            d_windows = d_out.view(-1, n).unfold(0, (window + 1) * rows, rows).transpose(1, 2).unbind(0)
            d_rows = d_out[window:].unbind(0)
            for s in range(steps - 1, -1, -1):
                for g in grads:
                    lo, hi = g.st.bucket.active(s, length)
                    if lo < hi:
                        _cell_backward(cell, s, g, lo, hi, d_windows[s], d_rows[s], steps, n)
        d_embedded = None
        if ctx.needs_input_grad[1]:
            d_embedded = d_out[window : window + min(length, steps), plan.outputs : plan.hidden_row]
            if length > steps:
                d_embedded = torch.cat([d_embedded, d_out.new_zeros(length - steps, plan.embedding, n)])
            d_embedded = d_embedded.clone()  # d_out goes back to the workspace
        d_weights = torch.cat([g.d_weights_t.transpose(1, 2).reshape(-1) for g in grads])
        d_bias = torch.cat([g.d_bias.reshape(-1) for g in grads])
        plan.workspace.give(ctx.block)
        plan.workspace.give(d_block)
        ctx.block = ctx.out = ctx.states = ctx.read_index = None
        return None, d_embedded, d_weights, d_bias, None, None, None


def _cell_forward(cell: str, s: int, st: _BucketState, lo: int, hi: int, window_rows: torch.Tensor,
                  outputs: torch.Tensor, n: int) -> None:
    """Wavefront step ``s`` of one bucket's active paths ``lo:hi`` in torch ops: gather, one ``bmm``, the cell's
    gate math, add onto the layers (the C path, :mod:`sparsepipe.models.fused`, does the same per path)."""
    xh = st.xh_t[s][lo:hi]
    torch.index_select(window_rows, 0, st.gather[lo:hi].reshape(-1), out=xh.view(-1, n))
    a, h = torch.baddbmm(st.bias[lo:hi], st.weights[lo:hi], xh, out=st.acts_t[s][lo:hi]), st.h_t[s][lo:hi]
    _gates_forward(cell, s, st, lo, hi, a, h)
    if st.tables:
        st.bucket.scatter("forward", lo, hi, outputs.device).add(outputs, window_rows)
    else:
        outputs.index_add_(0, st.route_out[lo:hi].reshape(-1), h.reshape(-1, n))


def _gates_forward(cell: str, s: int, st: _BucketState, lo: int, hi: int, a: torch.Tensor, h: torch.Tensor) -> None:
    """The plain path: step ``s``'s gate math on the pre-activations ``a``, the new state into ``h``."""
    first, second, third, fourth, rz = (x[s][lo:hi] for x in st.blocks)
    if cell == "gru":  # rows: r, z, candidate's input part, candidate's hidden part
        rz.sigmoid_()
        new_gate = tanh_(third.addcmul_(first, fourth))
        torch.addcmul(new_gate, second, st.h_prev[s][lo:hi] - new_gate, out=h)
    elif cell == "lstm":  # rows: i, f, g, o; g's row holds sigmoid(2 g_pre), so tanh(g) = 2 * it - 1
        third.mul_(2)
        a.sigmoid_()
        g = torch.mul(third, 2, out=st.g_t[s][lo:hi]).sub_(1)
        c = torch.mul(second, st.c_t[s][lo:hi], out=st.c_t[s + 1][lo:hi]).addcmul_(first, g)
        torch.mul(fourth, tanh_(st.tanh_t[s][lo:hi].copy_(c)), out=h)
    elif cell == "rnn_tanh":
        h.copy_(tanh_(a))
    else:
        h.copy_(a.relu_())


class _BucketGradient:
    """One bucket's gradient buffers and views for the backward."""

    def __init__(self, st: _BucketState, cell: str, d_out: torch.Tensor, d_acts: torch.Tensor, window: int,
                 steps: int, views: bool = True):
        b = st.bucket
        p, w, n = b.paths, b.units, d_out.shape[-1]
        self.st, self.d_acts = st, d_acts
        self.d_weights_t = d_out.new_zeros(p, b.span, b.packed_rows)  # transposed: the faster bmm layout here
        self.d_bias = d_out.new_zeros(p, b.packed_rows)
        self.d_c = d_out.new_zeros(p, w, n) if cell == "lstm" else None
        # the gathered columns' gradients, for the deterministic scatter: one row per column, then a zero row
        self.spill = d_out.new_zeros(p * b.span + 1, n) if st.tables else None
        if not views:  # the C path reads the buffers whole
            return
        self.d_acts_t = d_acts.unbind(0)
        self.d_hidden = d_out[window - 1 : -1, b.hidden_row : b.hidden_row + p * w].view(steps, p, w, n).unbind(0)
        self.d_last = d_out[window + steps - 1, b.hidden_row : b.hidden_row + p * w].view(p, w, n)
        self.weights_t = st.weights.transpose(1, 2)
        self.d_blocks = _steps(d_acts, *((k * w, (k + 1) * w) for k in range(4)))


def _cell_backward(cell: str, s: int, g: _BucketGradient, lo: int, hi: int, d_window_rows: torch.Tensor,
                   d_step_rows: torch.Tensor, steps: int, n: int) -> None:
    """Back-propagation through wavefront step ``s`` of one bucket's active paths ``lo:hi``; everything that
    read step s's rows ran later, so their gradient is complete."""
    st = g.st
    d_h = (g.d_hidden[s + 1] if s + 1 < steps else g.d_last)[lo:hi]
    d_h.view(-1, n).add_(d_step_rows.index_select(0, st.route[lo:hi].reshape(-1)))
    a, d_a, h = st.acts_t[s][lo:hi], g.d_acts_t[s][lo:hi], st.h_t[s][lo:hi]
    _gates_backward(cell, s, g, lo, hi, a, d_a, d_h, h)
    g.d_weights_t[lo:hi].baddbmm_(st.xh_t[s][lo:hi], d_a.transpose(1, 2))
    g.d_bias[lo:hi].add_(d_a.sum(2))
    # back onto the rows the step gathered from: its inputs, and the previous hidden state
    if g.spill is not None:
        span = st.bucket.span
        torch.bmm(g.weights_t[lo:hi], d_a, out=g.spill[lo * span : hi * span].view(hi - lo, span, n))
        st.bucket.scatter("backward", lo, hi, d_window_rows.device).add(d_window_rows, g.spill)
    else:
        d_window_rows.index_add_(0, st.gather[lo:hi].reshape(-1), torch.bmm(g.weights_t[lo:hi], d_a).view(-1, n))


def _gates_backward(cell: str, s: int, g: _BucketGradient, lo: int, hi: int, a: torch.Tensor, d_a: torch.Tensor,
                    d_h: torch.Tensor, h: torch.Tensor) -> None:
    """The plain path: gradients of step ``s``'s gate pre-activations (``d_a``) and of the previous state."""
    st = g.st
    first, second, third, fourth, _ = (x[s][lo:hi] for x in st.blocks)
    d_first, d_second, d_third, d_fourth = (x[s][lo:hi] for x in g.d_blocks)
    g.d_hidden[s][lo:hi].zero_()  # the previous state's gradient: only this step of these paths adds to it
    if cell == "gru":
        r, z, new_gate = first, second, third
        t = d_h * (1 - z)
        d_new = torch.addcmul(t, t * new_gate, new_gate, value=-1, out=d_third)
        torch.mul(d_new, r, out=d_fourth)
        torch.mul(d_new * fourth, r * (1 - r), out=d_first)
        torch.mul(d_h * (st.h_prev[s][lo:hi] - new_gate), z * (1 - z), out=d_second)
        if s > 0:  # h = n + z (h_prev - n): the direct path to the previous state
            g.d_hidden[s][lo:hi].addcmul_(d_h, z)
    elif cell == "lstm":
        d_c, tanh_c = g.d_c[lo:hi], st.tanh_t[s][lo:hi]
        v = d_h * fourth
        d_c.add_(v).addcmul_(v, tanh_c * tanh_c, value=-1)
        torch.mul(d_c, st.g_t[s][lo:hi], out=d_first)
        torch.mul(d_c, st.c_t[s][lo:hi], out=d_second)
        torch.mul(d_c, first, out=d_third).mul_(4)  # d tanh(x) = 4 sigmoid(2x)(1 - sigmoid(2x))
        torch.mul(d_h, tanh_c, out=d_fourth)
        d_a.mul_(a * (1 - a))
        d_c.mul_(second)
    elif cell == "rnn_tanh":
        torch.addcmul(d_h, d_h * h, h, value=-1, out=d_a)
    else:
        torch.mul(d_h, h > 0, out=d_a)
