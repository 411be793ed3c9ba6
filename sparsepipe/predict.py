"""Predict a network's accuracy from its structure alone, scored by grouped, repeated k-fold cross-validation.

Validation that cannot leak:

- Rows that share what a new case would not share stay on one side of every split (:func:`groups_of`): the
  replicates of one graph (structure families); for pruned nets every net pruned from one dense net, or, with fewer
  dense nets than folds, from one dense net by one method at one rate (its runs prune the same weights).
  Each repeat assigns the groups to folds afresh (seeded, :func:`grouped_folds`).
- Scaling lives inside each fold's pipeline, so no statistic of a test fold leaks into training.
- R², Spearman's rho, Kendall's tau and MAE are computed per repeat on that repeat's pooled out-of-fold predictions
  (every row predicted once, by a model that never saw its group), then summarised over repeats: mean, standard
  deviation and the 2.5th-97.5th percentile range (``r2_low``, ``r2_high``). R² averaged over folds of a few
  models each is biased low (each fold's R² is measured against that fold's own mean); it is kept as
  ``r2_fold_mean`` for comparison.
- ``r2_ci_low``, ``r2_ci_high``: a 95% bootstrap interval of ``r2_mean`` over groups (graphs, dense nets),
  :func:`r2_interval`. The range over repeats says how much the fold assignment moves R²; this interval says how
  much another draw of graphs would, which is what a verdict about R² needs (the report's and the docs' verdicts
  use it).
- ``ceiling_gap`` (``_low``, ``_high``): R² minus the noise ceiling with its 95% interval, both bootstrapped on the
  same draws of graphs (:func:`ceiling_gap`), so "the predictors explain what the graph explains" or "they fall
  short" is read off one interval.
- The spread of R² over many single random splits by group (``predict.single_splits``; the paper's protocol is
  one 90/10 split): ``r2_split_p05``, ``r2_split_median``, ``r2_split_p95`` (and min, max), so a reader sees how
  lucky one split can be.

Targets (``predict.target``): ``single``, one row per trained model (every replicate of a graph), or
``replicate_mean``, one row per graph with its accuracy averaged over its replicates.

The noise ceiling (:func:`noise_ceiling`): with several trainings (seeds) per graph, a one-way random-effects
analysis of variance splits the accuracy variance into a between-graph part σ²_b and a within-graph (seed) part
σ²_w. No structure-only predictor can beat the graph's own mean accuracy, whose expected R² on single-seed
targets is σ²_b / (σ²_b + σ²_w), and on means of r replicates σ²_b / (σ²_b + σ²_w / r); that is the ceiling
beside every R², with a bootstrap interval over graphs. Without replicates it is NaN, with a note.

Feature sets reproduce the paper's ablations. Constant features carry no information and are dropped (and
reported); a constant target makes R² and the rank correlations undefined: they are NaN with a note, never a crash.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy.stats import kendalltau, spearmanr
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import AdaBoostRegressor, GradientBoostingRegressor, RandomForestRegressor
from sklearn.inspection import permutation_importance
from sklearn.linear_model import BayesianRidge, LinearRegression
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import GroupShuffleSplit
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR

from sparsepipe.errors import ConfigError, DataError

REGRESSORS: dict[str, Callable[[int], object]] = {
    "bayesian_ridge": lambda seed: BayesianRidge(),
    "random_forest": lambda seed: RandomForestRegressor(n_estimators=100, random_state=seed, n_jobs=1),
    "ada_boost": lambda seed: AdaBoostRegressor(n_estimators=100, random_state=seed),
    "gradient_boosting": lambda seed: GradientBoostingRegressor(random_state=seed),
    "svr": lambda seed: SVR(),
    "knn": lambda seed: KNeighborsRegressor(n_neighbors=5),
    "linear": lambda seed: LinearRegression(),
    "mean": lambda seed: DummyRegressor(strategy="mean"),
}
FEATURE_SETS = ("all", "nodes_edges", "without_nodes_edges", "variances", "weights_only")
TARGETS = ("single", "replicate_mean")  # predict.target: one of these, or "both"
KEY_COLUMNS = ("graph_id", "generator", "seed", "params", "family", "test_acc", "test_loss", "epochs", "seconds",
               "replicate", "model_seed", "n_replicates", "population", "error", "model_key",
               "reused")  # not structure: never features
PRUNED_PREFIX = "pruned_"
INTERVAL = (2.5, 97.5)  # percentiles of the intervals (over repeats, over bootstrap resamples)
SPLIT_PERCENTILES = {"p05": 5, "median": 50, "p95": 95}
BOOTSTRAPS = 200  # resamples of graphs for the noise ceiling's interval
CEILING_COLUMNS = ["family", "target", "n_graphs", "n_models", "replicates_mean", "between_var", "within_var",
                   "noise_ceiling", "noise_ceiling_low", "noise_ceiling_high", "note"]


class CrossValidation(NamedTuple):
    scores: pd.DataFrame  # one row per (family, target, regressor, feature set)
    predictions: pd.DataFrame  # out-of-fold predictions: one row per model, repeat, regressor and feature set
    importance: pd.DataFrame  # permutation importances per feature
    noise_ceiling: pd.DataFrame  # one row per (family, target): variance components and the ceiling


def regressor(name: str, seed: int) -> Pipeline:
    """A scaler + regressor pipeline by name."""
    if name not in REGRESSORS:
        raise ConfigError(f"predict.regressors: unknown regressor {name!r}; expected one of {list(REGRESSORS)}")
    return make_pipeline(StandardScaler(), REGRESSORS[name](seed))


def targets_of(setting: str) -> tuple[str, ...]:
    """``predict.target`` as the targets to score."""
    if setting == "both":
        return TARGETS
    if setting not in TARGETS:
        raise ConfigError(f"predict.target: expected one of {[*TARGETS, 'both']}, got {setting!r}")
    return (setting,)


def check_settings(settings: Mapping[str, Any]) -> None:
    """Cross-key rules of the ``predict`` block: the single-split study names fitted regressors and feature sets."""
    targets_of(settings.get("target", "single"))
    splits = settings.get("single_splits") or {}
    for key in ("regressors", "feature_sets"):
        extra = [v for v in splits.get(key, []) if v not in settings[key]]
        if extra:
            raise ConfigError(f"predict.single_splits.{key}: {extra} not in predict.{key} ({settings[key]})")


def feature_columns(table: pd.DataFrame, feature_set: str, candidates: Sequence[str]) -> list[str]:
    """The columns of one of the paper's feature sets."""
    columns = [c for c in candidates if c in table.columns]
    if feature_set == "all":
        return columns
    if feature_set == "nodes_edges":
        return [c for c in columns if c in ("nodes", "edges")]
    if feature_set == "without_nodes_edges":
        return [c for c in columns if c not in ("nodes", "edges")]
    if feature_set == "variances":
        return [c for c in columns if c.endswith("_var")]
    if feature_set == "weights_only":  # the baseline of pruned nets: how many weights survive, nothing else
        return [c for c in columns if c == "edges"]
    raise ConfigError(f"predict.feature_sets: unknown feature set {feature_set!r}; "
                      f"expected one of {list(FEATURE_SETS)}")


