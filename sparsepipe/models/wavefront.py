"""The diagonal wavefront: many small recurrent layers run as one batched recurrence, with a hand-written backward.

A graph-structured recurrent net computes layer ``l`` at time ``t`` from layer ``l - 1`` (and, through skip paths,
from earlier layers) at the *same* time, so run straightforwardly it takes ``T x paths`` sequential cell calls, each
tiny (a DAG layer often has 1-7 units): on a CPU the cost is per-call overhead, not arithmetic. The wavefront
shifts every path writing layer ``l`` by ``l`` steps: at wavefront step ``s`` it processes time ``t = s - l``.
Everything a path reads was then written at an *earlier* step (layer ``l - 1`` wrote time ``t`` at step ``s - 1``;
a skip path from layer ``j`` reads what ``j`` wrote ``l - j`` steps ago), so all paths advance together, one batched
cell step per wavefront step: ``T + depth - 1`` steps instead of ``T x paths`` calls.

Layout (batch last, paths batched): each path's units are padded to the widest path (``w``) and its inputs to the
widest input (``I``); padded weights and biases are zero, so padded units stay exactly zero. Every step's results
live in one buffer whose rows are: the layers' outputs (``W``), the embedding (read by layer 0 at delay 0), every
path's hidden units (``P * w``, read back at delay 1) and one zero row (where padded inputs point). A step gathers
each path's ``[input; previous hidden]`` with one ``index_select`` from the last ``K + 1`` steps' rows, multiplies
by the paths' combined ``[W_ih | W_hh]`` in one ``bmm``, runs the cell's gate math and adds the hidden units onto
their layers' rows with one ``index_add_``.

The backward is written by hand (back-propagation through time over the same buffers, the gathers becoming
scatters) because autograd's bookkeeping of ~15 small ops per step costs several times their arithmetic here. The
paths stay ordinary single-layer ``nn.GRU``/``nn.LSTM``/``nn.RNN`` modules that carry torch.nn.utils.prune masks;
:meth:`Wavefront.pack` reads their (masked) weights differentiably, so gradients reach ``weight_ih_l0_orig`` etc.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from sparsepipe.models.masks import effective_weight
from sparsepipe.models.rnn import GATES, WEIGHTS, check_cell

EMBEDDING = -1  # the source of a path that reads the token embedding


def tanh_(x: torch.Tensor) -> torch.Tensor:
    """In-place tanh as ``2 sigmoid(2x) - 1`` (equal up to float rounding, ~1e-7): on CPU, torch's float tanh is
    several times slower than its sigmoid, and the gates' tanh would be a large share of a step's arithmetic."""
    return x.mul_(2).sigmoid_().mul_(2).sub_(1)


class Wavefront(nn.Module):
    """Index plan of a wavefront over layers of units (``widths``) written by recurrent ``paths``.

    ``paths[k] = (source, target)``: path ``k`` reads layer ``source`` (or the embedding of width ``embedding``,
    ``source = EMBEDDING``) and its hidden units add onto layer ``target``'s output (a layer's output is the sum of
    the paths writing it). Buffers are non-persistent: they follow ``.to(device)`` but stay out of state dicts.
    """

    def __init__(self, cell: str, widths: Sequence[int], paths: Sequence[tuple[int, int]], embedding: int):
        super().__init__()
        check_cell(cell)
        if any(source != EMBEDDING and not 0 <= source < target for source, target in paths):
            raise ValueError(f"every path must read an earlier layer or the embedding; got {list(paths)}")
        self.cell, self.gates = cell, GATES[cell]
        starts = [sum(widths[:k]) for k in range(len(widths) + 1)]
        self.paths = len(paths)  # P
        fan_in = [embedding if source == EMBEDDING else widths[source] for source, _ in paths]
        sizes = [widths[target] for _, target in paths]
        self.units, self.inputs = max(sizes), max(fan_in)  # w, I
        self.outputs, self.embedding = starts[-1], embedding  # W, E
        self.hidden_row = self.outputs + embedding  # first row of the paths' hidden units
        self.zero_row = self.hidden_row + self.paths * self.units
        self.rows = self.zero_row + 1  # R: rows per step in the buffer
        self.depth = max(target for _, target in paths) + 1
        self.window = max([target - source for source, target in paths if source != EMBEDDING] + [1])  # K
        p_count, w, i_max, g, window, rows = self.paths, self.units, self.inputs, self.gates, self.window, self.rows
        # packed rows per path: LSTM/RNN gates; GRU r, z, then the candidate's input and hidden parts apart,
        # because its reset gate multiplies only the hidden part
        self.packed_rows = (g + 1 if cell == "gru" else g) * w
        span = i_max + w  # a path's gathered column: its inputs, then its previous hidden state

        gather = torch.full((p_count, span), window * rows + self.zero_row)  # padding reads the zero row
        route = torch.full((p_count, w), self.zero_row)  # padded units read the zero row's (zero) gradient
        first_step = torch.zeros(p_count, 1, 1)
        weight_index, bias_index = {}, {}
        for p, ((source, target), size, inputs) in enumerate(zip(paths, sizes, fan_in, strict=True)):
            if source == EMBEDDING:  # delay 0: the newest step's embedding rows
                gather[p, :inputs] = window * rows + self.outputs + torch.arange(inputs)
            else:
                gather[p, :inputs] = (window - (target - source)) * rows + starts[source] + torch.arange(inputs)
            gather[p, i_max:] = (window - 1) * rows + self.hidden_row + p * w + torch.arange(w)
            route[p, :size] = starts[target] + torch.arange(size)
            first_step[p] = target
            unit = torch.arange(size)
            # module row gate * size + unit -> packed row; GRU's candidate: input part row 2w+u, hidden part 3w+u
            ih_rows = torch.cat([k * w + unit for k in range(g)])
            hh_rows = torch.cat([(k + (k == 2 and cell == "gru")) * w + unit for k in range(g)])
            base = p * self.packed_rows
            weight_index[p] = (
                ((base + ih_rows)[:, None] * span + torch.arange(inputs)[None, :]).reshape(-1),
                ((base + hh_rows)[:, None] * span + i_max + unit[None, :]).reshape(-1),
            )
            bias_index[p] = (base + ih_rows, base + hh_rows)  # LSTM/RNN: both biases land on the same rows, summed
        self.weight_size = p_count * self.packed_rows * span
        index = [weight_index[p][k] for k in range(2) for p in range(p_count)]
        index += [self.weight_size + bias_index[p][k] for k in range(2) for p in range(p_count)]
        self.register_buffer("destination", torch.cat(index), persistent=False)
        self.register_buffer("gather", gather.reshape(-1), persistent=False)
        self.register_buffer("route", route.reshape(-1), persistent=False)
        # forward scatter: padded units (exactly zero) add onto row 0, so the scatter stays within the output rows
        self.register_buffer("route_out", torch.where(route == self.zero_row, 0, route).reshape(-1),
                             persistent=False)
        # active[s, p] = 1 once path p has started (step >= its target layer); before, its state stays zero
        steps = torch.arange(max(self.depth - 1, 0), dtype=torch.float32)[:, None, None, None]
        self.register_buffer("active", (steps >= first_step[None]).float(), persistent=False)
        self.workspace = Workspace()

    def pack(self, modules: Sequence[nn.RNNBase]) -> tuple[torch.Tensor, torch.Tensor]:
        """The paths' (masked) weights as one ``[W_ih | W_hh]`` (P, rows, I + w) and one bias (P, rows, 1).
        Differentiable: gradients flow back to each module's parameters (``*_orig`` where pruned)."""
        values = torch.cat([effective_weight(m, name).reshape(-1) for name in WEIGHTS for m in modules])
        packed = values.new_zeros(self.weight_size + self.paths * self.packed_rows)
        packed = packed.index_add(0, self.destination, values)
        weights, bias = packed.split([self.weight_size, self.paths * self.packed_rows])
        return (weights.view(self.paths, self.packed_rows, self.inputs + self.units),
                bias.view(self.paths, self.packed_rows, 1))

    def forward(self, modules: Sequence[nn.RNNBase], embedded: torch.Tensor, steps: int) -> torch.Tensor:
        """Layer outputs (steps, W, N) for ``embedded`` (N, T, E): ``[s, layer l's units]`` is layer l's output at
        time ``s - l`` (zero for negative times; times at or past T are computed but meaningless, and a causal
        reader never needs them). One call = one batch; ``steps`` is normally ``T + depth - 1``."""
        weights, bias = self.pack(modules)
        backward = torch.is_grad_enabled() and (embedded.requires_grad or weights.requires_grad)
        return _WavefrontFunction.apply(self, embedded.permute(1, 2, 0), weights, bias, steps, backward)

    def read(self, outputs: torch.Tensor, lengths: torch.Tensor, layers: torch.Tensor, columns: torch.Tensor
             ) -> torch.Tensor:
        """(N, k): output unit ``columns[j]`` (of layer ``layers[j]``) at each string's last real step, from the
        :meth:`forward` outputs; layer ``l`` wrote time ``t`` at wavefront step ``t + l``."""
        _, width, n = outputs.shape
        step = lengths.to(outputs.device)[:, None] - 1 + layers[None, :]
        batch = torch.arange(n, device=outputs.device)[:, None]
        flat = ((step * width + columns[None, :]) * n + batch).reshape(-1)
        return outputs.reshape(-1).index_select(0, flat).view(n, -1)  # backward: index_add, not a sorting scatter


