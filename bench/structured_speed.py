"""Training speed of the graph-structured recurrent nets, and the paper-scale estimate:
`python bench/structured_speed.py [--batches 40]`.

Times one training epoch (Adam(fused=True) on both sides, as sparsepipe.stages trains; cross-entropy) on a full
training set of 18,750 Reber strings, batch 128, one thread (two such processes share the two cores), best of
``--repeats``, ``--batches k`` batches extrapolated to the epoch (0: whole epochs):

- GRU on a 30-node Barabasi-Albert graph (m=2): the reference (a plain Python time-step loop over the masked
  cells, sparsepipe.models.reference.ReferenceStructuredRNN, every layer and skip path in turn at every time step)
  against StructuredRNN (the diagonal wavefront), both on the same batches, timed under both batchings: random
  (plain shuffled, sparsepipe.train.batches) and length-bucketed (sparsepipe.models.batching, as training runs).
  The speed-up is per batching; the target, >= 5x faster per epoch, is read on the bucketed batches. (An earlier
  version gave the reference random batches and the wavefront bucketed ones: ~2x of its figure was the bucketing.)
- every cell type on 30-node BA and WS graphs (fast path only), from which the paper-scale structure study is
  estimated: 4 cell types x 200 graphs (half BA, half WS) x 15 epochs x 18,750 strings, as two single-thread
  processes side by side on the 2 cores. Target: <= 8 hours.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import networkx as nx
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # time this checkout, whatever is installed

from rnn_speed import add_epoch_arguments, reber_train, seconds_per_epoch  # noqa: E402  (bench/ is the script's folder)

from sparsepipe.data.reber import VOCABULARY  # noqa: E402
from sparsepipe.graphs import layered_dag, to_dag  # noqa: E402
from sparsepipe.models.batching import bucketed_batches  # noqa: E402
from sparsepipe.models.reference import ReferenceStructuredRNN  # noqa: E402
from sparsepipe.models.rnn import CELLS  # noqa: E402
from sparsepipe.models.structured import StructuredRNN  # noqa: E402
from sparsepipe.train import batches  # noqa: E402

STUDY = {"cells": 4, "graphs": 200, "epochs": 15, "processes": 2}


def graph(kind: str, seed: int) -> nx.Graph:
    if kind == "ba":
        return nx.barabasi_albert_graph(30, 2, seed=seed)
    return nx.watts_strogatz_graph(30, 4, 0.3, seed=seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", nargs="+", default=list(CELLS), help="cells timed for the estimate")
    parser.add_argument("--no-reference", action="store_true", help="skip the (slow) reference timing")
    add_epoch_arguments(parser, batch_size=128, batches=40)
    args = parser.parse_args()
    torch.set_num_threads(1)
    train = reber_train(args.strings, args.seed)
    layered = {kind: layered_dag(to_dag(graph(kind, args.seed))) for kind in ("ba", "ws")}
    for kind, dag in layered.items():
        print(f"{kind} graph (seed {args.seed}): layers {[len(n) for n in dag.layers]}, "
              f"{dag.dag.number_of_edges()} edges")
    print(f"{args.strings} strings, batch {args.batch_size}, 1 thread, sample {args.batches or 'all'} "
          f"batches/epoch, best of {args.repeats}, {'default' if args.default_adam else 'fused'} Adam")

    def timed(kind: str, cell: str, model_cls: type, batcher) -> float:
        torch.manual_seed(args.seed)
        model = model_cls(layered[kind], cell, VOCABULARY, args.embedding)
        return seconds_per_epoch(model, train, args.batch_size, batcher, args.batches, args.repeats, args.seed,
                                 not args.default_adam)

    fast: dict[tuple[str, str], float] = {}
    if not args.no_reference:
        reference = {b: timed("ba", "gru", ReferenceStructuredRNN, batcher)
                     for b, batcher in (("random", batches), ("bucketed", bucketed_batches))}
        wavefront_random = timed("ba", "gru", StructuredRNN, batches)
        fast["ba", "gru"] = timed("ba", "gru", StructuredRNN, bucketed_batches)
        random_speedup = reference["random"] / wavefront_random
        speedup = reference["bucketed"] / fast["ba", "gru"]
        print(f"gru on BA-30 s/epoch, random batches: reference {reference['random']:.2f}, wavefront "
              f"{wavefront_random:.2f} ({random_speedup:.2f}x); bucketed: reference {reference['bucketed']:.2f}, "
              f"wavefront {fast['ba', 'gru']:.2f} ({speedup:.2f}x; target >= 5x on bucketed batches: "
              f"{'met' if speedup >= 5 else 'MISSED'})", flush=True)
    for cell in args.cells:
        for kind in ("ba", "ws"):
            if (kind, cell) not in fast:
                fast[kind, cell] = timed(kind, cell, StructuredRNN, bucketed_batches)
        print(f"{cell:8s} wavefront+bucketed s/epoch: BA-30 {fast['ba', cell]:.2f}, WS-30 {fast['ws', cell]:.2f}",
              flush=True)
    # every cell type not timed is assumed to cost what the timed ones cost on average
    per_epoch = sum(fast.values()) / len(fast)  # mean over cells and the two generators (the study's half/half)
    hours = STUDY["cells"] * STUDY["graphs"] * STUDY["epochs"] * per_epoch / STUDY["processes"] / 3600
    print(f"paper-scale estimate: {STUDY['cells']} cells x {STUDY['graphs']} graphs x {STUDY['epochs']} epochs x "
          f"{per_epoch:.2f} s/epoch / {STUDY['processes']} processes = {hours:.1f} h (target <= 8 h; training "
          f"only, test-set evaluation excluded)")


if __name__ == "__main__":
    main()
