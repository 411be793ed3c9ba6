"""Which population size trains fastest per member: `python bench/population_size.py [--cells gru lstm]`.

The 200 paper-drawn graphs of bench/population_speed.py, cut by ``sparsepipe.populations.group`` (sorted by depth
and width, as the pipeline cuts them) into populations of at most K members, for each K in ``--sizes``; every
population trains the same ``--batches`` batches of paper-like strings (configs/paper-rnn.yaml's reber settings,
length-bucketed, 128 strings), one thread, fused Adam, the fused kernels where they compile. Prints the seconds all
200 models take for those batches at each K (so every K does the same work), best of ``--rounds``. This is the
measurement behind ``populations.size: auto``'s cap on the CPU (sparsepipe.populations.CPU_SIZE_CAP).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # time this checkout, whatever is installed
sys.path.insert(0, str(Path(__file__).resolve().parent))

from population_speed import BATCH, models  # noqa: E402

from sparsepipe.data.reber import generate_reber, tensors_of  # noqa: E402
from sparsepipe.models.batching import bucketed_batches  # noqa: E402
from sparsepipe.models.population import population_loss  # noqa: E402
from sparsepipe.populations import Candidate, group, population_of  # noqa: E402

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def paper_like_split(count: int, test: int = 10) -> tuple[torch.Tensor, ...]:
    """(tokens, lengths, labels) of ``count`` training strings drawn like configs/paper-rnn.yaml's."""
    strings = generate_reber(count, test, 49, seed=0, min_length=11, mean_length=23.6,
                             invalid={"near_miss": 0.44, "other_grammar": 0.56}, alphabet=ALPHABET,
                             other_grammar_mean_length=14.9)
    split = tensors_of(strings, "train", "reber", alphabet=ALPHABET)
    return split.tokens, split.lengths, split.labels


def paper_like_batches(count: int, seed: int) -> list[tuple[torch.Tensor, ...]]:
    """``count`` length-bucketed training batches of strings drawn like configs/paper-rnn.yaml's."""
    return list(bucketed_batches(paper_like_split(4 * BATCH * count), BATCH,
                                 torch.Generator().manual_seed(seed)))[:count]


def seconds(population: torch.nn.Module, batches: list[tuple[torch.Tensor, ...]],
            optimizer: torch.optim.Optimizer | None = None) -> float:
    """Seconds to train ``population`` on ``batches`` (loss, backward, fused Adam step, wait for the result)."""
    optimizer = optimizer or torch.optim.Adam(population.parameters(), lr=0.001, fused=True)
    begin = time.perf_counter()
    for tokens, lengths, labels in batches:
        optimizer.zero_grad(set_to_none=True)
        loss = population_loss(population(tokens, lengths), labels)
        loss.backward()
        optimizer.step()
        loss.item()
    return time.perf_counter() - begin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", nargs="+", default=["gru", "lstm"])
    parser.add_argument("--graphs", type=int, default=200)
    parser.add_argument("--sizes", nargs="+", type=int, default=[10, 25, 50, 100, 200])
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    batches = paper_like_batches(args.batches, seed=1)
    length = max(int(b[1].max()) for b in batches)
    print(f"{args.graphs} paper-drawn graphs, {len(batches)} batches of {BATCH} paper-like strings, 1 thread; "
          f"seconds for every model to train those batches")
    for cell in args.cells:
        everyone = models(cell, list(range(args.graphs)), 0)
        pairs = [(Candidate(f"{i:04d}", i, None), m) for i, m in enumerate(everyone)]
        figures = []
        for size in args.sizes:
            groups = group(pairs, BATCH, length, size, 1000.0)
            populations = [population_of([m for _, m in members]) for members in groups]
            best = min(sum(seconds(p, batches) for p in populations) for _ in range(args.rounds))
            figures.append((size, best))
            print(f"{cell:5s} K <= {size:3d} ({len(groups):3d} populations): {best:6.2f} s "
                  f"({1000 * best / args.graphs / len(batches):.1f} ms per member-batch)", flush=True)
        fastest = min(figures, key=lambda f: f[1])
        print(f"{cell:5s} fastest: K <= {fastest[0]}")


if __name__ == "__main__":
    main()
