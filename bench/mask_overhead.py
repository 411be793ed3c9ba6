"""Training time of a pruned (masked) MLP vs. the same dense one: `python bench/mask_overhead.py`.

A 784-100-10 MLP, 20,000 random samples (784 features, 10 classes), one epoch of ``sparsepipe.train.fit`` (SGD with
momentum, batch 64), one thread, best of 3. The pruned net carries torch.nn.utils.prune masks after an 80%
class-blinded step: every forward pass recomputes ``weight = weight_orig * weight_mask`` in a forward pre-hook, and
autograd multiplies the gradient by the mask. Target: at most 1.3x the dense epoch.
"""

from __future__ import annotations

import argparse
import time

import torch

from sparsepipe.models.ffn import MLP, linear_layers
from sparsepipe.prune.step import prune_step
from sparsepipe.train import fit


def epoch_seconds(models: list[MLP], data: tuple[torch.Tensor, torch.Tensor], batch_size: int) -> list[float]:
    """Best of 3 per model, the models taking turns so that load from others hits both alike."""
    optimizers = [torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9) for model in models]
    times = [float("inf")] * len(models)
    for repeat in range(3):
        for i, (model, optimizer) in enumerate(zip(models, optimizers, strict=True)):
            start = time.perf_counter()
            fit(model, optimizer, data, epochs=1, batch_size=batch_size, seed=repeat)
            times[i] = min(times[i], time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)
    data = (torch.randn(args.samples, 784, generator=generator),
            torch.randint(0, 10, (args.samples,), generator=generator))
    torch.manual_seed(0)
    dense = MLP(784, [100], 10)
    torch.manual_seed(0)
    pruned = MLP(784, [100], 10)
    prune_step(linear_layers(pruned), "class_blinded", 80)
    dense_time, pruned_time = epoch_seconds([dense, pruned], data, args.batch_size)
    print(f"samples: {args.samples}, batch: {args.batch_size}, threads: 1")
    print(f"dense epoch: {dense_time:.3f} s, pruned (80% class-blinded, masked) epoch: {pruned_time:.3f} s")
    print(f"ratio: {pruned_time / dense_time:.2f}x (target <= 1.3x)")


if __name__ == "__main__":
    main()
