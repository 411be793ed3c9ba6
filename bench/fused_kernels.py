"""The C wavefront against the plain torch ops: `python bench/fused_kernels.py [--cells gru lstm] [--members 25]`.

One process, one thread, one population of paper-drawn graphs (bench/population_speed.py's draw) on strings drawn
like the paper's (configs/paper-rnn.yaml's reber settings). Both sides train the same population on the same
batches (length-bucketed, 128 strings) with the same loss and fused Adam; the kernel mode is switched between rounds
(``sparsepipe.models.fused.use``), so both sides see the same process, memory and machine load. Prints seconds per
training batch, best of ``--rounds``, and the speed-up. The compile (once per machine, cached) is not timed here:
it is printed apart. Each cell's line ends with the rate of the matrix products alone (:func:`matrix_flops`), to
hold against the core's peak.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # time this checkout, whatever is installed
sys.path.insert(0, str(Path(__file__).resolve().parent))

from population_size import paper_like_batches, seconds  # noqa: E402
from population_speed import BATCH, models  # noqa: E402

from sparsepipe.models import fused  # noqa: E402
from sparsepipe.populations import population_of  # noqa: E402


def matrix_flops(population: torch.nn.Module, batches: list[tuple[torch.Tensor, ...]]) -> float:
    """Floating-point operations of the batches' matrix products, counted on each path's own (unpadded) size: every
    path is active for the batch's T steps, and a step costs 2 x rows x columns x N forward (the pre-activations)
    and twice that backward (the weight gradient and the gradient onto the gathered rows). Against the seconds per
    batch this gives a lower bound of the arithmetic rate (the gates' elementwise math is not counted)."""
    per_string_step = sum(int(((b.packed_rows // b.units) * units * (units + inputs)).sum())
                          for b in population.wavefront.buckets
                          for units, inputs in [(b.path_units, b.path_inputs)])
    return sum(6.0 * per_string_step * tokens.shape[0] * tokens.shape[1] for tokens, _, _ in batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", nargs="+", default=["gru", "lstm"])
    parser.add_argument("--members", type=int, default=25)
    parser.add_argument("--batches", type=int, default=8, help="batches per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    fused.use("auto")
    if fused.library() is None:
        sys.exit("fused kernels unavailable here (see the warning above): nothing to compare")
    print(f"kernels ready in {time.perf_counter() - start:.2f} s (compiled, or loaded from the cache)")
    batches = paper_like_batches(args.batches, seed=0)
    print(f"{args.members} paper-drawn graphs as one population, {len(batches)} batches of {BATCH} paper-like "
          f"strings (mean length {float(torch.cat([b[1] for b in batches]).float().mean()):.1f}), 1 thread")
    for cell in args.cells:
        population = population_of(models(cell, list(range(args.members)), 0))
        optimizer = torch.optim.Adam(population.parameters(), lr=0.001, fused=True)

        def round_seconds(population=population, optimizer=optimizer) -> float:
            return seconds(population, batches, optimizer) / len(batches)

        round_seconds()  # warm-up: workspaces, allocator
        times: dict[str, list[float]] = {"plain": [], "auto": []}
        for _ in range(args.rounds):
            for mode in times:
                fused.use(mode)
                times[mode].append(round_seconds())
        plain, quick = min(times["plain"]), min(times["auto"])
        rate = matrix_flops(population, batches) / len(batches) / quick / 1e9
        print(f"{cell:5s} plain {plain:.3f} s/batch, fused {quick:.3f} s/batch (best of {args.rounds}): "
              f"{plain / quick:.2f}x; the fused batch's matrix products alone at {rate:.1f} GFLOP/s", flush=True)
    fused.use("auto")


if __name__ == "__main__":
    main()
