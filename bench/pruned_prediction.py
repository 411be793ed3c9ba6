"""Pruned nets' accuracy from their structure, under each grouping of the cross-validation:
`python bench/pruned_prediction.py results/ffn/pruned_runs.parquet [--folds 4] [--repeats 3] [--draws 5]`.

Reads a ``ffn/pruned_runs.parquet`` (the pipeline's ``pruned_runs`` rule: one row per pruning step, family
``pruned_ffn_<dataset>``) and prints markdown:

1. the leak: how many feature vectors (the surviving-weight graph's features) occur in more than one group, for
   each grouping, and how closely the accuracies of two runs of one method, rate and step of one dense net agree
   (Pearson r over those pairs, per method);
2. R² of structure-only regressors (pooled out-of-fold predictions of grouped ``--folds``-fold x ``--repeats``,
   :func:`sparsepipe.predict.cross_validate`), mean and [min, max] over every repeat of ``--draws`` draws of the
   folds, per grouping: ``run`` (each pruning run a group: the old grouping, leaky for deterministic methods),
   ``method_rate`` (dense net, method and rate) and ``dense_net`` (needs at least ``--folds`` dense nets); the one
   the pipeline uses (:func:`sparsepipe.predict.groups_of`'s rule) is marked ``(rule)``. The first draw uses the
   pipeline's seed (with ``--seed``), so its rule row is what ``predict/scores.parquet`` holds for the family when
   ``--folds`` and ``--repeats`` are the config's.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd

from sparsepipe.predict import (
    KEY_COLUMNS,
    PRUNED_LEVELS,
    cross_validate,
    group_kind,
    groups_of,
    pruned_level,
    pruned_parts,
)
from sparsepipe.seeds import derive_seed


def features_of(runs: pd.DataFrame) -> list[str]:
    return [c for c in runs.columns if c not in KEY_COLUMNS and pd.api.types.is_numeric_dtype(runs[c])]


def shared_vectors(runs: pd.DataFrame, groups: np.ndarray) -> int:
    """Feature vectors (rounded to 9 digits) that occur in more than one group."""
    vectors = runs[features_of(runs)].round(9).astype(str).agg("|".join, axis=1)
    return int((pd.Series(groups).groupby(vectors.to_numpy()).nunique() > 1).sum())


def paired_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Per method: pairs of runs (same dense net, rate and step), how many, and the correlation of their accuracies."""
    parts = pruned_parts(runs).assign(test_acc=runs["test_acc"].to_numpy())
    key = [*PRUNED_LEVELS["method_rate"], "step"]
    wide = parts.pivot_table(index=key, columns="run", values="test_acc")
    rows = []
    for method, part in wide.groupby(level="method"):
        if part.shape[1] < 2:
            continue
        first, second = part.iloc[:, 0], part.iloc[:, 1]
        both = first.notna() & second.notna()
        r = np.corrcoef(first[both], second[both])[0, 1] if both.sum() > 2 else np.nan
        rows.append({"method": method, "pairs": int(both.sum()), "r": r,
                     "identical": int((first[both] == second[both]).sum())})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", help="ffn/pruned_runs.parquet of a pipeline run")
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--draws", type=int, default=5, help="draws of the folds (seeds); the first is the pipeline's")
    parser.add_argument("--seed", type=int, default=0, help="the pipeline's global seed")
    parser.add_argument("--regressors", nargs="+", default=["random_forest", "bayesian_ridge"])
    parser.add_argument("--feature-sets", nargs="+", default=["all", "weights_only"])
    args = parser.parse_args()
    runs = pd.read_parquet(args.runs)
    runs = runs[runs["test_acc"].notna()]
    for family, part in runs.groupby("family"):
        part = part.reset_index(drop=True)
        dense_nets = pruned_parts(part)[list(PRUNED_LEVELS["dense_net"])].drop_duplicates().shape[0]
        print(f"## {family}: {len(part)} pruned nets of {dense_nets} dense net(s), {args.folds}-fold x "
              f"{args.repeats}, {args.draws} fold draws; the rule groups by {group_kind(part, family, args.folds)}\n")
        levels = [level for level in PRUNED_LEVELS if level != "dense_net" or dense_nets >= args.folds]
        rule = pruned_level(dense_nets, args.folds)
        groupings = {level: groups_of(part, family, level=level) for level in levels}
        assert (groupings[rule] == groups_of(part, family, args.folds)).all()
        label = {level: f"{level} (rule)" if level == rule else level for level in levels}
        print("| grouping | groups | feature vectors in more than one group |\n|---|---|---|")
        for name, groups in groupings.items():
            print(f"| {label[name]} | {len(np.unique(groups))} | {shared_vectors(part, groups)} |")
        pairs = paired_runs(part)
        if len(pairs):
            print("\n| method | pairs of runs (same dense net, rate, step) | accuracies identical | Pearson r |\n"
                  "|---|---|---|---|")
            for _, row in pairs.iterrows():
                print(f"| {row['method']} | {row['pairs']} | {row['identical']} | {row['r']:.2f} |")
        print("\n| grouping | regressor | feature set | R² mean [min, max] over repeats and draws | "
              "first draw (the pipeline's seed): mean |\n|---|---|---|---|---|")
        seeds = [derive_seed(args.seed, "predict", family), *range(1, args.draws)]
        for name in groupings:
            if len(np.unique(groupings[name])) < args.folds:
                print(f"| {label[name]} | – | – | fewer groups than folds | – |")
                continue
            scores = []
            for draw, seed in enumerate(seeds):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    result = cross_validate(part, family, args.regressors, args.folds, args.repeats, seed,
                                            feature_sets=args.feature_sets, group_level=name)
                per_repeat = (result.predictions.groupby(["regressor", "feature_set", "repeat"])
                              .apply(lambda p: 1 - ((p["true"] - p["predicted"]) ** 2).sum()
                                     / ((p["true"] - p["true"].mean()) ** 2).sum(), include_groups=False)
                              .rename("r2").reset_index())
                scores.append(per_repeat.assign(draw=draw))
            table = pd.concat(scores)
            for (regressor, feature_set), cell in table.groupby(["regressor", "feature_set"], sort=False):
                first = cell[cell["draw"] == 0]["r2"].mean()
                print(f"| {label[name]} | {regressor} | {feature_set} | {cell['r2'].mean():.3f} "
                      f"[{cell['r2'].min():.3f}, {cell['r2'].max():.3f}] | {first:.3f} |")
        print()


if __name__ == "__main__":
    main()