class Workspace:
    """Memory for the per-batch buffers (several MB), reused from batch to batch.

    On the CPU a fresh multi-megabyte tensor costs a page fault per 4 KiB page on first touch (glibc serves large
    allocations by mmap and unmaps them on free) -- measured here as ~20% of a batch. A forward takes a block and the
    backward gives it back; a forward that no backward will follow gives it back itself.
    """

    def __init__(self, keep: int = 4):
        self.keep, self.free, self.largest = keep, [], 0

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
            block = like.new_empty(self.largest)
        return block, [view.view(shape) for view, shape in zip(block[:need].split(sizes), shapes, strict=True)]

    def give(self, block: torch.Tensor) -> None:
        self.free = sorted([*self.free, block], key=torch.Tensor.numel, reverse=True)[: self.keep]


def _steps(x: torch.Tensor, *blocks: tuple[int, int]) -> list[tuple[torch.Tensor, ...]]:
    """Per-step views of ``x`` (steps, P, rows, N): one tuple per row block ``(start, stop)``, made with ``unbind``
    once instead of by indexing inside the loop (there, indexing costs as much as the arithmetic)."""
    return [x[:, :, start:stop].unbind(0) for start, stop in blocks]


class _WavefrontFunction(torch.autograd.Function):
    """Forward and hand-written backward of a wavefront; see the module docstring for the layout."""

    @staticmethod
    def forward(ctx, plan: Wavefront, embedded: torch.Tensor, weights: torch.Tensor, bias: torch.Tensor,
                steps: int, backward: bool) -> torch.Tensor:
        length, _, n = embedded.shape
        p, w, i_max, window, rows, cell = plan.paths, plan.units, plan.inputs, plan.window, plan.rows, plan.cell
        shapes = [(window + steps, rows, n), (steps, p, i_max + w, n), (steps, p, plan.packed_rows, n)]
        if cell == "lstm":
            shapes += [(steps + 1, p, w, n), (steps, p, w, n), (steps, p, w, n)]
        block, (out, gathered, acts, *lstm) = plan.workspace.take(shapes, embedded)
        # out[window + s]: what wavefront step s wrote. Zero what no step overwrites whole: the layers' rows
        # (accumulated into), the state before step 0, the zero row, and the embedding rows past the strings
        out[:, : plan.outputs].zero_()
        out[:, plan.zero_row].zero_()
        out[window - 1, plan.hidden_row : plan.zero_row].zero_()
        out[window : window + min(length, steps), plan.outputs : plan.hidden_row] = embedded[:steps]
        out[window + length :, plan.outputs : plan.hidden_row].zero_()
        # the rows step s gathers from: the K + 1 newest steps, as (rows * (K + 1), N) views
        windows = out.view(-1, n).unfold(0, (window + 1) * rows, rows).transpose(1, 2).unbind(0)
        hidden = out[window:, plan.hidden_row : plan.zero_row].view(steps, p, w, n)
        h_t, outputs_t = hidden.unbind(0), out[window:, : plan.outputs].unbind(0)
        # gathered: every step's [inputs; previous hidden] (for the weight gradients); acts: its gate activations
        xh_t, (h_prev,) = gathered.unbind(0), _steps(gathered, (i_max, i_max + w))
        acts_t, (first, second, third, fourth, rz) = acts.unbind(0), _steps(
            acts, *((k * w, (k + 1) * w) for k in range(4)), (0, 2 * w))
        if cell == "lstm":
            cells, candidate, tanh_c = lstm
            cells[0].zero_()
            c_t, g_t, tanh_t = cells.unbind(0), candidate.unbind(0), tanh_c.unbind(0)
        active = plan.active.unbind(0)
        for s in range(steps):
            torch.index_select(windows[s], 0, plan.gather, out=xh_t[s].view(-1, n))
            a, h = torch.baddbmm(bias, weights, xh_t[s], out=acts_t[s]), h_t[s]
            if cell == "gru":  # rows: r, z, candidate's input part, candidate's hidden part
                rz[s].sigmoid_()
                new_gate = tanh_(third[s].addcmul_(first[s], fourth[s]))
                torch.addcmul(new_gate, second[s], h_prev[s] - new_gate, out=h)
            elif cell == "lstm":  # rows: i, f, g, o; g's row holds sigmoid(2 g_pre), so tanh(g) = 2 * it - 1
                third[s].mul_(2)
                a.sigmoid_()
                g = torch.mul(third[s], 2, out=g_t[s]).sub_(1)
                c = torch.mul(second[s], c_t[s], out=c_t[s + 1]).addcmul_(first[s], g)
                if s < plan.depth - 1:
                    c.mul_(active[s])
                torch.mul(fourth[s], tanh_(tanh_t[s].copy_(c)), out=h)
            elif cell == "rnn_tanh":
                h.copy_(tanh_(a))
            else:
                h.copy_(a.relu_())
            if s < plan.depth - 1:  # paths into deeper layers have not started yet: their state stays zero
                h.mul_(active[s])
            outputs_t[s].index_add_(0, plan.route_out, h.view(p * w, n))
        result = out[window:, : plan.outputs].clone()  # the block is reused: the caller gets its own copy
        if not backward:
            plan.workspace.give(block)
            return result
        ctx.plan, ctx.length, ctx.block = plan, length, block
        ctx.save_for_backward(weights)
        ctx.gathered, ctx.acts, ctx.hidden = gathered, acts, hidden
        if cell == "lstm":
            ctx.lstm = (cells, candidate, tanh_c)
        return result

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        if ctx.block is None:
            raise RuntimeError("wavefront: a second backward through the same forward is not supported")
        plan, length = ctx.plan, ctx.length
        (weights,) = ctx.saved_tensors
        gathered, acts, hidden = ctx.gathered, ctx.acts, ctx.hidden
        steps, p, _, n = acts.shape
        w, i_max, window, rows, cell = plan.units, plan.inputs, plan.window, plan.rows, plan.cell
        d_block, (d_out, d_acts) = plan.workspace.take([(window + steps, rows, n), tuple(acts.shape)], grad_out)
        d_out.zero_()
        d_out[window:, : plan.outputs] = grad_out
        d_windows = d_out.view(-1, n).unfold(0, (window + 1) * rows, rows).transpose(1, 2).unbind(0)
        d_rows = d_out[window:].unbind(0)
        d_hidden = d_out[window - 1 : -1, plan.hidden_row : plan.zero_row].view(steps, p, w, n).unbind(0)
        d_weights_t = weights.new_zeros(p, i_max + w, plan.packed_rows)  # transposed: the faster bmm layout here
        weights_t = weights.transpose(1, 2)
        xh_t, (h_prev,), acts_t, d_acts_t = gathered.unbind(0), _steps(gathered, (i_max, i_max + w)), acts.unbind(0), \
            d_acts.unbind(0)
        blocks = [(k * w, (k + 1) * w) for k in range(4)]
        first, second, third, fourth = _steps(acts, *blocks)
        d_first, d_second, d_third, d_fourth = _steps(d_acts, *blocks)
        h_t, active = hidden.unbind(0), plan.active.unbind(0)
        if cell == "lstm":
            c_t, g_t, tanh_t = (x.unbind(0) for x in ctx.lstm)
            d_c = grad_out.new_zeros(p, w, n)
        for s in range(steps - 1, -1, -1):
            # everything that read step s's rows ran later, so their gradient is complete
            d_h = d_hidden[s + 1] if s + 1 < steps else d_out[window + s, plan.hidden_row : plan.zero_row].view(p, w, n)
            d_h.view(p * w, n).add_(d_rows[s].index_select(0, plan.route))
            if s < plan.depth - 1:
                d_h.mul_(active[s])
                if cell == "lstm":
                    d_c.mul_(active[s])
            a, d_a = acts_t[s], d_acts_t[s]
            if cell == "gru":
                r, z, new_gate = first[s], second[s], third[s]
                t = d_h * (1 - z)
                d_new = torch.addcmul(t, t * new_gate, new_gate, value=-1, out=d_third[s])
                torch.mul(d_new, r, out=d_fourth[s])
                torch.mul(d_new * fourth[s], r * (1 - r), out=d_first[s])
                torch.mul(d_h * (h_prev[s] - new_gate), z * (1 - z), out=d_second[s])
                if s > 0:  # h = n + z (h_prev - n): the direct path to the previous state
                    d_hidden[s].addcmul_(d_h, z)
            elif cell == "lstm":
                v = d_h * fourth[s]
                d_c.add_(v).addcmul_(v, tanh_t[s] * tanh_t[s], value=-1)
                torch.mul(d_c, g_t[s], out=d_first[s])
                torch.mul(d_c, c_t[s], out=d_second[s])
                torch.mul(d_c, first[s], out=d_third[s]).mul_(4)  # d tanh(x) = 4 sigmoid(2x)(1 - sigmoid(2x))
                torch.mul(d_h, tanh_t[s], out=d_fourth[s])
                d_a.mul_(a * (1 - a))
                d_c.mul_(second[s])
            elif cell == "rnn_tanh":
                torch.addcmul(d_h, d_h * h_t[s], h_t[s], value=-1, out=d_a)
            else:
                torch.mul(d_h, h_t[s] > 0, out=d_a)
            d_weights_t.baddbmm_(xh_t[s], d_a.transpose(1, 2))
            # back onto the rows the step gathered from: its inputs, and the previous hidden state
            d_windows[s].index_add_(0, plan.gather, torch.bmm(weights_t, d_a).view(-1, n))
        d_embedded = None
        if ctx.needs_input_grad[1]:
            d_embedded = d_out[window : window + min(length, steps), plan.outputs : plan.hidden_row]
            if length > steps:
                d_embedded = torch.cat([d_embedded, grad_out.new_zeros(length - steps, plan.embedding, n)])
            d_embedded = d_embedded.clone()  # d_out goes back to the workspace
        d_bias = d_acts.sum(3).sum(0).unsqueeze(-1)  # innermost reduction first: the fast one
        plan.workspace.give(ctx.block)
        plan.workspace.give(d_block)
        ctx.block = ctx.gathered = ctx.acts = ctx.hidden = ctx.lstm = None
        return None, d_embedded, d_weights_t.transpose(1, 2), d_bias, None, None
