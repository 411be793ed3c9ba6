"""Time the structural features: one big pruned-network graph, and many small generated graphs.

    python bench/features_speed.py                      # both figures (targets: <= 10 s and <= 30 s on 2 cores)
    python bench/features_speed.py --engine networkx    # the reference engine (the big graph takes ~1 min)

1. A pruned LeNet-300-100-like net: 784+300+100+10 units, 30,000 surviving weights drawn uniformly among all
   weights between consecutive layers; all features through ``network_features`` (graph built from the masks).
2. 1,000 graphs of 10-50 nodes (250 each of Barabási–Albert, Watts–Strogatz, Erdős–Rényi, random regular);
   ``features_table`` of all of them (drawing them is timed apart).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from sparsepipe.features import features_table, network_features
from sparsepipe.graphs import generate_graphs

WIDTHS = (784, 300, 100, 10)
SURVIVING = 30_000
SMALL = {
    "barabasi_albert": {"count": 250, "nodes": list(range(10, 51)), "m": [1, 2, 3]},
    "watts_strogatz": {"count": 250, "nodes": list(range(10, 51)), "k": [2, 4, 6], "p": [0.1, 0.5, 0.9]},
    "erdos_renyi": {"count": 250, "nodes": list(range(10, 51)), "p": [0.15, 0.3]},
    "random_regular": {"count": 250, "nodes": list(range(10, 51, 2)), "d": [3, 4]},
}


def pruned_masks(seed: int = 0) -> list[np.ndarray]:
    """0/1 masks (out x in) keeping SURVIVING weights drawn uniformly over all layers."""
    shapes = [(fan_out, fan_in) for fan_in, fan_out in zip(WIDTHS[:-1], WIDTHS[1:], strict=True)]
    sizes = [a * b for a, b in shapes]
    keep = np.zeros(sum(sizes), dtype=bool)
    keep[np.random.default_rng(seed).choice(sum(sizes), SURVIVING, replace=False)] = True
    return [part.reshape(shape) for part, shape in zip(np.split(keep, np.cumsum(sizes)[:-1]), shapes, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", default="numpy", choices=("numpy", "networkx"))
    args = parser.parse_args()

    masks = pruned_masks()
    start = time.perf_counter()
    big = network_features(masks, "lenet-300-100", args.engine)
    big_seconds = time.perf_counter() - start
    print(f"big graph ({big['nodes']} nodes, {big['edges']} edges, {big['dropped_isolated_nodes']} isolated units "
          f"dropped): all features in {big_seconds:.2f} s (target <= 10 s) [{args.engine}]")

    start = time.perf_counter()
    graphs = pd.concat([generate_graphs(name, settings, 0) for name, settings in SMALL.items()], ignore_index=True)
    draw_seconds = time.perf_counter() - start
    start = time.perf_counter()
    table = features_table(graphs, args.engine)
    small_seconds = time.perf_counter() - start
    print(f"{len(table)} small graphs ({graphs['nodes'].min()}-{graphs['nodes'].max()} nodes, "
          f"{graphs['src'].apply(len).mean():.0f} edges on average): features in {small_seconds:.2f} s "
          f"(target <= 30 s), drawing them {draw_seconds:.2f} s [{args.engine}]")


if __name__ == "__main__":
    main()
