"""The wavefront's steps on CUDA as Triton kernels: per step and bucket, two kernels forward and two backward.

After CUDA graphs removed the launches (:mod:`sparsepipe.capture`), a GRU population's batch on an H200 was still
~15,000 kernels of 1-3 us each (bench/cuda_graphs.py --profile): per wavefront step and bucket the plain path runs a
gather, a batched product, ~5-10 elementwise gate passes and a scatter, and the backward ~15 more. Here one
program per active path (and block of strings) gathers the path's inputs where they lie in the step rows,
multiplies them by its ``[W_ih | W_hh]`` in registers, applies the cell's gates and writes the new state; one more
kernel adds the states onto their layers (:func:`_table_add`, over the deterministic tables of
:class:`~.wavefront._Scatter`: no atomics, the same sums in the same order on every run). The backward mirrors it:
gate gradients, weight and bias gradients (each program owns its path's, so no atomics), and the inputs' gradients
spilled per path and added back onto the step rows by the table kernel. Four kernels per step and bucket instead of
~25, and the gathered block of the plain path is neither filled nor allocated (the inputs are read in place, as
the C path does on the CPU, :mod:`~.fused`).

The buffers, stored values and math are the plain path's (:mod:`~.wavefront`: tanh as ``2 sigmoid(2x) - 1``, the
same values in ``acts``), so results agree with it to float rounding (sums run in another order). Tested on the
CPU through Triton's interpreter (``TRITON_INTERPRET=1`` and :func:`use` ``("interpret")``) against the plain
path, and compiled for an sm_90 GPU without one (tests/test_gpu_steps.py), since a GPU is not always at hand.

Used on CUDA float32 tensors where Triton imports and ``populations.kernels`` is ``auto``; ``plain`` (or
``SPARSEPIPE_GPU_STEPS=off``) keeps the plain ops. A kernel that fails to compile falls back to the plain path
with one warning line naming the reason (checked before the first step, so no batch runs half on each path).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import torch

from sparsepipe.models import fused

log = logging.getLogger(__name__)

MODES = ("auto", "off", "interpret")
CELLS = {"gru": 0, "lstm": 1, "rnn_tanh": 2, "rnn_relu": 3}
# triton.language, imported on first use (the kernels below name it; the module imports where Triton is missing)
tl: Any = None
# the kernels' integer arguments, never specialised on (one compile per cell, padded width and block, not one per
# step or bucket), and their index-table pointers (int64; every other pointer is float32)
_SCALARS = ("n", "rows", "window", "s", "lo", "paths", "span", "packed", "hidden_row", "W", "width",
            "target_first", "source_first")
_INDEX_TABLES = ("gather", "route", "unique", "table")
_state: dict[str, object] = {"mode": os.environ.get("SPARSEPIPE_GPU_STEPS", "auto"), "kernels": {}, "failed": "",
                             "verified": {}, "probing": ""}
# the largest relative difference from the plain path :func:`verify` accepts: float32 sums in another order differ
# by 1e-7 to 2e-6 (tests/test_gpu_steps.py); a wrong kernel (a race, a miscompile) by orders of magnitude more
TOLERANCE = 1e-4


def use(mode: str) -> None:
    """``auto``: Triton steps on CUDA; ``off``: never; ``interpret``: also on CPU tensors, through Triton's
    interpreter (slow: for tests of the kernels' arithmetic on a machine without a GPU; needs ``TRITON_INTERPRET=1``
    set before Triton is imported)."""
    if mode not in MODES:
        raise ValueError(f"gpu steps: expected one of {', '.join(MODES)}; got {mode!r}")
    _state["mode"] = mode


def _forward_step(out, acts, lstm_c, lstm_g, lstm_tanh, weights, bias, gather,
                  n, rows, window, s, lo, paths, span, packed, hidden_row, W,
                  CELL: tl.constexpr, W_PAD: tl.constexpr, BLOCK_N: tl.constexpr):
    """Step ``s`` of path ``lo + program_id(0)`` on one block of strings: ``a = [W_ih | W_hh] [x; h_prev] + b``,
    the gates, the new state into its hidden rows; what the backward needs into ``acts`` (and the LSTM buffers)."""
    q = (lo + tl.program_id(0)).to(tl.int64)
    s = s.to(tl.int64)
    strings = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    in_batch = strings < n
    units = tl.arange(0, W_PAD)
    real = units < W
    both = real[:, None] & in_batch[None, :]
    wrow = (q * packed + units) * span
    acc0 = tl.zeros([W_PAD, BLOCK_N], dtype=tl.float32)
    acc1 = tl.zeros([W_PAD, BLOCK_N], dtype=tl.float32)
    acc2 = tl.zeros([W_PAD, BLOCK_N], dtype=tl.float32)
    acc3 = tl.zeros([W_PAD, BLOCK_N], dtype=tl.float32)
    for c in range(span):
        source = tl.load(gather + q * span + c)
        x = tl.load(out + (s * rows + source) * n + strings, mask=in_batch, other=0.0)[None, :]
        acc0 += tl.load(weights + wrow + c, mask=real, other=0.0)[:, None] * x
        if CELL <= 1:  # GRU, LSTM: four row blocks of W rows
            acc1 += tl.load(weights + wrow + W * span + c, mask=real, other=0.0)[:, None] * x
            acc2 += tl.load(weights + wrow + 2 * W * span + c, mask=real, other=0.0)[:, None] * x
            acc3 += tl.load(weights + wrow + 3 * W * span + c, mask=real, other=0.0)[:, None] * x
    brow = q * packed + units
    at = ((s * paths + q) * packed + units)[:, None] * n + strings[None, :]  # acts[s, q, unit, string]
    unit_at = ((s * paths + q) * W + units)[:, None] * n + strings[None, :]  # lstm buffers [s, q, unit, string]
    hidden = (hidden_row + q * W + units)[:, None] * n + strings[None, :]  # within a step's rows
    new_rows = (window + s) * rows * n
    a0 = acc0 + tl.load(bias + brow, mask=real, other=0.0)[:, None]
    if CELL == 0:  # GRU: r, z, candidate's input part, candidate's hidden part
        r = tl.sigmoid(a0)
        z = tl.sigmoid(acc1 + tl.load(bias + brow + W, mask=real, other=0.0)[:, None])
        part = acc3 + tl.load(bias + brow + 3 * W, mask=real, other=0.0)[:, None]
        candidate = 2 * tl.sigmoid(2 * (acc2 + tl.load(bias + brow + 2 * W, mask=real, other=0.0)[:, None]
                                        + r * part)) - 1
        before = tl.load(out + (window + s - 1) * rows * n + hidden, mask=both, other=0.0)
        tl.store(acts + at, r, mask=both)
        tl.store(acts + at + W * n, z, mask=both)
        tl.store(acts + at + 2 * W * n, candidate, mask=both)
        tl.store(acts + at + 3 * W * n, part, mask=both)
        tl.store(out + new_rows + hidden, candidate + z * (before - candidate), mask=both)
    elif CELL == 1:  # LSTM: i, f, g, o; g's row holds sigmoid(2 g), so tanh(g) = 2 sigmoid(2 g) - 1
        i = tl.sigmoid(a0)
        f = tl.sigmoid(acc1 + tl.load(bias + brow + W, mask=real, other=0.0)[:, None])
        g2 = tl.sigmoid(2 * (acc2 + tl.load(bias + brow + 2 * W, mask=real, other=0.0)[:, None]))
        o = tl.sigmoid(acc3 + tl.load(bias + brow + 3 * W, mask=real, other=0.0)[:, None])
        g = 2 * g2 - 1
        c = f * tl.load(lstm_c + unit_at, mask=both, other=0.0) + i * g
        tanh_c = 2 * tl.sigmoid(2 * c) - 1
        tl.store(acts + at, i, mask=both)
        tl.store(acts + at + W * n, f, mask=both)
        tl.store(acts + at + 2 * W * n, g2, mask=both)
        tl.store(acts + at + 3 * W * n, o, mask=both)
        tl.store(lstm_g + unit_at, g, mask=both)
        tl.store(lstm_c + unit_at + paths * W * n, c, mask=both)  # c[s + 1]
        tl.store(lstm_tanh + unit_at, tanh_c, mask=both)
        tl.store(out + new_rows + hidden, o * tanh_c, mask=both)
    else:
        if CELL == 2:  # noqa: SIM108 (a constexpr branch, resolved when compiling)
            h = 2 * tl.sigmoid(2 * a0) - 1
        else:
            h = tl.maximum(a0, 0.0)
        tl.store(acts + at, h, mask=both)
        tl.store(out + new_rows + hidden, h, mask=both)


def _backward_step(out, d_out, acts, lstm_c, lstm_g, lstm_tanh, weights, d_weights_t, d_bias, d_c, spill,
                   gather, route, n, rows, window, s, lo, paths, span, packed, hidden_row, W,
                   CELL: tl.constexpr, W_PAD: tl.constexpr, BLOCK_N: tl.constexpr):
    """Back through step ``s`` of path ``lo + program_id(0)``, all strings: its gate gradients (in registers), its
    weight and bias gradients (owned by this program: no atomics), the previous state's direct gradient (GRU) or
    zero into its rows, and its inputs' gradients into the spill rows ``q * span + column`` (added back onto the
    step rows by :func:`_table_add`)."""
    q = (lo + tl.program_id(0)).to(tl.int64)
    s = s.to(tl.int64)
    units = tl.arange(0, W_PAD)
    real = units < W
    wrow = (q * packed + units) * span
    brow = q * packed + units
    bias0 = tl.zeros([W_PAD], dtype=tl.float32)
    bias1 = tl.zeros([W_PAD], dtype=tl.float32)
    bias2 = tl.zeros([W_PAD], dtype=tl.float32)
    bias3 = tl.zeros([W_PAD], dtype=tl.float32)
    step_rows = (window + s) * rows * n
    for first in range(0, n, BLOCK_N):
        strings = first + tl.arange(0, BLOCK_N)
        in_batch = strings < n
        both = real[:, None] & in_batch[None, :]
        at = ((s * paths + q) * packed + units)[:, None] * n + strings[None, :]
        unit_at = ((s * paths + q) * W + units)[:, None] * n + strings[None, :]
        hidden = (hidden_row + q * W + units)[:, None] * n + strings[None, :]
        routed = tl.load(route + q * W + units, mask=real, other=0)
        # the state's gradient: from the path's own next step, and from the layer rows it was added onto
        d_h = (tl.load(d_out + step_rows + hidden, mask=both, other=0.0)
               + tl.load(d_out + step_rows + routed[:, None] * n + strings[None, :], mask=both, other=0.0))
        d_prev = tl.zeros([W_PAD, BLOCK_N], dtype=tl.float32)
        d1 = tl.zeros([W_PAD, BLOCK_N], dtype=tl.float32)
        d2 = tl.zeros([W_PAD, BLOCK_N], dtype=tl.float32)
        d3 = tl.zeros([W_PAD, BLOCK_N], dtype=tl.float32)
        if CELL == 0:
            r = tl.load(acts + at, mask=both, other=0.0)
            z = tl.load(acts + at + W * n, mask=both, other=0.0)
            candidate = tl.load(acts + at + 2 * W * n, mask=both, other=0.0)
            part = tl.load(acts + at + 3 * W * n, mask=both, other=0.0)
            before = tl.load(out + (window + s - 1) * rows * n + hidden, mask=both, other=0.0)
            t = d_h * (1 - z)
            d2 = t - t * candidate * candidate
            d3 = d2 * r
            d0 = d2 * part * (r * (1 - r))
            d1 = d_h * (before - candidate) * (z * (1 - z))
            if s > 0:  # h = n + z (h_prev - n): the direct path to the previous state
                d_prev = d_h * z
        elif CELL == 1:
            i = tl.load(acts + at, mask=both, other=0.0)
            f = tl.load(acts + at + W * n, mask=both, other=0.0)
            g2 = tl.load(acts + at + 2 * W * n, mask=both, other=0.0)
            o = tl.load(acts + at + 3 * W * n, mask=both, other=0.0)
            tanh_c = tl.load(lstm_tanh + unit_at, mask=both, other=0.0)
            cell_at = (q * W + units)[:, None] * n + strings[None, :]
            v = d_h * o
            dc = tl.load(d_c + cell_at, mask=both, other=0.0) + v - v * tanh_c * tanh_c
            d0 = dc * tl.load(lstm_g + unit_at, mask=both, other=0.0) * (i * (1 - i))
            d1 = dc * tl.load(lstm_c + unit_at, mask=both, other=0.0) * (f * (1 - f))
            d2 = dc * i * 4 * (g2 * (1 - g2))
            d3 = d_h * tanh_c * (o * (1 - o))
            tl.store(d_c + cell_at, dc * f, mask=both)
        elif CELL == 2:
            h = tl.load(acts + at, mask=both, other=0.0)
            d0 = d_h - d_h * h * h
        else:
            h = tl.load(acts + at, mask=both, other=0.0)
            d0 = tl.where(h > 0, d_h, 0.0)
        # the previous state's rows: only this step of this path adds to them (the table kernel adds the rest)
        tl.store(d_out + (window + s - 1) * rows * n + hidden, d_prev, mask=both)
        bias0 += tl.sum(d0, axis=1)
        if CELL <= 1:
            bias1 += tl.sum(d1, axis=1)
            bias2 += tl.sum(d2, axis=1)
            bias3 += tl.sum(d3, axis=1)
        for c in range(span):
            source = tl.load(gather + q * span + c)
            x = tl.load(out + (s * rows + source) * n + strings, mask=in_batch, other=0.0)[None, :]
            column = (q * span + c) * packed + units  # d_weights_t[q, c, row]
            w0 = tl.load(weights + wrow + c, mask=real, other=0.0)[:, None]
            tl.store(d_weights_t + column, tl.load(d_weights_t + column, mask=real, other=0.0)
                     + tl.sum(d0 * x, axis=1), mask=real)
            d_x = tl.sum(w0 * d0, axis=0)
            if CELL <= 1:
                w1 = tl.load(weights + wrow + W * span + c, mask=real, other=0.0)[:, None]
                w2 = tl.load(weights + wrow + 2 * W * span + c, mask=real, other=0.0)[:, None]
                w3 = tl.load(weights + wrow + 3 * W * span + c, mask=real, other=0.0)[:, None]
                tl.store(d_weights_t + column + W, tl.load(d_weights_t + column + W, mask=real, other=0.0)
                         + tl.sum(d1 * x, axis=1), mask=real)
                tl.store(d_weights_t + column + 2 * W, tl.load(d_weights_t + column + 2 * W, mask=real, other=0.0)
                         + tl.sum(d2 * x, axis=1), mask=real)
                tl.store(d_weights_t + column + 3 * W, tl.load(d_weights_t + column + 3 * W, mask=real, other=0.0)
                         + tl.sum(d3 * x, axis=1), mask=real)
                d_x += tl.sum(w1 * d1 + w2 * d2 + w3 * d3, axis=0)
            tl.store(spill + (q * span + c) * n + strings, d_x, mask=in_batch)
        # the next block of strings reads back the weight gradients this one stored: make them visible to all of
        # the program's threads (a thread may load what another stored)
        tl.debug_barrier()
    tl.store(d_bias + brow, tl.load(d_bias + brow, mask=real, other=0.0) + bias0, mask=real)
    if CELL <= 1:
        tl.store(d_bias + brow + W, tl.load(d_bias + brow + W, mask=real, other=0.0) + bias1, mask=real)
        tl.store(d_bias + brow + 2 * W, tl.load(d_bias + brow + 2 * W, mask=real, other=0.0) + bias2, mask=real)
        tl.store(d_bias + brow + 3 * W, tl.load(d_bias + brow + 3 * W, mask=real, other=0.0) + bias3, mask=real)


def _table_add(target, source, unique, table, width, n, target_first, source_first,
               BLOCK_N: tl.constexpr):
    """``target[unique[j]] += sum_k source[table[j, k]]``, rows of ``n`` floats, one program per target row (and
    block of strings): the sources of each row summed in the table's fixed order, so no atomics race."""
    j = tl.program_id(0).to(tl.int64)
    strings = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    in_batch = strings < n
    total = tl.zeros([BLOCK_N], dtype=tl.float32)
    for k in range(width):
        row = tl.load(table + j * width + k)
        total += tl.load(source + (source_first + row) * n + strings, mask=in_batch, other=0.0)
    at = (target_first + tl.load(unique + j)) * n + strings
    tl.store(target + at, tl.load(target + at, mask=in_batch, other=0.0) + total, mask=in_batch)



