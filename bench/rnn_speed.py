"""Training speed of the dense recurrent classifiers: `python bench/rnn_speed.py [--batches 150]`.

Times one training epoch (Adam, cross-entropy; forward, backward, step per batch, as sparsepipe.train.fit does)
of an embedding -> GRU/LSTM [50, 50, 50] -> linear classifier on a full training set of 18,750 Reber strings,
batch 32, one thread (two such processes share the two cores), Adam(fused=True) on both sides as sparsepipe.units
trains (``--default-adam``: torch's default Adam), best of ``--repeats``:

Both sides train the same strings in the same batches, timed under both batchings (like with like):

- reference: a plain Python time-step loop over masked nn.GRUCell/nn.LSTMCell (sparsepipe.models.reference), a
  straightforward implementation; it runs each batch to its longest string, as the fast side does;
- fast: the fused single-layer nn.GRU/nn.LSTM modules (sparsepipe.models.rnn);
- batchings: random (plain shuffled batches, sparsepipe.train.batches) and length-bucketed
  (sparsepipe.models.batching, as training runs; about half the padded time steps). The speed-up is reported per
  batching, reference and fast on the same one; the target is read on the bucketed batches. (An earlier version
  compared the reference on random batches with the fast side on bucketed ones, which credited the bucketing's
  ~2x fewer time steps to the fast path.)

``--batches k`` times the first k batches of an epoch and extrapolates to the whole epoch (0: whole epochs).
Targets: >= 3x faster than the reference per epoch for GRU, >= 5x for LSTM.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # time this checkout, whatever is installed

from sparsepipe.data.reber import VOCABULARY, generate_reber, tensors_of
from sparsepipe.models.batching import bucketed_batches
from sparsepipe.models.reference import ReferenceRecurrentClassifier
from sparsepipe.models.rnn import RecurrentClassifier
from sparsepipe.train import batches

Batcher = Callable[[tuple[torch.Tensor, ...], int, torch.Generator], Iterator[tuple[torch.Tensor, ...]]]
TARGETS = {"gru": 3.0, "lstm": 5.0}


def seconds_per_epoch(model: nn.Module, train: tuple[torch.Tensor, ...], batch_size: int, batcher: Batcher,
                      sample: int, repeats: int, seed: int = 0, fused_adam: bool = False) -> float:
    """Best-of-``repeats`` training time of one epoch, from ``sample`` batches (0: all) scaled to the epoch."""
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01, fused=fused_adam or None)
    generator = torch.Generator().manual_seed(seed)
    epoch_batches = -(-len(train[-1]) // batch_size)
    sample = epoch_batches if sample <= 0 else min(sample, epoch_batches)

    def run(batch_iter: Iterator[tuple[torch.Tensor, ...]]) -> None:
        for *inputs, labels in batch_iter:
            optimizer.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(model(*inputs), labels)
            loss.backward()
            optimizer.step()
            loss.item()

    model.train()
    run(islice(batcher(train, batch_size, generator), 2))  # warm-up: allocator, oneDNN primitives
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run(islice(batcher(train, batch_size, generator), sample))
        best = min(best, (time.perf_counter() - start) * epoch_batches / sample)
    return best


def reber_train(strings: int, seed: int) -> tuple[torch.Tensor, ...]:
    t = tensors_of(generate_reber(strings, 10, 20, seed), "train")
    return t.tokens, t.lengths, t.labels


def add_epoch_arguments(parser: argparse.ArgumentParser, batch_size: int, batches: int) -> None:
    """The options of an epoch timing on Reber strings (shared with bench/structured_speed.py)."""
    parser.add_argument("--embedding", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--strings", type=int, default=18750, help="training strings (an epoch)")
    parser.add_argument("--batches", type=int, default=batches, help="timing sample per epoch; 0 = whole epochs")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--default-adam", action="store_true",
                        help="torch's default (foreach) Adam (default: Adam(fused=True), as sparsepipe.stages trains)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", nargs="+", default=["gru", "lstm"])
    parser.add_argument("--hidden", nargs="+", type=int, default=[50, 50, 50])
    add_epoch_arguments(parser, batch_size=32, batches=150)
    args = parser.parse_args()
    torch.set_num_threads(1)
    train = reber_train(args.strings, args.seed)
    print(f"{args.strings} strings, batch {args.batch_size}, hidden {args.hidden}, 1 thread, "
          f"sample {args.batches or 'all'} batches/epoch, best of {args.repeats}, "
          f"{'default' if args.default_adam else 'fused'} Adam")
    for cell in args.cells:
        torch.manual_seed(args.seed)
        fast = RecurrentClassifier(cell, VOCABULARY, args.embedding, args.hidden)
        reference = ReferenceRecurrentClassifier.like(fast)
        common = {"sample": args.batches, "repeats": args.repeats, "seed": args.seed,
                  "fused_adam": not args.default_adam}
        timing = {(side, batching): seconds_per_epoch(model, train, args.batch_size, batcher, **common)
                  for batching, batcher in (("random", batches), ("bucketed", bucketed_batches))
                  for side, model in (("reference", reference), ("fast", fast))}
        speedup = {b: timing["reference", b] / timing["fast", b] for b in ("random", "bucketed")}
        target = TARGETS.get(cell)
        verdict = "" if target is None else (f" (target >= {target:g}x on bucketed batches: "
                                             f"{'met' if speedup['bucketed'] >= target else 'MISSED'})")
        print(f"{cell:8s} s/epoch, random batches: reference {timing['reference', 'random']:.2f}, fast "
              f"{timing['fast', 'random']:.2f} ({speedup['random']:.2f}x); bucketed: reference "
              f"{timing['reference', 'bucketed']:.2f}, fast {timing['fast', 'bucketed']:.2f} "
              f"({speedup['bucketed']:.2f}x){verdict}", flush=True)

if __name__ == "__main__":
    main()
