"""Exact OBD Hessian diagonal vs. one double backward per weight: `python bench/obd_speed.py`.

A 784-100-10 MLP with random weights and 10,000 random "validation" samples (784 features, 10 classes), one
thread. The per-weight loop (autograd.grad of each gradient entry w.r.t. its weight, the first-order graph built
once) is timed on a random sample of weights and extrapolated to all of them; both are best of 3. Target: the
batched sweep at least 10,000x faster. The sampled entries are also checked against the sweep.
"""

from __future__ import annotations

import argparse

import torch
from timing import best_of  # bench/timing.py: the script's own folder
from torch import nn

from sparsepipe.models.ffn import MLP, linear_layers
from sparsepipe.prune import obd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--weights", type=int, default=200, help="weights timed in the per-weight loop")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = MLP(784, [100], 10)
    layers = linear_layers(model)
    x, y = torch.randn(args.samples, 784), torch.randint(0, 10, (args.samples,))
    params = [layer.weight for layer in layers]
    total = sum(p.numel() for p in params)

    result: dict[str, list[torch.Tensor]] = {}
    sweep = best_of(3, lambda: result.update(diagonal=obd.hessian_diagonal(model, layers, x)))

    picks = torch.randperm(total)[: args.weights]
    owner = torch.bucketize(picks, torch.tensor([p.numel() for p in params]).cumsum(0), right=True)
    offsets = torch.tensor([0] + [p.numel() for p in params]).cumsum(0)
    found = torch.zeros(len(picks))

    def first_order():
        return torch.autograd.grad(nn.functional.cross_entropy(model(x), y), params, create_graph=True)

    def loop(grads) -> None:
        for n, (k, layer) in enumerate(zip(picks.tolist(), owner.tolist(), strict=True)):
            entry = k - int(offsets[layer])
            second = torch.autograd.grad(grads[layer].flatten()[entry], params[layer], retain_graph=True)[0]
            found[n] = second.flatten()[entry]

    graph_time = best_of(3, first_order)
    grads = first_order()
    per_weight = best_of(3, lambda: loop(grads)) / len(picks)
    naive = graph_time + per_weight * total
    exact = torch.cat([d.flatten() for d in result["diagonal"]])[picks]
    error = ((found - exact).abs().max() / exact.abs().max()).item()

    print(f"weights: {total}, samples: {args.samples}, threads: 1")
    print(f"exact diagonal, batched sweep: {sweep:.3f} s")
    print(f"double backward: {per_weight * 1e3:.2f} ms per weight ({len(picks)} timed) + {graph_time:.3f} s "
          f"for the first-order graph -> {naive:.0f} s for all weights (extrapolated)")
    print(f"speed-up: {naive / sweep:,.0f}x (target >= 10,000x)")
    print(f"max |difference| on the sampled weights / max |h_ii|: {error:.1e}")


if __name__ == "__main__":
    main()
