"""The configuration: reading, merging, the schema, and the cross-key rules the schema cannot express.

The schema file lives in the package (``sparsepipe/schemas/config.schema.yaml``) so an installed sparsepipe can
validate configs; ``workflow/schemas/config.schema.yaml`` is a symlink to it.

One check, three callers: the Snakefile (:func:`check_or_exit`, before Snakemake's own ``validate``, so a bad
config's first line names the key), ``sparsepipe validate-config`` (:func:`load_config`, which merges the file over
the default as ``--configfile`` does) and every hand-run unit (:func:`check_params`, its ``--params`` against its
slice of the schema). Every failure is a :class:`ConfigError` of one line naming the key and what was expected.

Cross-key rules are small functions registered with :func:`cross_check`; each takes the whole (merged) config and
raises :class:`ConfigError`. A new key's rule is one more such function.
"""

from __future__ import annotations

import contextlib
import copy
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from sparsepipe.errors import ConfigError

SCHEMA_PATH = Path(__file__).parent / "schemas" / "config.schema.yaml"
DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "config.yaml"  # the repository's embedded default


def schema() -> dict[str, Any]:
    return yaml.safe_load(SCHEMA_PATH.read_text())


# --- reading and merging ---------------------------------------------------------------------------------------

def read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """A YAML mapping from ``path``; a syntax error names the file, line and column."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{where}: YAML syntax error: {exc.problem or exc.context}".replace("\n", " ")) from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})".replace("\n", " ")) from None
    if data is None:  # empty, or only comments: Snakemake refuses such a --configfile, so we do too
        raise ConfigError(f"{path}: empty (no config keys); expected a mapping of config keys, e.g. 'seed: 1' (leave "
                          f"an empty overlay out)")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys at the top level, got {type(data).__name__}")
    return data


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` over ``base`` as Snakemake's ``--configfile`` merges: mappings key by key, the rest replaced."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def default_base() -> Path | None:
    """The config a ``--configfile`` merges over: ``config.yaml`` here (Snakemake's working directory), else the
    repository's embedded default."""
    for candidate in (Path("config.yaml"), DEFAULT_CONFIG):
        if candidate.is_file():
            return candidate
    return None


def load_config(path: str | os.PathLike, *overlays: str | os.PathLike, base: str | os.PathLike | None = None,
                merge_base: bool = True) -> dict[str, Any]:
    """Read ``path`` and any ``overlays`` merged over it in order, all over ``base`` (default:
    :func:`default_base`), as ``snakemake --configfile path overlay ...`` merges them, and check the result
    (schema, cross-key rules, graph files)."""
    paths = [Path(p) for p in (path, *overlays)]
    base_path = Path(base) if base is not None else default_base() if merge_base else None
    config: dict[str, Any] = read_yaml(base_path) if merge_base and base_path is not None else {}
    for each in paths:
        config = merge(config, read_yaml(each))
    check_config(config, " + ".join(map(str, paths)))
    return config


merge_configs = merge  # the name the tests compare with Snakemake's own update_config


# --- the schema --------------------------------------------------------------------------------------------------

def _key(path: Any) -> str:
    return "/".join(map(str, path)) or "(top level)"


def validate_config(config: dict[str, Any], source: str = "config") -> None:
    """Raise :class:`ConfigError` naming the offending key and what was expected."""
    validator = jsonschema.Draft202012Validator(schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is not None:
        raise ConfigError(f"{source}: key {_key(error.absolute_path)}: {error.message}".replace("\n", " "))


def check_config(config: dict[str, Any], source: str = "config") -> None:
    """The whole check: the schema, then every cross-key rule."""
    if not isinstance(config, dict):
        raise ConfigError(f"{source}: expected a mapping of config keys at the top level")
    try:
        _renamed_keys(config)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    validate_config(config, source)
    try:
        check_semantics(config)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _renamed_keys(config: Mapping[str, Any]) -> None:
    """A key that was renamed gets one line naming its new name (before the schema, which would only say that the
    old key is not allowed)."""
    from sparsepipe.retrain import RENAMED

    for old, new in RENAMED.items():
        node: Any = config
        for part in old.split(".")[:-1]:
            node = node.get(part) if isinstance(node, Mapping) else None
        if isinstance(node, Mapping) and old.rsplit(".", 1)[1] in node:
            raise ConfigError(f"{old}: renamed to {new} (the re-training policy is shared with ffn.prune.retrain: "
                              f"rnn.prune.retrain: {{epochs, lr, optimizer_state, schedule}})")


def check_or_exit(config: dict[str, Any], sources: list[str] | None = None) -> None:
    """For the Snakefile: a bad config ends the run with its one-line message on stderr, before anything else."""
    try:
        check_config(config, " + ".join(sources) if sources else "config")
    except ConfigError as exc:
        print(f"sparsepipe: config error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None


def read_or_exit(path: str | os.PathLike) -> None:
    """For the Snakefile, before ``configfile:``: a YAML syntax error names the file, line and column."""
    try:
        read_yaml(path)
    except ConfigError as exc:
        print(f"sparsepipe: config error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None


# --- cross-key rules ---------------------------------------------------------------------------------------------

CrossCheck = Callable[[Mapping[str, Any]], None]
CROSS_CHECKS: list[CrossCheck] = []


def cross_check(fn: CrossCheck) -> CrossCheck:
    """Register a cross-key rule (run in order of registration by :func:`check_semantics`)."""
    CROSS_CHECKS.append(fn)
    return fn


def check_semantics(config: Mapping[str, Any]) -> None:
    """Cross-key rules the schema cannot express (run after the schema, so every key is there and typed)."""
    for check in CROSS_CHECKS:
        check(config)


@cross_check
def _graph_choices(config: Mapping[str, Any]) -> None:
    """Every generator's choices and combinations (e.g. Barabási–Albert m < nodes), as the graphs rule checks them."""
    from sparsepipe.graphs.generators import FILES, GENERATORS, check_settings

    for name, settings in config["graphs"].items():
        if name in GENERATORS:
            check_settings(name, settings)
        elif name == FILES:
            _graph_files(settings["paths"])


def _graph_files(paths: list[str]) -> None:
    from sparsepipe.graphs.files import FORMATS

    for path in paths:
        _input_file("graphs.files.paths", path, FORMATS)


def _input_file(key: str, path: str, formats: Sequence[str]) -> None:
    """A data file named by config ``key``: a known extension, and there."""
    if Path(path).suffix.lower() not in formats:
        raise ConfigError(f"{key}: {path}: unknown extension {Path(path).suffix!r}; expected one of "
                          f"{', '.join(formats)}")
    if not Path(path).is_file():
        raise ConfigError(f"{key}: {path}: file not found (relative paths start in {Path.cwd()})")


@cross_check
def _structure_reuse(config: Mapping[str, Any]) -> None:
    """``structure.reuse``: every path is there (files are Parquet run tables; folders are searched for them)."""
    for path in config["structure"].get("reuse") or []:
        if Path(path).is_dir():
            continue
        if not Path(path).is_file():
            raise ConfigError(f"structure.reuse: {path}: no such file or folder (relative paths start in {Path.cwd()})")
        if Path(path).suffix.lower() != ".parquet":
            raise ConfigError(f"structure.reuse: {path}: expected a Parquet run table (.parquet) or a folder of them")


@cross_check
def _reber(config: Mapping[str, Any]) -> None:
    """The Reber strings can be generated: max_length fits the (embedded) grammar; some invalid kind has weight."""
    from sparsepipe.data.reber import ALPHABET, check_settings

    reber = config["reber"]
    files = reber.get("files")
    if files:
        from sparsepipe.data.sequences import FORMATS

        for split in ("train", "test"):
            _input_file(f"reber.files.{split}", files[split], FORMATS)
        return
    check_settings(reber["max_length"], reber["embedded"], reber["invalid"], reber.get("min_length"),
                   reber.get("mean_length"), reber.get("alphabet", ALPHABET), reber.get("other_grammar_mean_length"))


@cross_check
def _search(config: Mapping[str, Any]) -> None:
    """nas.population > nas.elites and the like; nas.generators checked like graphs."""
    from sparsepipe import nas

    nas.check_settings(config["nas"])


@cross_check
def _predictors(config: Mapping[str, Any]) -> None:
    """predict.single_splits names regressors and feature sets that predict scores, and the like."""
    from sparsepipe import predict

    predict.check_settings(config["predict"])


@cross_check
def _retrain_schedule(config: Mapping[str, Any]) -> None:
    """A cosine re-training schedule anneals over a known number of epochs: feed-forward mode fixed only."""
    from sparsepipe.retrain import annealed

    retrain = config["ffn"]["prune"]["retrain"]
    if annealed(retrain) and retrain["mode"] != "fixed":
        raise ConfigError(f"ffn.prune.retrain.schedule: cosine anneals over a fixed number of epochs; "
                          f"ffn.prune.retrain.mode is {retrain['mode']!r} (use fixed, or schedule: constant)")


@cross_check
def _pruning_rates(config: Mapping[str, Any]) -> None:
    check_pruning_rates(config["ffn"]["prune"])


def check_pruning_rates(prune: Mapping[str, Any]) -> None:
    """``strategy: count`` rates are whole numbers of weights; ``percent`` rates lie in (0, 100)."""
    for rate in prune["rates"]:
        if prune["strategy"] == "count" and not (isinstance(rate, int) or float(rate).is_integer()):
            raise ConfigError(f"ffn.prune.rates: {rate} is not a whole number of weights (ffn.prune.strategy: count "
                              f"takes numbers of weights; use percent for fractions)")
        if prune["strategy"] == "percent" and not 0 < rate < 100:
            raise ConfigError(f"ffn.prune.rates: {rate} is outside (0, 100) (ffn.prune.strategy: percent)")


def structured_families(config: Mapping[str, Any]) -> list[str]:
    """The graph-structured model families: ``rnn_<cell>`` and ``ffn_<dataset>``."""
    structure = config["structure"]
    return [f"rnn_{c}" for c in structure["cells"]] + [f"ffn_{d}" for d in structure["ffn"]["datasets"]]


@cross_check
def _structured_family(config: Mapping[str, Any]) -> None:
    if not structured_families(config):
        raise ConfigError("structure.cells and structure.ffn.datasets: both empty; the structure study "
                          "(structure_runs, the predictors and the report) needs at least one structured family")


def graph_count(config: Mapping[str, Any]) -> int:
    """Graphs the config draws or reads: every model of a structured family is trained on one of them."""
    return sum(len(s["paths"]) if name == "files" else s["count"] for name, s in config["graphs"].items())


def pruned_groups_at_most(config: Mapping[str, Any], dataset: str) -> tuple[int, str]:
    """Cross-validation groups the pruned nets of one dataset can form, at most, and what they are: the rule of
    :func:`sparsepipe.predict.groups_of` (dense nets when there are at least ``predict.folds`` of them, else dense
    net x method x rate), counted from the config."""
    from sparsepipe.predict import PRUNED_KINDS, pruned_level

    ffn, prune = config["ffn"], config["ffn"]["prune"]
    dense_nets = len(ffn["archs"]) * len(ffn["seeds"])
    level = pruned_level(dense_nets, config["predict"]["folds"])
    if level == "dense_net":
        return dense_nets, PRUNED_KINDS[level]
    return dense_nets * len(prune["methods"]) * len(prune["rates"]), PRUNED_KINDS[level]


def vision_datasets(config: Mapping[str, Any]) -> list[str]:
    """The vision datasets the config trains on: ffn.datasets, structure.ffn.datasets and the search's ffn tasks."""
    tasks = [t.removeprefix("ffn_") for t in config["nas"]["tasks"] if t.startswith("ffn_")]
    return sorted({*config["ffn"]["datasets"], *config["structure"]["ffn"]["datasets"], *tasks})


@cross_check
def _predictor_folds(config: Mapping[str, Any]) -> None:
    """Each family's predictors need at least ``predict.folds`` groups (caught here, not after every training)."""
    folds = config["predict"]["folds"]
    graphs = graph_count(config)
    if graphs < folds:
        raise ConfigError(f"predict.folds: {folds} folds need at least {folds} models per family, but each structured "
                          f"family ({', '.join(structured_families(config))}) trains one per graph and the config has "
                          f"{graphs} graphs (graphs.*.count, graphs.files.paths); lower predict.folds or add graphs")
    if config["ffn"]["prune"]["network_features"]:
        for dataset in config["ffn"]["datasets"]:
            most, kind = pruned_groups_at_most(config, dataset)
            if most < folds:
                raise ConfigError(f"predict.folds: {folds} folds need at least {folds} groups per family, but family "
                                  f"pruned_ffn_{dataset} gets at most {most} {kind} (ffn.archs x ffn.seeds dense nets; "
                                  f"with fewer dense nets than folds, x ffn.prune.methods x ffn.prune.rates: the runs "
                                  f"of one method and rate prune the same weights and stay in one fold); lower "
                                  f"predict.folds, or add dense nets, methods or rates")


@cross_check
def _idx_dirs(config: Mapping[str, Any]) -> None:
    """Each ``data.idx_dirs`` folder of a dataset the config uses exists and holds its IDX files, unless the files
    are already staged under ``results_dir`` (then nothing is copied from it)."""
    from sparsepipe.data.vision import idx_dir_problem, staged

    root = Path(config["results_dir"]) / "data" / "vision"
    used = vision_datasets(config)
    for dataset, folder in config["data"]["idx_dirs"].items():
        if dataset not in used or staged(dataset, root):
            continue
        problem = idx_dir_problem(folder)
        if problem:
            debian = "Debian: apt-get install dataset-fashion-mnist; " if dataset == "fashion_mnist" else ""
            raise ConfigError(f"data.idx_dirs.{dataset}: {problem} ({debian}or remove the key and set data.download: "
                              f"true on a machine with a network)")


# --- the --params of a hand-run unit ----------------------------------------------------------------------------

_PRUNE_KEYS = ("schedule", "strategy", "rates", "max_steps", "min_remaining", "runs", "retrain", "calibration_samples",
               "network_features")
_SEARCH_KEYS = ("population", "elites", "generations", "tournament", "mutation_rate", "crossover_rate", "predictor",
                "predictor_model", "screen_factor", "screen_rounds", "generators", "train")

# unit (CLI subcommand) -> {key of its --params: the config key it carries}; the rules pass exactly these
# (workflow/rules/*.smk, cli_json); ``{generator}`` is the unit's --generator
UNIT_PARAMS: dict[str, dict[str, str]] = {
    "graphs": {"generator": "graphs/{generator}", "seed": "seed"},
    "reber": {"reber": "reber", "seed": "seed"},
    "train-rnn": {"hidden": "rnn/hidden", "train": "rnn/train", "seed": "seed"},
    "prune-rnn": {"percents": "rnn/prune/percents", "retrain": "rnn/prune/retrain", "seed": "seed"},
    "search-winner": {"winner_seeds": "nas/winner_seeds", "train": "nas/train", "seed": "seed"},
    "train-structured": {"train": "structure/train", "shards": "structure/shards",
                         "replicates": "structure/replicates", "populations": "populations", "seed": "seed"},
    "train-structured-ffn": {"train": "structure/ffn/train", "shards": "structure/shards",
                             "replicates": "structure/replicates", "populations": "populations", "seed": "seed"},
    "stage-data": {"download": "data/download", "idx_dirs": "data/idx_dirs"},
    "train-ffn": {"train": "ffn/train", "seed": "seed"},
    "prune": {key: f"ffn/prune/{key}" for key in _PRUNE_KEYS} | {"seed": "seed"},
    "predict": {key: f"predict/{key}" for key in ("regressors", "feature_sets", "folds", "repeats", "target",
                                                   "single_splits")} | {"seed": "seed"},
    "search": {key: f"nas/{key}" for key in _SEARCH_KEYS} | {"populations": "populations", "seed": "seed"},
}


def _nas_settings(params: Mapping[str, Any]) -> None:
    from sparsepipe import nas

    nas.check_settings(params)


# unit -> cross-key rules on its --params (after the schema)
PARAM_CHECKS: dict[str, Callable[[Mapping[str, Any]], None]] = {"prune": check_pruning_rates, "search": _nas_settings}


def _subschema(root: Mapping[str, Any], dpath: str) -> dict[str, Any] | None:
    node: Any = root
    for part in dpath.split("/"):
        node = (node.get("properties") or {}).get(part) if isinstance(node, Mapping) else None
        if node is None:
            return None
    return node


def _dotted(dpath: str, wildcards: Mapping[str, str]) -> str:
    with contextlib.suppress(KeyError):
        dpath = dpath.format(**wildcards)
    return dpath.replace("/", ".")


def check_params(unit: str, params: Any, **wildcards: str) -> None:
    """A unit's ``--params`` against its slice of the schema: exactly its keys, each valid as the config key it
    carries. Raises :class:`ConfigError` naming the key."""
    spec = UNIT_PARAMS.get(unit)
    if spec is None:
        return
    if not isinstance(params, dict):
        raise ConfigError(f"--params: expected a JSON object with the keys {sorted(spec)}, got {type(params).__name__}")
    missing = sorted(set(spec) - set(params))
    unknown = sorted(set(params) - set(spec))
    if missing or unknown:
        problem = "; ".join(([f"missing key(s) {missing}"] if missing else [])
                            + ([f"unknown key(s) {unknown}"] if unknown else []))
        carried = ", ".join(f"{k} (config {_dotted(v, wildcards)})" for k, v in spec.items())
        raise ConfigError(f"--params: {problem}; this unit takes {carried}")
    root = schema()
    properties = {}
    for key, dpath in spec.items():
        try:
            sub = _subschema(root, dpath.format(**wildcards))
        except KeyError:
            sub = None
        if sub is not None:  # unknown names (e.g. --generator) are the unit's to report
            properties[key] = sub
    slice_schema = {"$defs": root.get("$defs", {}), "type": "object", "properties": properties}
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(slice_schema).iter_errors(params))
    if error is not None:
        where = list(error.absolute_path)
        key = _key(where)
        head = str(where[0]) if where else ""
        config_key = ".".join([_dotted(spec[head], wildcards), *map(str, where[1:])]) if head in spec else ""
        hint = f" (config {config_key})" if config_key else ""
        raise ConfigError(f"--params: key {key}{hint}: {error.message}".replace("\n", " "))
    if unit in PARAM_CHECKS:
        PARAM_CHECKS[unit](params)