# --- what may not straddle a split ------------------------------------------------------------------------------

PRUNED_KEY = ("dataset", "arch", "model_seed", "method", "rate", "run", "step")  # a pruned net's graph_id, by "/"
PRUNED_LEVELS = {  # what a group of pruned nets shares: the parts of PRUNED_KEY it keeps
    "dense_net": ("dataset", "arch", "model_seed"),
    "method_rate": ("dataset", "arch", "model_seed", "method", "rate"),
    "run": ("dataset", "arch", "model_seed", "method", "rate", "run"),  # leaks (deterministic methods); kept to show it
}
PRUNED_KINDS = {"dense_net": "dense nets", "method_rate": "(dense net, method, rate) groups", "run": "pruning runs"}


def pruned_level(dense_nets: int, folds: int | None) -> str:
    """The rule for pruned nets: group by dense net when there are at least ``folds`` dense nets (or ``folds`` is
    not given), else by dense net, method and rate (``dense_net`` or ``method_rate``)."""
    return "dense_net" if folds is None or dense_nets >= folds else "method_rate"


def pruned_parts(runs: pd.DataFrame) -> pd.DataFrame:
    """The parts of pruned nets' ``graph_id`` (:data:`PRUNED_KEY`) as columns of strings."""
    if runs.empty:
        return pd.DataFrame(columns=list(PRUNED_KEY), dtype=str)
    parts = runs["graph_id"].astype(str).str.split("/", expand=True)
    if parts.shape[1] != len(PRUNED_KEY):
        raise DataError(f"pruned nets: graph_id {runs['graph_id'].iloc[0]!r} is not "
                        f"{'/'.join(PRUNED_KEY)} (rebuild ffn/pruned_runs.parquet)")
    parts.columns = list(PRUNED_KEY)
    return parts


