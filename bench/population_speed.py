"""Population training against one model at a time: `python bench/population_speed.py [--cells gru lstm]`.

Graphs are drawn as the paper's code draws them (and as ``configs/paper-rnn.yaml`` does): n uniform in [10, 50],
half Barabasi-Albert with m = n // 10, half connected Watts-Strogatz with k = n // 5 and p = 1.0; embedding width =
the graph's number of sources. Both sides train the same models on the same 18,750 Reber strings with the same
batching (length-bucketed batches of 128, sparsepipe.models.batching, one batch order), the same loss and fused
Adam, on one thread:

- reference: each model alone, as StructuredRNN (the diagonal wavefront, sparsepipe's one-at-a-time path);
- population: the same models as RecurrentPopulations (sparsepipe.populations.group: sorted by depth and width,
  cut at ``--memory-gb``).

Throughput is model-epochs per second: ``--batches`` batches per model are timed (after one warm-up step on the
longest of them, which grows the wavefront's workspace to its final size) and scaled to the epoch (147 batches);
the reference times a random sample of ``--sample`` models and scales to all of them. The batches' lengths vary,
so few of them are a poor sample: at 10, the ratios moved by up to 20% with which batches were timed; at the
default 30, two runs agreed within 5%. Target on the
2-core machine: population >= 5x the reference. The last line estimates the paper-scale study (4 cells x 200
graphs x 15 epochs) from the measured throughputs, as two such processes side by side on two cores (one process
with ``--device cuda``: then both sides run on the GPU, timed to the end of each batch's work by ``loss.item()``).
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import time
from pathlib import Path

import networkx as nx
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # time this checkout, whatever is installed

from sparsepipe.data.reber import VOCABULARY, generate_reber, tensors_of  # noqa: E402
from sparsepipe.graphs import layered_dag, to_dag  # noqa: E402
from sparsepipe.models.batching import bucketed_batches  # noqa: E402
from sparsepipe.models.population import population_loss  # noqa: E402
from sparsepipe.models.structured import StructuredRNN  # noqa: E402
from sparsepipe.populations import Candidate, group, population_of  # noqa: E402

STRINGS, BATCH, EPOCHS, GRAPHS, CELLS = 18_750, 128, 15, 200, 4


def paper_graph(index: int, seed: int) -> nx.Graph:
    """The paper's draw: n ~ U[10, 50]; BA m = n // 10 or connected WS k = n // 5, p = 1.0."""
    rng = random.Random(seed * 100_003 + index)
    n = rng.randint(10, 50)
    if index % 2 == 0:
        return nx.barabasi_albert_graph(n, n // 10, seed=rng.randrange(2**31))
    return nx.connected_watts_strogatz_graph(n, n // 5, 1.0, seed=rng.randrange(2**31))


def models(cell: str, indices: list[int], seed: int) -> list[StructuredRNN]:
    out = []
    for index in indices:
        layered = layered_dag(to_dag(paper_graph(index, seed)))
        torch.manual_seed(index)
        out.append(StructuredRNN(layered, cell, VOCABULARY, len(layered.sources)))
    return out


def train_batches(model: torch.nn.Module, data: tuple[torch.Tensor, ...], count: int, seed: int,
                  device: torch.device) -> float:
    """Seconds for ``count`` training batches, the loop of sparsepipe.train.fit, after one warm-up step on the
    longest of them: a wavefront's workspace grows to the longest batch it has seen, and the first touch of a grown
    block (page faults, hundreds of MB for a large population) would otherwise land in whichever timed batch is the
    first that long. A training pays that in its first batches only; both sides warm up alike."""
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001, fused=True)
    criterion = population_loss if not isinstance(model, StructuredRNN) else torch.nn.functional.cross_entropy
    batches = list(itertools.islice(bucketed_batches(data, BATCH, torch.Generator().manual_seed(seed)), count))
    longest = max(batches, key=lambda batch: int(batch[1].max()))

    def step(batch: tuple[torch.Tensor, ...]) -> None:
        tokens, lengths, labels = (t.to(device) for t in batch)
        optimizer.zero_grad(set_to_none=True)
        loss = criterion(model(tokens, lengths), labels)
        loss.backward()
        optimizer.step()
        loss.item()  # waits for the device

    step(longest)
    start = time.perf_counter()
    for batch in batches:
        step(batch)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", nargs="+", default=["gru", "lstm"])
    parser.add_argument("--graphs", type=int, default=GRAPHS)
    parser.add_argument("--sample", type=int, default=20, help="models timed alone (scaled to --graphs)")
    parser.add_argument("--batches", type=int, default=30, help="batches timed per model / population")
    parser.add_argument("--memory-gb", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="cpu (the target's machine) or cuda")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.set_num_threads(1)
    strings = generate_reber(STRINGS, 10, 20, seed=args.seed, invalid={"near_miss": 0.5, "other_grammar": 0.5})
    split = tensors_of(strings, "train", "reber")
    data = (split.tokens, split.lengths, split.labels)
    per_epoch = -(-STRINGS // BATCH)
    sample = sorted(random.Random(args.seed).sample(range(args.graphs), min(args.sample, args.graphs)))
    print(f"{args.graphs} paper-drawn graphs (n in [10, 50]), {STRINGS} strings, batch {BATCH} bucketed on both "
          f"sides, 1 thread, {args.device}, {args.batches} batches timed (scaled to {per_epoch}/epoch)")
    throughput = {}
    for cell in args.cells:
        alone = sum(train_batches(m, data, args.batches, args.seed, device) for m in models(cell, sample, args.seed))
        alone_rate = len(sample) * args.batches / per_epoch / alone
        everyone = models(cell, list(range(args.graphs)), args.seed)
        pairs = [(Candidate(f"{i:04d}", i, None), m) for i, m in enumerate(everyone)]
        groups = group(pairs, BATCH, int(split.lengths.max()), "auto", args.memory_gb, device)
        together = 0.0
        for members in groups:
            together += train_batches(population_of([m for _, m in members]), data, args.batches, args.seed,
                                      device)
        rate = args.graphs * args.batches / per_epoch / together
        throughput[cell] = rate
        print(f"{cell:8s} one at a time {alone_rate:6.2f} model-epochs/s; population {rate:6.2f} model-epochs/s "
              f"({len(groups)} populations, sizes {[len(g) for g in groups]}): {rate / alone_rate:.1f}x", flush=True)
    mean = sum(throughput.values()) / len(throughput)
    processes = 2 if device.type == "cpu" else 1  # two cores, or one GPU
    hours = CELLS * GRAPHS * EPOCHS / (processes * mean) / 3600
    print(f"paper-scale study (4 cells x 200 graphs x 15 epochs, {processes} process(es)): ~{60 * hours:.0f} min of "
          f"training "
          f"at the mean measured population throughput (cells measured: {', '.join(throughput)})")


if __name__ == "__main__":
    main()
