"""How hard is the sequence task, and is it the task or the training? `python bench/reber_task.py --results DIR`.

Reads a run's sequence table (``DIR/data/reber.parquet``) and prints, on its test split:

1. the accuracy of two rules that need no learning: *foreign letters* (invalid iff a symbol outside the Reber
   alphabet occurs; what a net that learned only the alphabet scores) and *bigrams* (also invalid if the string does
   not run B...E or holds a pair of neighbours no valid training string holds); and the share of near misses the
   bigram rule catches;
2. with ``--random-near-misses``: the same table with every near miss replaced by a random string over the Reber
   alphabet of the same length that the grammar rejects (an easier kind of invalid string; seeded), to ask how much
   of the task's difficulty is its one-edit near misses;
3. with ``--lr``: graph-structured nets of ``--cell`` on every ``--every``-th graph of ``DIR/graphs/<generator>
   .parquet``, trained as the pipeline trains them (``stages.structure.train_structured``, populations, embedding =
   source nodes, ``--epochs`` epochs, batch ``--batch``) at each learning rate: mean and standard deviation of test
   accuracy over the graphs (n = graphs), and the time taken.

Used for issue 21: on the paper-length task (valid 11-49 symbols, one-edit near misses) GRUs trained as the paper
trains them score what the foreign-letter rule scores.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from sparsepipe import stages
from sparsepipe.data.reber import REBER_ALPHABET, is_reber
from sparsepipe.data.sequences import load_sequences, write_sequences


def rules(table: pd.DataFrame) -> None:
    train, test = table[table["split"] == "train"], table[table["split"] == "test"]
    bigrams = {s[i : i + 2] for s in train.loc[train["label"] == 1, "string"] for i in range(len(s) - 1)}

    def foreign(s: str) -> bool:
        return bool(set(s) - set(REBER_ALPHABET))

    def bigram_valid(s: str) -> bool:
        return not foreign(s) and s[0] == "B" and s[-1] == "E" and all(
            s[i : i + 2] in bigrams for i in range(len(s) - 1))

    labels = test["label"].to_numpy()
    print(f"test strings: {len(test)}; kinds: {test['kind'].value_counts().to_dict()}")
    print(f"foreign-letter rule: {((~test['string'].map(foreign)).astype(int) == labels).mean():.4f}")
    print(f"bigram rule:         {(test['string'].map(bigram_valid).astype(int) == labels).mean():.4f}")
    near = test[test["kind"] == "near_miss"]
    if len(near):
        print(f"near misses the bigram rule catches: {(~near['string'].map(bigram_valid)).mean():.3f}")


def random_near_misses(table: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """``table`` with each near miss replaced by a random string over the Reber alphabet of its length, rejected by
    the grammar."""
    rng = random.Random(seed)

    def draw(length: int) -> str:
        while True:
            string = "".join(rng.choice(REBER_ALPHABET) for _ in range(length))
            if not is_reber(string):
                return string

    table = table.copy()
    near = table["kind"] == "near_miss"
    table.loc[near, "string"] = [draw(n) for n in table.loc[near, "length"]]
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, required=True, help="a run's results folder (data/, graphs/)")
    parser.add_argument("--cell", default="gru")
    parser.add_argument("--generator", default="barabasi_albert")
    parser.add_argument("--every", type=int, default=5, help="train every k-th graph")
    parser.add_argument("--lr", type=float, nargs="*", default=[], help="learning rates to train at")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--random-near-misses", action="store_true",
                        help="replace the near misses by random strings over the Reber alphabet (see above)")
    args = parser.parse_args()
    data = args.results / "data" / "reber.parquet"
    scratch = tempfile.TemporaryDirectory()
    if args.random_near_misses:
        alphabet = load_sequences(str(data)).alphabet
        easier = Path(scratch.name) / "reber.parquet"
        write_sequences(random_near_misses(pd.read_parquet(data)), alphabet, str(easier))
        data = easier
        print("near misses replaced by random strings over the Reber alphabet")
    rules(pd.read_parquet(data))
    torch.set_num_threads(1)
    for lr in args.lr:
        settings = {"train": {"embedding": "sources", "epochs": args.epochs, "batch_size": args.batch, "lr": lr},
                    "shards": args.every, "replicates": 1, "populations": {"size": "auto", "memory_gb": 2},
                    "seed": 0}
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "shard.parquet"
            start = time.perf_counter()
            stages.structure.train_structured(args.cell, args.generator, 0, settings,
                                              str(args.results / "graphs" / f"{args.generator}.parquet"), str(data),
                                              str(out), device="cpu")
            accuracy = pd.read_parquet(out)["test_acc"]
        print(f"{args.cell}, lr {lr:g}, {args.epochs} epochs, batch {args.batch}: test accuracy "
              f"{100 * accuracy.mean():.2f}% ± {100 * accuracy.std():.2f} (n = {len(accuracy)} graphs), "
              f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
