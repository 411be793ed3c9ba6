"""L-OBS inverse Hessians, Cholesky vs. per-sample Sherman-Morrison recursion: `python bench/lobs_speed.py`.

A 784-100-10 MLP with random weights and 10,000 random "validation" samples, float64 as in
``sparsepipe.prune.lobs``, timed with one thread and with every core (torch and the numpy BLAS both limited to
the same count, for both sides). The Cholesky path is all that prune_step does for it (forward pass with hooks, Gram
matrices, damping, factorisation, inverse, all layers). The recursion starts from the inverse damping and adds one
sample's x x^T / N at a time, H^-1 -= H^-1 x x^T H^-1 / (N + x^T H^-1 x), from the same layer inputs: once with the
operations of Dong et al.'s code (csyhhu/L-OBS, ``generate_hessian_inv_Woodbury``, numpy path: two mat-vecs, an
outer product, a new matrix per sample), once as tight as torch allows (one mat-vec, an in-place rank-one update).
Both are timed on a fraction of the samples and extrapolated; all timings best of 3. Target: at least 100x.
Both paths do O(N d^2) work, so the speed-up is that of one matrix-matrix product over N matrix-vector passes.
The full recursion over the small layer is checked against the Cholesky inverse.
"""

from __future__ import annotations

import argparse
import os

import torch
from threadpoolctl import threadpool_limits
from timing import best_of  # bench/timing.py: the script's own folder

from sparsepipe.models.ffn import MLP, linear_layers
from sparsepipe.prune import lobs


def dong_recursion(inputs: torch.Tensor, samples: int, damping: float) -> torch.Tensor:
    """(damping I + sum of x x^T / samples over the rows of ``inputs``)^-1, as Dong et al.'s numpy code updates it."""
    h_inv = torch.eye(inputs.shape[1], dtype=inputs.dtype) / damping
    for x in inputs:
        wb = x.unsqueeze(0)
        denominator = samples + (wb @ h_inv) @ wb.T
        numerator = (h_inv @ wb.T) @ (wb @ h_inv)
        h_inv = h_inv - numerator * (1.0 / denominator)
    return h_inv


def tight_recursion(inputs: torch.Tensor, samples: int, damping: float) -> torch.Tensor:
    """The same recursion with one mat-vec (H^-1 is symmetric) and an in-place rank-one update."""
    h_inv = torch.eye(inputs.shape[1], dtype=inputs.dtype) / damping
    for x in inputs:
        hx = h_inv @ x
        h_inv.addr_(hx, hx, alpha=-1.0 / (samples + x @ hx).item())
    return h_inv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--fraction", type=float, default=0.1, help="share of the samples the recursion is timed on")
    parser.add_argument("--threads", type=int, nargs="*", default=[1, os.cpu_count() or 1])
    args = parser.parse_args()
    for threads in dict.fromkeys(args.threads):
        torch.set_num_threads(threads)
        with threadpool_limits(threads):
            measure(args, threads)


def measure(args: argparse.Namespace, threads: int) -> None:
    torch.manual_seed(0)
    model = MLP(784, [100], 10)
    layers = linear_layers(model)
    x = torch.randn(args.samples, 784)

    result: dict[str, list[torch.Tensor]] = {}

    def cholesky_path() -> None:
        result["h"] = lobs.hessians(model, layers, x)
        result["h_inv"] = [lobs.inverse(h) for h in result["h"]]

    cholesky = best_of(3, cholesky_path)
    with torch.no_grad():
        inputs = [x, model[1](model[0](x))]
    inputs = [torch.cat([a, torch.ones(len(a), 1)], dim=1).to(torch.float64) for a in inputs]
    dampings = [lobs.DAMPING * a.square().mean(0).mean().item() for a in inputs]  # as hessians() adds
    timed = int(args.fraction * args.samples)
    print(f"layers: {[h.shape[0] for h in result['h']]} (inputs + bias), samples: {args.samples}, threads: {threads}")
    print(f"Cholesky, all layers: {cholesky:.3f} s")
    for name, recursion in (("as Dong et al.'s code", dong_recursion), ("tight", tight_recursion)):
        seconds = sum(best_of(3, lambda a=a, lam=lam, fn=recursion: fn(a[:timed], args.samples, lam))
                      for a, lam in zip(inputs, dampings, strict=True)) * args.samples / timed
        small = recursion(inputs[1], args.samples, dampings[1])
        error = ((small - result["h_inv"][1]).abs().max() / result["h_inv"][1].abs().max()).item()
        print(f"Sherman-Morrison {name}, all layers: {seconds:.2f} s (timed on {timed} samples, extrapolated); "
              f"speed-up {seconds / cholesky:,.0f}x (target >= 100x); small layer vs. Cholesky: "
              f"max |difference| / max |entry| = {error:.1e}")


if __name__ == "__main__":
    main()
