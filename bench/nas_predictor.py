"""Does performance prediction save trainings in the genetic search? `python bench/nas_predictor.py`

Per task and seed, runs the search without the predictor and with each ``--models`` screening regressor, at an
equal number of trainings (population 10, 8 generations: 74), and prints per seed the best validation accuracy of
each and how many trainings each needed to reach the best accuracy of the search without the predictor. A single
search's best is the maximum of noisy short trainings, so the summary also averages the best-so-far curves over
the seeds and reports after how many trainings the guided mean curve reaches the unguided one's final value
(goal: the same best with at most half of the trainings, i.e. <= 0.50x). The best validation accuracy is a
maximum over single-seed trainings, biased upwards, so each search's winner is also re-trained with
``--winner-seeds`` fresh seeds and tested on the test split (sparsepipe.stages.nas.retrain_searched, as the pipeline's
nas_winner rule does): the summary gives the winners' test accuracy (mean ± std over searches of each search's
mean over fresh seeds) beside their validation fitness. That is the figure to report; each screening regressor's
winners are compared with the unguided ones paired by seed (mean difference of the test figure, 95% t-interval over
the searches, paired t-test, and sparsepipe.analysis's verdict on "screening finds better structures").
Tasks: ffn_fashion_mnist (Debian's dataset-fashion-mnist, staged into a temporary folder) and rnn_gru (Reber).
Each task trains as in TRAIN: a fitness is only worth predicting if a structure's repeated trainings agree more than
different structures do. On Reber, 2 epochs on 3,000 strings gave a seed spread (0.022) above the structure spread
(0.017) and no regressor beat the mean on random graphs; 3 epochs at lr 0.02 on 8,000 strings give 0.028 against
0.049 and R^2 0.38. On 2 cores with --workers 2: about 15 s per search for Fashion-MNIST, 100 s for Reber.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from sparsepipe import io, nas, stages
from sparsepipe.analysis import paired_difference, verdict_text
from sparsepipe.data.reber import generate_reber
from sparsepipe.data.vision import stage
from sparsepipe.seeds import derive_seed

TRAIN = {"ffn_fashion_mnist": {"epochs": 2, "batch_size": 64, "lr": 0.01, "train_samples": 3000, "embedding": 8},
         "rnn_gru": {"epochs": 3, "batch_size": 64, "lr": 0.02, "train_samples": 8000, "embedding": 8}}
REBER_STRINGS = 10_000  # 8,000 to train on, 2,000 to validate
REBER_TEST = 2_000  # the winners' test split (the search never sees it)
CHOICES = {"barabasi_albert": {"nodes": [12, 20, 30], "m": [1, 2, 3]},
           "watts_strogatz": {"nodes": [12, 20, 30], "k": [2, 4, 6], "p": [0.1, 0.3, 0.6]}}


def ratio(on: int | None, off: int) -> str:
    return "never" if on is None else f"{on / off:.2f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["ffn_fashion_mnist", "rnn_gru"])
    parser.add_argument("--models", nargs="+", default=["bayesian_ridge", "random_forest"],
                        help="screening regressors to compare (sparsepipe.predict.REGRESSORS)")
    parser.add_argument("--population", type=int, default=10)
    parser.add_argument("--generations", type=int, default=8)
    parser.add_argument("--screen-factor", type=int, default=20)
    parser.add_argument("--screen-rounds", type=int, default=3)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(8)), help="one search set per seed")
    parser.add_argument("--activation", default="tanh", help="structured feed-forward units (relu, tanh, leaky_relu)")
    parser.add_argument("--fashion-idx", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--workers", type=int, default=2, help="trainings in parallel (one thread each)")
    parser.add_argument("--winner-seeds", type=int, default=3, help="fresh trainings of each search's winner")
    args = parser.parse_args()
    pool = ProcessPoolExecutor(args.workers)
    folder = Path(tempfile.mkdtemp(prefix="sparsepipe-nas-"))
    for task in args.tasks:
        if task.startswith("ffn_"):
            stage(task.removeprefix("ffn_"), folder / "vision", idx_dir=args.fashion_idx)
            data = str(folder / "vision")
        else:
            data = str(folder / "reber.parquet")
            strings = generate_reber(REBER_STRINGS, REBER_TEST, 20, seed=0,
                                     invalid={"near_miss": 0.5, "other_grammar": 0.5})
            io.write_table(strings, data)
        curves: dict[str, list[np.ndarray]] = {}
        per_seed: dict[str, list[float]] = {}  # guided trainings to the unguided best over the unguided search's
        winners: dict[str, list[tuple[float, float]]] = {}  # per search: (validation fitness, mean test accuracy)
        for seed in args.seeds:
            settings = {"population": args.population, "elites": 2, "generations": args.generations,
                        "tournament": 3, "mutation_rate": 0.3, "crossover_rate": 0.5,
                        "screen_factor": args.screen_factor,
                        "screen_rounds": args.screen_rounds, "generators": CHOICES, "seed": seed,
                        "train": TRAIN[task] | {"activation": args.activation}}

            def evaluate(genomes, seeds, task=task, data=data, settings=settings):
                # each worker trains its share of the generation as one population
                count, workers = len(genomes), max(1, args.workers)
                parts = [list(range(count))[w::workers] for w in range(workers)]
                parts = [part for part in parts if part]
                results = pool.map(stages.nas.train_candidates, [task] * len(parts),
                                   [[genomes[i].to_json() for i in part] for part in parts],
                                   [[seeds[i] for i in part] for part in parts], [settings] * len(parts),
                                   [data] * len(parts))
                fitness = {i: value for part, values in zip(parts, results, strict=True)
                           for i, value in zip(part, values, strict=True)}
                return [fitness[i] for i in range(count)]

            tables = {}
            for model in ["off", *args.models]:
                start = time.perf_counter()
                guided = {"predictor": model != "off", "predictor_model": args.models[0] if model == "off" else model}
                tables[model] = nas.search(settings | guided, CHOICES, evaluate, seed=seed)
                curves.setdefault(model, []).append(nas.best_so_far(tables[model]))
                seconds = time.perf_counter() - start
                genome = nas.best_genome(tables[model]).to_json()
                fresh = [derive_seed(seed, "bench-winner", model, i) for i in range(args.winner_seeds)]
                tested = list(pool.map(stages.nas.retrain_searched, [task] * len(fresh), [genome] * len(fresh), fresh,
                                       [settings] * len(fresh), [data] * len(fresh)))
                test = float(np.mean([t for _, t in tested]))
                winners.setdefault(model, []).append((curves[model][-1][-1], test))
                print(f"{task} seed {seed} {model}: winner re-trained with {len(fresh)} fresh seeds: validation "
                      f"{np.mean([v for v, _ in tested]):.4f}, test {test:.4f} (search fitness "
                      f"{curves[model][-1][-1]:.4f})", flush=True)
                if model == "off":
                    target = curves["off"][-1][-1]
                    off = nas.trainings_to_reach(tables["off"], target)
                    print(f"{task} seed {seed} without predictor: best {target:.4f} after {off} of "
                          f"{len(curves['off'][-1])} trainings, {seconds:.0f} s", flush=True)
                    continue
                on = nas.trainings_to_reach(tables[model], target)
                per_seed.setdefault(model, []).append(float("inf") if on is None else on / off)
                print(f"{task} seed {seed} with {model}: best {curves[model][-1][-1]:.4f}; reaches {target:.4f} "
                      f"after {on} trainings ({ratio(on, off)}), {seconds:.0f} s", flush=True)
        final = np.mean(curves["off"], axis=0)
        print(f"{task}, mean over {len(args.seeds)} seeds: without predictor best {final[-1]:.4f} after "
              f"{len(final)} trainings")
        for model in ["off", *args.models]:
            fitness, test = np.array(winners[model]).T
            print(f"{task}, {'without predictor' if model == 'off' else model}: winners' validation fitness "
                  f"{fitness.mean():.4f}; re-trained with fresh seeds, test accuracy {test.mean():.4f} ± "
                  f"{test.std(ddof=1) if len(test) > 1 else 0:.4f} over {len(test)} searches", flush=True)
        for model in args.models:
            guided, unguided = (np.array(winners[m])[:, 1] for m in (model, "off"))
            paired = paired_difference(guided, unguided)
            print(f"{task}, {model} - without predictor, winners' test accuracy paired by seed: "
                  f"{100 * paired['mean_difference']:+.2f} points [{100 * paired['ci_low']:+.2f}, "
                  f"{100 * paired['ci_high']:+.2f}], p = {paired['t_pvalue']:.2g}, better in "
                  f"{int((guided > unguided).sum())} of {len(guided)}; "
                  f"{verdict_text(paired['ci_low'], paired['ci_high'], paired['n'], unit='searches')}", flush=True)
        for model in args.models:
            mean = np.mean(curves[model], axis=0)
            on = nas.first_reaching(mean, final[-1])
            ratios = per_seed[model]
            print(f"{task}, mean over seeds with {model}: best {mean[-1]:.4f} (at half the trainings "
                  f"{mean[len(mean) // 2 - 1]:.4f}); its mean curve reaches the unguided final best after {on} "
                  f"trainings ({ratio(on, len(final))}); per seed: median {np.median(ratios):.2f}x, "
                  f"<= 0.5x in {sum(r <= 0.5 for r in ratios)}/{len(ratios)}, never in "
                  f"{sum(np.isinf(ratios))}/{len(ratios)}", flush=True)


if __name__ == "__main__":
    main()
