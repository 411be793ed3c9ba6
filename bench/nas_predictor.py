"""Does performance prediction save trainings in the genetic search? `python bench/nas_predictor.py`

Runs the search twice per task at an equal number of trainings, with and without the predictor screening the
offspring, and prints: best validation accuracy of each, and how many trainings each needed to reach the best
accuracy of the search without the predictor (goal: the same best with at most half of the trainings).
Tasks: ffn_fashion_mnist (Debian's dataset-fashion-mnist, staged into a temporary folder) and rnn_gru (Reber).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from sparsepipe import io, nas, units
from sparsepipe.data.reber import generate_reber
from sparsepipe.data.vision import stage

CHOICES = {"barabasi_albert": {"nodes": [12, 20, 30], "m": [1, 2, 3]},
           "watts_strogatz": {"nodes": [12, 20, 30], "k": [2, 4, 6], "p": [0.1, 0.3, 0.6]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["ffn_fashion_mnist", "rnn_gru"])
    parser.add_argument("--population", type=int, default=10)
    parser.add_argument("--generations", type=int, default=8)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="one search pair per seed")
    parser.add_argument("--fashion-idx", default="/usr/share/datasets/fashion-mnist")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="sparsepipe-nas-"))
    for task in args.tasks:
        if task.startswith("ffn_"):
            stage(task.removeprefix("ffn_"), folder / "vision", idx_dir=args.fashion_idx)
            data = str(folder / "vision")
        else:
            data = str(folder / "reber.parquet")
            io.write_table(generate_reber(4000, 10, 20, seed=0, invalid={"near_miss": 0.5, "other_grammar": 0.5}),
                           data)
        for seed in args.seeds:
            settings = {"population": args.population, "elites": 2, "generations": args.generations,
                        "tournament": 3, "mutation_rate": 0.3, "crossover_rate": 0.5, "screen_factor": 5,
                        "generators": CHOICES, "seed": seed,
                        "train": {"epochs": 2, "batch_size": 64, "lr": 0.01, "train_samples": 3000, "embedding": 8}}
            tables = {}
            for guided in (False, True):
                start = time.perf_counter()

                def evaluate(genomes, seeds, task=task, data=data, settings=settings):
                    return [units.train_candidate(task, g.to_json(), s, settings, data)
                            for g, s in zip(genomes, seeds, strict=True)]

                tables[guided] = nas.search(settings | {"predictor": guided}, CHOICES, evaluate, seed=seed)
                trained = tables[guided][tables[guided]["trained"]]
                print(f"{task} seed {seed} predictor={'on ' if guided else 'off'}: {len(trained)} trainings, best "
                      f"validation accuracy {trained['measured'].max():.4f}, {time.perf_counter() - start:.0f} s",
                      flush=True)
            target = tables[False][tables[False]["trained"]]["measured"].max()
            off, on = nas.trainings_to_reach(tables[False], target), nas.trainings_to_reach(tables[True], target)
            print(f"{task} seed {seed}: trainings to reach {target:.4f} (best without predictor): without {off}, "
                  f"with {on}{'' if on is None else f' ({on / off:.2f}x)'}", flush=True)


if __name__ == "__main__":
    main()