class Kernels:
    """The three kernels, jit-compiled for CUDA (or interpreted on the CPU), and their launches."""

    def __init__(self, interpret: bool):
        triton = _triton()
        if interpret and not triton.knobs.runtime.interpret:
            raise RuntimeError("mode 'interpret' needs TRITON_INTERPRET=1 in the environment before Triton is "
                               "imported (its own library functions are interpreted only then)")
        self.forward, self.backward, self.table_add = (_jit(fn) for fn in (_forward_step, _backward_step, _table_add))
        self.checked: set[tuple] = set()

    def check(self, cell: str, plan, like: torch.Tensor) -> None:
        """Compile every kernel this wavefront will launch (Triton compiles on first launch; this runs before the
        first step, so a compile error never leaves a batch half computed), once per cell, padded width and block.
        ``like``: a float32 tensor on the device whose last dimension is the batch (it stands in for the buffers:
        compiling reads only their types and alignment)."""
        out, n = like, like.shape[-1]
        for b in plan.buckets:
            (w_pad, forward), (_, backward) = block_n(b.units, n, FORWARD_TILE), block_n(b.units, n, BACKWARD_TILE)
            key = (cell, w_pad, forward, backward)
            if key in self.checked:
                continue
            scalars = (n, plan.rows, plan.window, 0, 0, b.paths, b.span, b.packed_rows, b.hidden_row, b.units)
            self.forward.warmup(*[out] * 7, b.gather, *scalars, grid=(1,), CELL=CELLS[cell], W_PAD=w_pad,
                                BLOCK_N=forward)
            self.backward.warmup(*[out] * 11, b.gather, b.route, *scalars, grid=(1,), CELL=CELLS[cell],
                                 W_PAD=w_pad, BLOCK_N=backward)
            self.table_add.warmup(out, out, b.gather, b.gather, 1, n, 0, 0, grid=(1,), BLOCK_N=table_block(n))
            self.checked.add(key)

    def forward_step(self, cell: str, plan, st, out: torch.Tensor, s: int, lo: int, hi: int) -> None:
        """Step ``s`` of bucket ``st.bucket``'s paths ``lo:hi``: their states, then added onto their layers."""
        b, n = st.bucket, out.shape[-1]
        w_pad, block = block_n(b.units, n, FORWARD_TILE)
        c, g, tanh_c = st.lstm if len(st.lstm) == 3 else (out, out, out)
        self.forward[(hi - lo, -(-n // block))](
            out, st.acts, c, g, tanh_c, st.weights, st.bias, b.gather,
            n, plan.rows, plan.window, s, lo, b.paths, b.span, b.packed_rows, b.hidden_row, b.units,
            CELL=CELLS[cell], W_PAD=w_pad, BLOCK_N=block)
        # the states onto their layers' rows of step s; sources within step s's window (its first row s * rows)
        self._add(out, out, b.scatter("forward", lo, hi, out.device), (plan.window + s) * plan.rows, s * plan.rows)

    def backward_step(self, cell: str, plan, g, out: torch.Tensor, d_out: torch.Tensor, s: int, lo: int,
                      hi: int) -> None:
        """Back through step ``s`` of bucket ``g.st.bucket``'s paths ``lo:hi``, then their inputs' gradients
        added onto the rows they read (step s's window)."""
        st, n = g.st, out.shape[-1]
        b = st.bucket
        w_pad, block = block_n(b.units, n, BACKWARD_TILE)
        c, gate, tanh_c = st.lstm if len(st.lstm) == 3 else (out, out, out)
        self.backward[(hi - lo,)](
            out, d_out, st.acts, c, gate, tanh_c, st.weights, g.d_weights_t, g.d_bias,
            g.d_c if g.d_c is not None else out, g.spill, b.gather, b.route,
            n, plan.rows, plan.window, s, lo, b.paths, b.span, b.packed_rows, b.hidden_row, b.units,
            CELL=CELLS[cell], W_PAD=w_pad, BLOCK_N=block)
        self._add(d_out, g.spill, b.scatter("backward", lo, hi, out.device), s * plan.rows, 0)

    def _add(self, target: torch.Tensor, source: torch.Tensor, scatter, target_first: int, source_first: int
             ) -> None:
        if scatter.width:
            n = target.shape[-1]
            block = table_block(n)
            self.table_add[(len(scatter.unique), -(-n // block))](
                target, source, scatter.unique, scatter.table, scatter.width, n, target_first, source_first,
                BLOCK_N=block)


MAX_BLOCK_N = 128  # strings per program at most (tests lower it, so that batches span several blocks)
# elements of one W_PAD x BLOCK_N tile: a program holds about ten such tiles. Chosen by ptxas's register counts
# for sm_90 (no GPU has timed them): at 1,024 the forward fits 255 registers a thread without spilling for every
# cell; the backward, which also keeps gate values and gradients live across its column loop, spilled at 1,024 for
# W_PAD >= 16 and fits at 512 (GRU 8 x 64: 183 registers, LSTM 231)
FORWARD_TILE = 1024
BACKWARD_TILE = 512


def block_n(units: int, n: int, tile: int = FORWARD_TILE) -> tuple[int, int]:
    """(W_PAD, BLOCK_N): a power of two >= the bucket's units (at least 2: no blocks of one row), and a block of
    strings, a power of two of at least 16, so that a W_PAD x BLOCK_N tile holds about ``tile`` elements."""
    w_pad = max(2, 1 << (units - 1).bit_length())
    cap = max(16, min(MAX_BLOCK_N, tile // w_pad))
    return w_pad, max(16, min(cap, 1 << max(0, (n - 1).bit_length())))


def _triton():
    """Triton, imported on first use, with ``tl`` (which the kernels name) bound to its language module."""
    import triton
    import triton.language

    globals()["tl"] = triton.language
    return triton


def _jit(fn):
    """``fn`` as a Triton kernel, not specialised on its integer arguments (:data:`_SCALARS`)."""
    return _triton().jit(fn, do_not_specialize=[name for name in _parameters(fn) if name in _SCALARS])


def _parameters(fn) -> dict[str, str]:
    """A kernel's parameters and their Triton types (``constexpr``, ``i32``, ``*i64`` or ``*fp32``)."""
    import inspect

    return {name: "constexpr" if "constexpr" in str(p.annotation) else "i32" if name in _SCALARS
            else "*i64" if name in _INDEX_TABLES else "*fp32"
            for name, p in inspect.signature(fn).parameters.items()}


def table_block(n: int) -> int:
    """Strings per program of the table kernel (one row of sums each)."""
    return max(16, min(MAX_BLOCK_N, 1 << max(0, (n - 1).bit_length())))


def kernels_for(cell: str, tensor: torch.Tensor) -> Kernels | None:
    """The kernels for a wavefront of ``cell`` on ``tensor``: float32 on CUDA (or on the CPU in mode
    ``interpret``), where Triton imports and ``populations.kernels`` is not ``plain``; else None (the plain path)."""
    if not _enabled() or _state["probing"] == "plain" or cell not in CELLS or tensor.dtype != torch.float32:
        return None
    interpret = not tensor.is_cuda
    if interpret and (_state["mode"] != "interpret" or tensor.device.type != "cpu"):
        return None
    kernels: dict[bool, Kernels | None] = _state["kernels"]  # type: ignore[assignment]
    if interpret not in kernels:
        try:
            kernels[interpret] = Kernels(interpret)
        except Exception as error:  # ImportError, or a Triton that does not know this API
            fail(f"Triton unavailable ({type(error).__name__}: {error})")
            kernels[interpret] = None
    return kernels[interpret]


def verify(cell: str, tensor: torch.Tensor) -> None:
    """Before a cell's first wavefront on a device takes the kernels: run a small wavefront (four buckets, padded
    units and inputs, a window of three steps, strings of several lengths in several blocks) forward and backward
    through them and through the plain path, and keep the kernels only where the outputs and every gradient agree
    to :data:`TOLERANCE`; else :func:`fail` (one warning line with the difference; the plain path from then on).
    The compiled kernels have been tested through Triton's interpreter and compiled for sm_90 without a GPU, so this
    is what stands between a GPU this code has never met and different numbers. Once per cell and device; the
    global random state is left as it was; skipped while a CUDA graph is being captured (the first batch of every
    shape runs eagerly before, :mod:`sparsepipe.capture`)."""
    if _state["probing"] or kernels_for(cell, tensor) is None:
        return
    verified: dict[tuple[str, str], float] = _state["verified"]  # type: ignore[assignment]
    key = (cell, str(tensor.device))
    if key in verified or (tensor.is_cuda and torch.cuda.is_current_stream_capturing()):
        return
    try:
        difference = _probe(cell, tensor.device)
    except Exception as error:
        fail(f"the {cell} check against the plain path failed ({reason_of(error)})")
        return
    finally:
        _state["probing"] = ""
    if difference > TOLERANCE:
        fail(f"the {cell} kernels differ from the plain path on {tensor.device} by {difference:.1e} (relative; "
             f"at most {TOLERANCE:.0e} expected)")
        return
    verified[key] = difference
    log.info("Triton %s steps on %s agree with the plain path to %.1e (relative)", cell, tensor.device, difference)


def _probe(cell: str, device: torch.device) -> float:
    """The largest relative difference (per tensor, to its largest magnitude) between the kernels and the plain
    path over one small wavefront's outputs and its gradients (inputs, weights, biases)."""
    from sparsepipe.models.wavefront import EMBEDDING, Wavefront

    # layers of 3, 2, 4, 1 and 5 units; paths from the embedding (3 columns) and across up to three levels
    widths, embedding = [3, 2, 4, 1, 5], 3
    paths = [(EMBEDDING, 0), (EMBEDDING, 1), (0, 2), (1, 2), (0, 3), (2, 4), (1, 4), (EMBEDDING, 3)]
    plan = Wavefront(cell, widths, paths, embedding, bucket_overhead=2)
    generator = torch.Generator().manual_seed(0)
    n, length = MAX_BLOCK_N + 22, 6  # strings in two or more blocks, the last partial
    # values only where the paths have entries, as Wavefront.pack places them (padding stays zero)
    values = torch.randn(len(plan.destination), generator=generator) * 0.5
    packed = values.new_zeros(plan.weight_size + plan.bias_size).index_add(0, plan.destination, values)
    weights, bias = packed.to(device).split([plan.weight_size, plan.bias_size])
    plan.to(device)
    embedded = torch.randn(n, length, embedding, generator=generator).to(device)
    lengths = torch.randint(1, length + 1, (n,), generator=generator)
    layers = torch.tensor([3, 4, 4, 2], device=device)
    columns = torch.tensor([plan.starts[3], plan.starts[4], plan.starts[4] + 4, plan.starts[2] + 1], device=device)
    weight_out = torch.randn(n, len(layers), generator=generator).to(device)
    found = []
    for path in ("plain", "kernels"):
        _state["probing"] = path
        leaves = [x.clone().requires_grad_() for x in (weights, bias, embedded)]
        with torch.enable_grad():
            out = plan.run(*leaves, length + plan.depth - 1, read=(lengths, layers, columns))
            (out * weight_out).sum().backward()
        found.append([out.detach(), *(x.grad for x in leaves)])
    return max(((a - b).abs().max() / a.abs().max().clamp_min(1e-12)).item()
               for a, b in zip(*found, strict=True))


def _enabled() -> bool:
    """Neither switched off (``SPARSEPIPE_GPU_STEPS=off``, or by a failure: :func:`fail`) nor ``kernels: plain``."""
    return _state["mode"] != "off" and fused._state["mode"] != "plain"


def would_run() -> bool:
    """Whether a CUDA float32 wavefront would take these kernels (mode, the plain switch, Triton installed), without
    importing Triton: what sizing populations by memory needs to know before any batch runs."""
    import importlib.util

    return _enabled() and importlib.util.find_spec("triton") is not None


def reason_of(error: Exception) -> str:
    """An error as one line for :func:`fail`: its type and its message's first line (compiler errors run long)."""
    return f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0]}"


def fail(reason: str) -> None:
    """Give up the Triton steps for this process: one warning line naming the reason; the plain path runs."""
    if not _state["failed"]:
        log.warning("Triton wavefront steps unavailable, using the plain torch path: %s", reason)
    _state["failed"] = reason
    _state["mode"] = "off"


def compile_for(capability: int, cell: str, units: int, n: int = 128) -> dict[str, dict[str, int]]:
    """Compile the three kernels of one bucket shape for an NVIDIA GPU of compute ``capability`` (90: H100/H200)
    without one, with Triton's own ``ptxas``: per kernel the size of its machine code (``cubin`` bytes), and the
    registers a thread uses and the bytes it spills to local memory, as ``ptxas -v`` reports them. For checks on
    machines without a GPU."""
    import re
    import subprocess
    import tempfile
    from pathlib import Path

    from triton.backends.compiler import GPUTarget

    triton = _triton()
    (w_pad, forward), (_, backward) = block_n(units, n, FORWARD_TILE), block_n(units, n, BACKWARD_TILE)
    shape = {"CELL": CELLS[cell], "W_PAD": w_pad}
    kernels = {"forward": (_forward_step, {**shape, "BLOCK_N": forward}),
               "backward": (_backward_step, {**shape, "BLOCK_N": backward}),
               "table_add": (_table_add, {"BLOCK_N": table_block(n)})}
    ptxas = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "ptxas"
    found = {}
    for name, (fn, constants) in kernels.items():
        source = triton.compiler.ASTSource(fn=triton.jit(fn), signature=_parameters(fn), constexprs=constants)
        compiled = triton.compile(source, target=GPUTarget("cuda", capability, 32))
        with tempfile.TemporaryDirectory() as tmp:
            ptx = Path(tmp) / f"{name}.ptx"
            ptx.write_text(compiled.asm["ptx"])
            report = subprocess.run([str(ptxas), "-v", f"--gpu-name=sm_{capability}a", str(ptx), "-o",
                                     str(Path(tmp) / "out.cubin")], capture_output=True, text=True, check=True)
        text = report.stdout + report.stderr
        found[name] = {"cubin": len(compiled.asm["cubin"]),
                       "registers": int(re.search(r"Used (\d+) registers", text).group(1)),
                       "spilled": int(re.search(r"(\d+) bytes spill stores", text).group(1))}
    return found