def groups_of(runs: pd.DataFrame, family: str, folds: int | None = None, level: str | None = None) -> np.ndarray:
    """The validation group of every row: what two rows share that a new case would not, so that no test fold
    holds a near-copy of a training row.

    - Structure families (``rnn_<cell>``, ``ffn_<dataset>``): the graph (``graph_id``), so the replicates of one
      graph, which share its structure and differ only by seed, are never split between training and test.
    - Pruned nets (``pruned_ffn_<dataset>``, ``graph_id`` = ``dataset/arch/model_seed/method/rate/run/step``), by
      this rule (:func:`pruned_level`): with at least ``folds`` dense nets, the **dense net** (every net pruned from
      one trained net stays on one side); with fewer, the **dense net, method and rate**. Not the pruning run: only
      ``random`` uses the run's seed to choose what to prune; ``class_blinded``, ``class_uniform``,
      ``class_distributed``, ``obd`` and ``lobs`` prune the same weights of one dense net in every run, so two runs
      of one method and rate give the same (or nearly the same) graphs and accuracies, and a run-level split would
      test on copies of training rows. The steps of a run are nested prunings of the same weights, so they stay
      together under either level.

    ``level`` (pruned nets only) overrides the rule: one of :data:`PRUNED_LEVELS` (``run`` reproduces the old, leaky
    grouping for comparison, ``bench/pruned_prediction.py``).
    """
    if not family.startswith(PRUNED_PREFIX):
        return runs["graph_id"].astype(str).to_numpy()
    parts = pruned_parts(runs)
    if level is None:
        level = pruned_level(parts[list(PRUNED_LEVELS["dense_net"])].drop_duplicates().shape[0], folds)
    if level not in PRUNED_LEVELS:
        raise ValueError(f"groups_of: level {level!r}; expected one of {list(PRUNED_LEVELS)}")
    return parts[list(PRUNED_LEVELS[level])].agg("/".join, axis=1).to_numpy()


def group_kind(runs: pd.DataFrame, family: str, folds: int | None = None, level: str | None = None) -> str:
    """What the groups of :func:`groups_of` are, in words: ``graphs``; for pruned nets ``dense nets`` or
    ``(dense net, method, rate) groups`` by the same rule (or ``level``)."""
    if not family.startswith(PRUNED_PREFIX):
        return "graphs"
    if level is None:
        dense_nets = pruned_parts(runs)[list(PRUNED_LEVELS["dense_net"])].drop_duplicates().shape[0]
        level = pruned_level(dense_nets, folds)
    return PRUNED_KINDS[level]


def grouped_folds(groups: Sequence[Any], folds: int, repeats: int, seed: int
                  ) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
    """``(repeat, fold, train rows, test rows)`` of a repeated k-fold over groups: each repeat shuffles the groups
    (seeded) and deals them to the folds in turn, so folds hold equally many groups (±1) and a group's rows are in
    exactly one test fold per repeat."""
    unique, codes = np.unique(np.asarray(groups), return_inverse=True)
    if len(unique) < folds:
        raise DataError(f"{len(unique)} groups for {folds}-fold cross-validation; need at least {folds}")
    rng = np.random.default_rng(seed)
    for repeat in range(repeats):
        fold_of_group = np.empty(len(unique), dtype=int)
        fold_of_group[rng.permutation(len(unique))] = np.arange(len(unique)) % folds
        fold_of_row = fold_of_group[codes]
        for fold in range(folds):
            yield repeat, fold, np.flatnonzero(fold_of_row != fold), np.flatnonzero(fold_of_row == fold)


def replicate_means(runs: pd.DataFrame, accuracy: str = "test_acc") -> pd.DataFrame:
    """One row per graph: its accuracy averaged over its replicates (``n_replicates`` of them), its other columns
    (the graph's features) from its first row."""
    grouped = runs.groupby("graph_id", sort=False)
    means = grouped.first().reset_index()
    means[accuracy] = grouped[accuracy].mean().to_numpy()
    means["n_replicates"] = grouped.size().to_numpy()
    return means.drop(columns=[c for c in ("replicate",) if c in means])


