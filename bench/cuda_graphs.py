"""CUDA-graph populations against eager ones on one GPU: `python bench/cuda_graphs.py [--cells gru] [--members 200]`.

Per cell, one population of ``--members`` paper-drawn graphs (bench/population_speed.py's draw: n ~ U[10, 50], half
Barabasi-Albert, half Watts-Strogatz; embedding = the graph's sources) trains on 18,750 strings drawn like
configs/paper-rnn.yaml's (bench/population_size.py: 11-49 symbols, mean 23.6), length-bucketed batches of 128
(147 per epoch), fused Adam at 0.001, under the pipeline's CUDA settings (sparsepipe.train.deterministic_cuda).
Both sides run the same batches, in the same order, through the same step code:

- eager: sparsepipe.capture.CapturedSteps with capture off (each batch's kernels launched from Python, the path
  before capture and the fallback), timed over the first ``--eager-batches`` batches and scaled to the epoch;
- captured: CapturedSteps as sparsepipe.train.fit uses it, two whole epochs. Epoch 1 holds each shape's eager
  warm-up step and its capture; epoch 2 replays (shapes seen once still run eagerly).

Prints seconds per epoch, model-epochs/s, the peak GPU memory, the largest relative difference between the two sides'
losses on the batches both ran (same start, same batches), and the paper-scale study's training time on one GPU
(4 cells x 200 graphs x 15 epochs, each cell's population after the other: epoch 1 once, then epoch 2's rate).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # time this checkout, whatever is installed
sys.path.insert(0, str(Path(__file__).resolve().parent))

from population_size import paper_like_split  # noqa: E402
from population_speed import BATCH, EPOCHS, GRAPHS, STRINGS, models  # noqa: E402

from sparsepipe.capture import CapturedSteps  # noqa: E402
from sparsepipe.models import gpu_steps  # noqa: E402
from sparsepipe.models.batching import bucketed_batches  # noqa: E402
from sparsepipe.models.population import RecurrentPopulation, population_loss  # noqa: E402
from sparsepipe.models.wavefront import BUCKET_OVERHEAD  # noqa: E402
from sparsepipe.train import deterministic_cuda  # noqa: E402


def epoch(steps: CapturedSteps, batches: list[tuple[torch.Tensor, ...]], eager: bool = False
          ) -> tuple[float, list[torch.Tensor]]:
    """Seconds for ``batches`` (to the device's last kernel) and their losses (device tensors, copied out)."""
    torch.cuda.synchronize()
    begin = time.perf_counter()
    losses = []
    for batch in batches:
        loss = steps._eager(batch) if eager else steps(batch)
        losses.append(loss.clone())
    torch.cuda.synchronize()
    return time.perf_counter() - begin, losses


def population(cell: str, members: int, device: torch.device, bucket_overhead: int = BUCKET_OVERHEAD
               ) -> tuple[RecurrentPopulation, torch.optim.Optimizer]:
    model = RecurrentPopulation(models(cell, list(range(members)), 0), bucket_overhead).to(device)
    return model, torch.optim.Adam(model.parameters(), lr=0.001, fused=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", nargs="+", default=["gru", "lstm", "rnn_tanh", "rnn_relu"])
    parser.add_argument("--members", type=int, default=GRAPHS)
    parser.add_argument("--eager-batches", type=int, default=20)
    parser.add_argument("--nondeterministic", action="store_true",
                        help="leave torch's deterministic algorithms off (the pipeline switches them on)")
    parser.add_argument("--profile", action="store_true", help="print the top kernels of one eager batch per cell")
    parser.add_argument("--gpu-steps", choices=["auto", "off"], default="auto",
                        help="auto: the wavefront's steps as Triton kernels (sparsepipe.models.gpu_steps); off: "
                             "the plain torch ops (the figures before them)")
    parser.add_argument("--bucket-overhead", type=int, default=BUCKET_OVERHEAD,
                        help=f"a bucket's fixed cost per step in padded path-units (default {BUCKET_OVERHEAD}, "
                             "measured on the CPU; larger: fewer, wider buckets)")
    args = parser.parse_args()
    gpu_steps.use(args.gpu_steps)
    device = torch.device("cuda")
    if not args.nondeterministic:
        deterministic_cuda()
    split = paper_like_split(STRINGS, STRINGS // 10)
    orders = [list(bucketed_batches(split, BATCH, torch.Generator().manual_seed(seed))) for seed in (1, 2)]
    per_epoch = len(orders[0])
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}; {args.members} paper-drawn graphs per "
          f"population, {STRINGS} paper-like strings, {per_epoch} batches of {BATCH} per epoch; wavefront steps: "
          f"{'Triton kernels' if args.gpu_steps == 'auto' else 'plain torch ops'}, bucket overhead "
          f"{args.bucket_overhead}")
    study = 0.0
    for cell in args.cells:
        model, optimizer = population(cell, args.members, device, args.bucket_overhead)
        eager_steps = CapturedSteps(model, optimizer, population_loss, cell)
        if args.profile:
            epoch(eager_steps, orders[1][:1], eager=True)
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as profile:
                epoch(eager_steps, orders[1][1:2], eager=True)
            print(profile.key_averages().table(sort_by="cuda_time_total", row_limit=12, max_name_column_width=60))
            # the timing starts from the same weights
            model, optimizer = population(cell, args.members, device, args.bucket_overhead)
            eager_steps = CapturedSteps(model, optimizer, population_loss, cell)
        eager_seconds, eager_losses = epoch(eager_steps, orders[0][: args.eager_batches], eager=True)
        eager_epoch = eager_seconds * per_epoch / args.eager_batches
        model, optimizer = population(cell, args.members, device, args.bucket_overhead)
        torch.cuda.reset_peak_memory_stats()
        with CapturedSteps(model, optimizer, population_loss, cell) as steps:
            first, losses = epoch(steps, orders[0])
            second, _ = epoch(steps, orders[1])
        difference = max(abs(a.item() - b.item()) / abs(b.item()) for a, b in
                         zip(losses[: args.eager_batches], eager_losses, strict=True))
        rate = args.members / second
        study += first + (EPOCHS - 1) * second * GRAPHS / args.members
        print(f"{cell:8s} {len(model.wavefront.buckets)} buckets, eager {eager_epoch:6.1f} s/epoch "
              f"({args.members / eager_epoch:6.1f} model-epochs/s) | "
              f"captured: epoch 1 {first:5.1f} s ({len(steps.graphs)} shapes captured), epoch 2 {second:5.2f} s "
              f"({rate:6.1f} model-epochs/s, {eager_epoch / second:4.1f}x); {steps.replays} of "
              f"{steps.replays + steps.eager} batches replayed; peak {torch.cuda.max_memory_allocated() / 2**30:.1f} "
              f"GiB; losses differ by at most {difference:.1e} (relative)", flush=True)
        if gpu_steps._state["failed"]:
            print(f"the Triton steps fell back to the plain ops: {gpu_steps._state['failed']}")
        del model, optimizer, steps
        torch.cuda.empty_cache()
    if len(args.cells) == 4:
        print(f"paper-scale study (4 cells x {GRAPHS} graphs x {EPOCHS} epochs), training on one GPU, one "
              f"population per cell after another: {study:.0f} s")


if __name__ == "__main__":
    main()
