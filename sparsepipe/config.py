"""The configuration schema, shared by the Snakefile (Snakemake's ``validate``) and the CLI.

The schema file lives in the package (``sparsepipe/schemas/config.schema.yaml``) so an installed sparsepipe can
validate configs; ``workflow/schemas/config.schema.yaml`` is a symlink to it.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from sparsepipe.errors import ConfigError

SCHEMA_PATH = Path(__file__).parent / "schemas" / "config.schema.yaml"


def schema() -> dict[str, Any]:
    return yaml.safe_load(SCHEMA_PATH.read_text())


def validate_config(config: dict[str, Any], source: str = "config") -> None:
    """Raise :class:`ConfigError` naming the offending key and what was expected."""
    validator = jsonschema.Draft202012Validator(schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is not None:
        key = "/".join(map(str, error.absolute_path)) or "(top level)"
        raise ConfigError(f"{source}: key {key}: {error.message}")


def merge_configs(base: dict[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """``overlay`` merged over ``base`` as Snakemake merges ``--configfile`` files over the ``configfile:``
    (``snakemake.utils.update_config``): nested mappings key by key, recursively; any other value (a list
    included) replaces the earlier one. Returns a new dict."""
    merged = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping):
            earlier = merged.get(key)
            merged[key] = merge_configs(earlier if isinstance(earlier, dict) else {}, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})".replace("\n", " ")) from None
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys at the top level")
    return config


def load_config(path: str | os.PathLike, *overlays: str | os.PathLike) -> dict[str, Any]:
    """Read and validate a YAML config file, with any ``overlays`` merged over it in order (as
    ``snakemake --configfile overlay ...`` merges them over the Snakefile's ``config.yaml``)."""
    paths = [Path(p) for p in (path, *overlays)]
    config: dict[str, Any] = {}
    for each in paths:
        config = merge_configs(config, _read(each))
    validate_config(config, " + ".join(map(str, paths)))
    check_semantics(config)
    return config


def check_semantics(config: dict[str, Any]) -> None:
    """Cross-key rules the schema cannot express (called by the Snakefile's rules and the CLI): the graph
    generators' settings for every node count and combination they allow (e.g. a rule ``m: {nodes_div: 10}`` with
    nodes from 5), the search's settings, and the predictors'."""
    from sparsepipe import nas, predict
    from sparsepipe.graphs.generators import FILES, check_settings

    for name, settings in config["graphs"].items():
        if name != FILES:  # user files are read (and checked) when their graphs are built
            check_settings(name, settings)
    nas.check_settings(config["nas"])
    predict.check_settings(config["predict"])