# --- the noise ceiling ------------------------------------------------------------------------------------------

def _components(sums: np.ndarray, squares: np.ndarray, sizes: np.ndarray, copies: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """One-way random-effects ANOVA estimates (σ²_b, σ²_w) from per-group sums, sums of squares and sizes, for each
    row of ``copies`` (how often each group enters: ones for the data, bootstrap counts for resamples)."""
    n_total = copies @ sizes
    n_groups = copies.sum(axis=1)
    grand = (copies @ sums) / n_total
    means = sums / sizes
    within_ss = copies @ (squares - sums * means)
    between_ss = copies @ (sizes * means**2) - n_total * grand**2
    with np.errstate(divide="ignore", invalid="ignore"):
        within = within_ss / (n_total - n_groups)
        n0 = (n_total - (copies @ sizes**2) / n_total) / (n_groups - 1)
        between = np.maximum(0.0, (between_ss / (n_groups - 1) - within) / n0)
    return between, np.maximum(within, 0.0)


def graph_draws(groups: int, bootstraps: int = BOOTSTRAPS, seed: int = 0) -> np.ndarray:
    """Bootstrap resamples of ``groups`` groups as counts (how often each enters), one row per resample after a
    first row of ones (the data itself). The noise ceiling and the R² intervals use the same draws for the same
    seed, so their difference can be bootstrapped pairwise (:func:`ceiling_gap`)."""
    rng = np.random.default_rng(seed)
    return np.vstack([np.ones(groups), rng.multinomial(groups, np.full(groups, 1 / groups), size=bootstraps)])


def _ceiling_draws(y: np.ndarray, codes: np.ndarray, replicates: float | str | None, copies: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """σ²_b, σ²_w and the ceiling for each row of ``copies`` (``codes``: each training's graph, 0..G-1)."""
    sizes = np.bincount(codes).astype(float)
    sums = np.bincount(codes, weights=y)
    squares = np.bincount(codes, weights=y**2)
    if replicates == "data":
        inverse = float(np.mean(1.0 / sizes))
    else:
        inverse = 1.0 if replicates is None else 1.0 / float(replicates)
    between, within = _components(sums, squares, sizes, copies)
    with np.errstate(divide="ignore", invalid="ignore"):
        return between, within, between / (between + within * inverse)


def _weighted_r2(y: np.ndarray, pooled: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """R² of each repeat's predictions (``pooled``: repeats x rows) under each row of ``weights`` (draws x rows:
    how often each row enters), averaged over repeats: one value per draw."""
    total = weights.sum(axis=1)
    mean = (weights @ y) / total
    spread = (weights * (y[None, :] - mean[:, None]) ** 2).sum(axis=1)
    residual = np.stack([(weights * (p - y)[None, :] ** 2).sum(axis=1) for p in pooled])
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(spread > 0, 1 - residual / spread, np.nan)
    with np.errstate(all="ignore"):
        return np.nanmean(r2, axis=0) if np.isfinite(r2).any() else np.full(len(weights), np.nan)


def ceiling_gap(y: np.ndarray, pooled: np.ndarray, row_graphs: Sequence[Any], values: Sequence[float],
                graphs: Sequence[Any], replicates: float | str | None = None, bootstraps: int = BOOTSTRAPS,
                seed: int = 0) -> tuple[float, float, float]:
    """R² minus the noise ceiling, with its 95% interval from the same bootstrap draws of graphs for both (paired):
    whether the predictors fall short of what the graph itself explains is a claim about this difference, which
    two separate intervals cannot settle. ``y``, ``pooled``, ``row_graphs``: the scored rows (their targets, the
    repeats' out-of-fold predictions, their graphs); ``values``, ``graphs``: every training (for the ceiling)."""
    names, codes = np.unique(np.asarray(graphs), return_inverse=True)
    if len(names) < 2 or np.bincount(codes).max() < 2:
        return np.nan, np.nan, np.nan
    copies = graph_draws(len(names), bootstraps, seed)
    _, _, ceiling = _ceiling_draws(np.asarray(values, dtype=float), codes, replicates, copies)
    rows = np.searchsorted(names, np.asarray(row_graphs))
    gap = _weighted_r2(np.asarray(y, dtype=float), pooled, copies[:, rows]) - ceiling
    if np.isnan(gap[0]):
        return np.nan, np.nan, np.nan
    low, high = np.nanpercentile(gap[1:], INTERVAL)
    return float(gap[0]), float(low), float(high)


def noise_ceiling(values: Sequence[float], graphs: Sequence[Any], replicates: float | str | None = None,
                  bootstraps: int = BOOTSTRAPS, seed: int = 0) -> dict[str, Any]:
    """The best R² a structure-only predictor can expect, from repeated trainings of the same graphs.

    ``values``: accuracies, one per training; ``graphs``: the graph of each. One-way random-effects ANOVA (unbalanced
    designs by the usual n0 weighting) gives σ²_b (between graphs) and σ²_w (seeds within a graph). The ceiling is
    σ²_b / (σ²_b + σ²_w) for single-seed targets (``replicates=None``), or σ²_b / (σ²_b + σ²_w · mean(1/r)) for
    targets averaged over r replicates (``replicates="data"``: each graph's own count; a number: that r for every
    graph). Interval: 2.5th
    and 97.5th percentiles over ``bootstraps`` resamples of graphs (with replacement, each with all its trainings).
    NaN with a note when no graph was trained twice.
    """
    y = np.asarray(values, dtype=float)
    _, codes = np.unique(np.asarray(graphs), return_inverse=True)
    sizes = np.bincount(codes).astype(float)
    result: dict[str, Any] = {"n_graphs": len(sizes), "n_models": len(y), "replicates_mean": float(sizes.mean()),
                              "between_var": np.nan, "within_var": np.nan, "noise_ceiling": np.nan,
                              "noise_ceiling_low": np.nan, "noise_ceiling_high": np.nan, "note": ""}
    if len(sizes) < 2 or sizes.max() < 2:
        result["note"] = "no replicates (one training per graph): noise ceiling not estimable"
        return result
    between, within, ceiling = _ceiling_draws(y, codes, replicates, graph_draws(len(sizes), bootstraps, seed))
    result |= {"between_var": between[0], "within_var": within[0], "noise_ceiling": ceiling[0]}
    if np.isnan(ceiling[0]):
        result["note"] = "accuracy constant over every training: noise ceiling undefined"
        return result
    low, high = np.nanpercentile(ceiling[1:], INTERVAL)
    result |= {"noise_ceiling_low": low, "noise_ceiling_high": high}
    return result


# --- scores ----------------------------------------------------------------------------------------------------

def _scores(true: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Scores of one set of predictions; undefined ones (constant targets or predictions) are NaN, never a crash."""
    varied = len(true) > 1 and np.ptp(true) > 0
    ranked = varied and np.ptp(predicted) > 0
    return {
        "r2": r2_score(true, predicted) if varied else np.nan,
        "spearman": spearmanr(true, predicted).statistic if ranked else np.nan,
        "kendall": kendalltau(true, predicted).statistic if ranked else np.nan,
        "mae": mean_absolute_error(true, predicted),
    }


def _summary(per_repeat: pd.DataFrame) -> dict[str, float]:
    """Scores over repeats: mean, standard deviation and the 95% range of R² (NaN with one repeat: one value has
    no spread, and a zero would read as certainty)."""
    r2 = per_repeat["r2"].to_numpy(dtype=float)
    defined = r2[~np.isnan(r2)]
    low, high = np.percentile(defined, INTERVAL) if len(defined) > 1 else (np.nan, np.nan)

    def std(column: str) -> float:
        values = per_repeat[column].dropna()
        return float(values.std(ddof=1)) if len(values) > 1 else np.nan

    return {"r2_mean": np.nanmean(r2) if len(defined) else np.nan, "r2_std": std("r2"), "r2_low": low,
            "r2_high": high, "spearman_mean": per_repeat["spearman"].mean(),
            "kendall_mean": per_repeat["kendall"].mean(), "mae_mean": per_repeat["mae"].mean(), "mae_std": std("mae")}


def r2_interval(y: np.ndarray, pooled: np.ndarray, groups: np.ndarray, seed: int,
                bootstraps: int = BOOTSTRAPS) -> tuple[float, float]:
    """95% bootstrap interval over groups of the mean over repeats of the pooled out-of-fold R² (``pooled``:
    repeats x rows): whole groups are resampled with replacement, so every replicate of a graph moves together; the
    fitted models are held fixed (the interval is about which graphs were drawn, not about refitting)."""
    _, codes = np.unique(np.asarray(groups), return_inverse=True)
    if codes.max(initial=0) < 1:
        return np.nan, np.nan
    draws = _weighted_r2(np.asarray(y, dtype=float), pooled, graph_draws(codes.max() + 1, bootstraps, seed)[1:, codes])
    if np.isnan(draws).all():
        return np.nan, np.nan
    low, high = np.nanpercentile(draws, INTERVAL)
    return float(low), float(high)


def _split_spread(x: np.ndarray, y: np.ndarray, groups: np.ndarray, name: str, count: int, test_fraction: float,
                  seed: int) -> dict[str, float]:
    """R² on the held-out part of ``count`` random group splits (one fit each): percentiles, min and max."""
    r2 = []
    splitter = GroupShuffleSplit(n_splits=count, test_size=test_fraction, random_state=seed)
    for train, test in splitter.split(x, y, groups):
        model = regressor(name, seed).fit(x[train], y[train])
        r2.append(_scores(y[test], model.predict(x[test]))["r2"])
    values = np.asarray(r2, dtype=float)
    values = values[~np.isnan(values)]
    if not len(values):
        return {"n_splits": 0}
    return ({f"r2_split_{k}": float(np.percentile(values, q)) for k, q in SPLIT_PERCENTILES.items()}
            | {"r2_split_min": float(values.min()), "r2_split_max": float(values.max()), "n_splits": len(values)})


def _target_table(data: pd.DataFrame, target: str, accuracy: str) -> pd.DataFrame:
    return replicate_means(data, accuracy) if target == "replicate_mean" else data


def cross_validate(runs: pd.DataFrame, family: str, regressors: Sequence[str], folds: int, repeats: int, seed: int,
                   accuracy: str = "test_acc", feature_sets: Sequence[str] = ("all",),
                   candidates: Sequence[str] | None = None, importance: bool = False,
                   targets: Sequence[str] = ("single",), single_splits: Mapping[str, Any] | None = None,
                   group_level: str | None = None) -> CrossValidation:
    """Grouped repeated k-fold scores of every regressor and feature set on every target for one model family;
    out-of-fold predictions; permutation importances (feature set ``all``, held-out folds of the first repeat, the
    first target, random forest or else the first regressor); the noise ceiling per target.

    ``single_splits``: ``{count, test_fraction, regressors, feature_sets}``, the spread of R² over single random
    group splits for those regressors and feature sets (the ``r2_split_*`` columns, NaN elsewhere).

    Groups: :func:`groups_of` by its rule (``group_level`` overrides it for pruned nets); the scores' ``groups``
    column names them (``graphs``, ``dense nets``, ...).
    """
    family_runs = runs[runs["family"] == family].reset_index(drop=True)
    if family.startswith(PRUNED_PREFIX) and group_level is None and len(family_runs):
        dense_nets = pruned_parts(family_runs)[list(PRUNED_LEVELS["dense_net"])].drop_duplicates().shape[0]
        group_level = pruned_level(dense_nets, folds)  # fixed for every target: one rule per family
    groups = groups_of(family_runs, family, folds, group_level)
    n_groups = len(np.unique(groups))
    if n_groups < folds:
        more = ("prune with more dense nets, methods or rates" if family.startswith(PRUNED_PREFIX)
                else "train more graphs")
        raise DataError(f"family {family}: {n_groups} {group_kind(family_runs, family, folds, group_level)} "
                        f"({len(family_runs)} trained models) for {folds}-fold grouped cross-validation; need at "
                        f"least {folds} ({more} or lower predict.folds)")
    if candidates is None:
        candidates = [c for c in family_runs.columns
                      if c not in KEY_COLUMNS and pd.api.types.is_numeric_dtype(family_runs[c])]
    splits = dict(single_splits or {})
    importance_of = "random_forest" if "random_forest" in regressors else regressors[0]
    scores, predictions, importances, ceilings = [], [], [], []
    for target in targets:
        if target not in TARGETS:
            raise ConfigError(f"predict.target: expected one of {list(TARGETS)}, got {target!r}")
        data = _target_table(family_runs, target, accuracy)
        data_groups = groups_of(data, family, folds, group_level)
        y = data[accuracy].to_numpy(dtype=float)
        ceiling = noise_ceiling(family_runs[accuracy], family_runs["graph_id"],
                                replicates="data" if target == "replicate_mean" else None,
                                seed=seed) | {"family": family, "target": target}
        ceilings.append(ceiling)
        ids = data["graph_id"].to_numpy()
        for feature_set in feature_sets:
            columns = feature_columns(data, feature_set, candidates)
            constant = [c for c in columns if data[c].nunique(dropna=False) <= 1]
            columns = [c for c in columns if c not in constant]
            notes = []
            if np.ptp(y) == 0:
                notes.append("constant target: R² and rank correlations undefined")
            if constant:
                notes.append(f"constant features dropped: {', '.join(constant)}")
            if not columns:
                notes.append("no informative feature: scored as the mean predictor")
            if ceiling["note"]:
                notes.append(ceiling["note"])
            x = data[columns].to_numpy(dtype=float) if columns else np.zeros((len(data), 1))
            for name in regressors:
                model_name = name if columns else "mean"
                pooled = np.full((repeats, len(data)), np.nan)
                fold_of = np.zeros((repeats, len(data)), dtype=int)
                fold_r2 = []
                for repeat, fold, train, test in grouped_folds(data_groups, folds, repeats, seed):
                    model = regressor(model_name, seed).fit(x[train], y[train])
                    predicted = model.predict(x[test])
                    pooled[repeat, test] = predicted
                    fold_of[repeat, test] = fold
                    fold_r2.append(_scores(y[test], predicted)["r2"])
                    if (importance and name == importance_of and feature_set == "all" and columns and repeat == 0
                            and target == targets[0] and len(test) > 1):
                        result = permutation_importance(model, x[test], y[test], n_repeats=5, random_state=seed,
                                                        scoring="neg_mean_absolute_error")
                        importances.append(pd.DataFrame({"family": family, "target": target, "regressor": name,
                                                         "fold": fold, "feature": columns,
                                                         "importance": result.importances_mean}))
                per_repeat = pd.DataFrame([_scores(y, pooled[r]) for r in range(repeats)])
                for repeat in range(repeats):
                    predictions.append(pd.DataFrame({
                        "family": family, "target": target, "regressor": name, "feature_set": feature_set,
                        "repeat": repeat, "fold": fold_of[repeat], "graph_id": ids, "group": data_groups, "true": y,
                        "predicted": pooled[repeat]}))
                ci_low, ci_high = r2_interval(y, pooled, data_groups, seed)
                gap = ceiling_gap(y, pooled, ids, family_runs[accuracy], family_runs["graph_id"],
                                  "data" if target == "replicate_mean" else None, seed=seed)
                row = {"family": family, "target": target, "regressor": name, "feature_set": feature_set,
                       "features": len(columns), **_summary(per_repeat), "r2_ci_low": ci_low, "r2_ci_high": ci_high,
                       "r2_fold_mean": float(np.nanmean(fold_r2)) if not np.isnan(fold_r2).all() else np.nan,
                       "noise_ceiling": ceiling["noise_ceiling"], "noise_ceiling_low": ceiling["noise_ceiling_low"],
                       "noise_ceiling_high": ceiling["noise_ceiling_high"], "ceiling_gap": gap[0],
                       "ceiling_gap_low": gap[1], "ceiling_gap_high": gap[2],
                       "n_models": len(data), "n_groups": len(np.unique(data_groups)),
                       "groups": group_kind(data, family, folds, group_level), "n_folds": folds,
                       "n_repeats": repeats, "note": "; ".join(notes)}
                if (splits.get("count") and name in splits.get("regressors", ())
                        and feature_set in splits.get("feature_sets", ())):
                    row |= _split_spread(x, y, data_groups, model_name, splits["count"], splits["test_fraction"],
                                         seed)
                scores.append(row)
    score_table = pd.DataFrame(scores)
    for column in [f"r2_split_{k}" for k in (*SPLIT_PERCENTILES, "min", "max")] + ["n_splits"]:
        if column not in score_table:
            score_table[column] = 0 if column == "n_splits" else np.nan
    score_table["n_splits"] = score_table["n_splits"].fillna(0).astype(int)
    importance_table = (pd.concat(importances, ignore_index=True)
                        .groupby(["family", "target", "regressor", "feature"], as_index=False)
                        .agg(importance_mean=("importance", "mean"), importance_std=("importance", "std"))
                        if importances else pd.DataFrame(columns=["family", "target", "regressor", "feature",
                                                                  "importance_mean", "importance_std"]))
    return CrossValidation(score_table, pd.concat(predictions, ignore_index=True), importance_table,
                           pd.DataFrame(ceilings, columns=CEILING_COLUMNS))
