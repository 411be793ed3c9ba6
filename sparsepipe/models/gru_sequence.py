"""A GRU layer over a whole padded sequence with a hand-written backward, for the CPU.

PyTorch runs LSTMs on the CPU through oneDNN's fused kernel but GRUs through a C++ loop that autograd records op by
op (~12 nodes per time step), so a small GRU spends most of its time in bookkeeping. Here the input projections of
all steps are one matrix product, the recurrence runs without autograd, and the backward (back-propagation through
time) is ~7 small ops per step plus a few large products for the weight gradients. Same numbers as ``nn.GRU``
(tested to 1e-5, gradients included); it reads the layer's weights through torch.nn.utils.prune masks.
"""

from __future__ import annotations

import torch
from torch import nn

from sparsepipe.models.masks import effective_weight


def gru_sequence(layer: nn.GRU, x: torch.Tensor) -> torch.Tensor:
    """Outputs (T, N, H) of the single-layer ``layer`` on ``x`` (T, N, I), from a zero initial state."""
    gi = nn.functional.linear(x, effective_weight(layer, "weight_ih_l0"), effective_weight(layer, "bias_ih_l0"))
    return _GRUSequence.apply(gi, effective_weight(layer, "weight_hh_l0"), effective_weight(layer, "bias_hh_l0"))


class _GRUSequence(torch.autograd.Function):
    """``gi`` (T, N, 3H): input gate pre-activations (bias included); gate order r, z, n as in torch.nn.GRU."""

    @staticmethod
    def forward(ctx, gi: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor) -> torch.Tensor:
        length, n, three = gi.shape
        h3 = three // 3
        states = gi.new_empty(length + 1, n, h3)  # states[t] = state before step t
        states[0].zero_()
        gh, rz, new_gate = gi.new_empty(length, n, 3 * h3), gi.new_empty(length, n, 2 * h3), gi.new_empty(length, n, h3)
        w_t = w_hh.t()
        # per-step views made once (unbind) rather than by indexing in the loop: indexing costs more than the math
        gi_rz, gi_n, gh_t, gh_rz, gh_n, state, rz_t, r_t, z_t, new_t = (x.unbind(0) for x in (
            gi[..., : 2 * h3], gi[..., 2 * h3 :], gh, gh[..., : 2 * h3], gh[..., 2 * h3 :], states, rz,
            rz[..., :h3], rz[..., h3:], new_gate))
        for t in range(length):
            torch.addmm(b_hh, state[t], w_t, out=gh_t[t])
            torch.add(gi_rz[t], gh_rz[t], out=rz_t[t]).sigmoid_()
            cand = torch.addcmul(gi_n[t], r_t[t], gh_n[t], out=new_t[t]).tanh_()
            torch.lerp(cand, state[t], z_t[t], out=state[t + 1])  # n + z (h - n)
        ctx.save_for_backward(w_hh, states, rz, new_gate, gh)
        return states[1:]

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        w_hh, states, rz, new_gate, gh = ctx.saved_tensors
        length, n, h3 = new_gate.shape
        r, z = rz[..., :h3], rz[..., h3:]
        # dh -> d(gate pre-activations) are products with factors that depend on the forward pass only: computed
        # for all steps at once, so a step of the recurrence is three ops (one product, the state's two paths)
        to_new = (1 - z) * (1 - new_gate * new_gate)  # dh -> d(candidate pre-activation)
        factors = torch.stack([
            to_new * gh[..., 2 * h3 :] * r * (1 - r),  # dh -> d(reset pre-activation)
            (states[:-1] - new_gate) * z * (1 - z),  # dh -> d(update pre-activation)
            to_new * r,  # dh -> d(candidate's hidden part), gh_n
        ], dim=2)
        d_gh = grad_out.new_empty(length, n, 3 * h3)
        d_states = torch.empty_like(grad_out)  # d_states[t]: gradient into the output of step t
        d_states[length - 1] = grad_out[length - 1]
        g_out, f_t, z_t, d_h_t, d_gh_t = (x.unbind(0) for x in (grad_out, factors, z, d_states, d_gh))
        for t in range(length - 1, -1, -1):
            torch.mul(d_h_t[t].unsqueeze(1), f_t[t], out=d_gh_t[t].view(n, 3, h3))
            if t > 0:  # gradient into the previous state: its own output, the direct path, the recurrent weights
                torch.addcmul(g_out[t - 1], d_h_t[t], z_t[t], out=d_h_t[t - 1]).addmm_(d_gh_t[t], w_hh)
        d_gi = torch.empty_like(d_gh)
        torch.mul(d_states, to_new, out=d_gi[..., 2 * h3 :])
        d_gi[..., : 2 * h3] = d_gh[..., : 2 * h3]
        flat = d_gh.view(-1, 3 * h3)
        d_w_hh = flat.t() @ states[:-1].reshape(-1, h3) if ctx.needs_input_grad[1] else None
        return d_gi, d_w_hh, flat.sum(0)
