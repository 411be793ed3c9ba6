"""Bad input as a new user gives it: every case ends with exit status 2 and one line naming the key or file, at the
first check that can see it, and leaves no output or temporary file behind.

Config keys go through ``sparsepipe validate-config`` (the check the Snakefile runs first); graph files, data files,
checkpoints and ``--params`` through the unit that reads them, as a rule or a user by hand would run it.
"""

from __future__ import annotations

import copy
import gzip
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from sparsepipe import io
from sparsepipe.cli import main

from conftest import REPO, default_config, tiny_config, unit_params

# --- config keys: (override merged over config.yaml, text the message must contain) ---------------------------

CONFIG_CASES: list[tuple[str, Any, str]] = [
    ("unknown key", {"ffn": {"prune": {"ratez": [10]}}}, "ffn/prune: Additional properties are not allowed ('ratez'"),
    ("rate zero", {"ffn": {"prune": {"rates": [0]}}}, "ffn/prune/rates/0"),
    ("percent rate 150", {"ffn": {"prune": {"rates": [150]}}}, "ffn/prune/rates/0: 150"),
    ("count rate not whole", {"ffn": {"prune": {"strategy": "count", "rates": [2.5]}}},
     "ffn.prune.rates: 2.5 is not a whole number"),
    ("unknown method", {"ffn": {"prune": {"methods": ["class_blind"]}}}, "ffn/prune/methods/0: 'class_blind'"),
    ("unknown generator", {"graphs": {"erdos": {"count": 2}}},
     "graphs: Additional properties are not allowed ('erdos'"),
    ("zero nodes", {"graphs": {"barabasi_albert": {"nodes": [0]}}}, "graphs/barabasi_albert/nodes/0"),
    ("BA m >= nodes", {"graphs": {"barabasi_albert": {"nodes": [12], "m": [12]}}},
     "graphs.barabasi_albert.m: m=12 must satisfy 1 <= m < nodes=12"),
    ("negative count", {"graphs": {"watts_strogatz": {"count": -3}}}, "graphs/watts_strogatz/count: -3"),
    ("regular odd", {"graphs": {"random_regular": {"count": 2, "nodes": [5], "d": [3]}}},
     "graphs.random_regular.d: d=3 with nodes=5"),
    ("graph file missing", {"graphs": {"files": {"paths": ["nowhere/a.graphml"]}}},
     "graphs.files.paths: nowhere/a.graphml: file not found"),
    ("graph file extension", {"graphs": {"files": {"paths": ["a.gml"]}}},
     "graphs.files.paths: a.gml: unknown extension"),
    ("device", {"device": "tpu"}, "device: 'tpu' is not one of"),
    ("negative seed", {"seed": -1}, "key seed: -1"),
    ("empty results_dir", {"results_dir": ""}, "key results_dir"),
    ("executor", {"launch": {"executor": "slurmm"}}, "launch/executor: 'slurmm'"),
    ("arch pattern", {"ffn": {"archs": ["100-0"]}}, "ffn/archs/0: '100-0'"),
    ("rnn cell", {"rnn": {"cells": ["gpu"]}}, "rnn/cells/0: 'gpu'"),
    ("rnn schedule", {"rnn": {"train": {"schedule": "linear"}}}, "rnn/train/schedule: 'linear' is not one of"),
    ("rnn retrain schedule", {"rnn": {"prune": {"retrain": {"schedule": "cos"}}}},
     "rnn/prune/retrain/schedule: 'cos' is not one of"),
    ("rnn retrain old key", {"rnn": {"prune": {"retrain_lr": 0.5}}},
     "rnn.prune.retrain_lr: renamed to rnn.prune.retrain.lr"),
    ("ffn cosine variable", {"ffn": {"prune": {"retrain": {"mode": "variable", "schedule": "cosine"}}}},
     "ffn.prune.retrain.schedule: cosine anneals over a fixed number of epochs"),
    ("reber size", {"reber": {"train": 1}}, "reber/train: 1"),
    ("reber too short", {"reber": {"max_length": 6, "embedded": True}}, "reber.max_length: 6 is too short"),
    ("reber no invalid kind", {"reber": {"invalid": {"near_miss": 0, "other_grammar": 0}}}, "reber.invalid"),
    ("regressor", {"predict": {"regressors": ["xgboost"]}}, "predict/regressors/0: 'xgboost'"),
    ("folds beyond the graphs", {"predict": {"folds": 99}}, "predict.folds: 99 folds need at least 99 models"),
    ("folds beyond the pruned nets",
     {"predict": {"folds": 5}, "structure": {"cells": []}, "graphs": {"barabasi_albert": {"count": 16}},
      "ffn": {"prune": {"methods": ["random"], "rates": [50, 25], "max_steps": 2, "runs": 2}}},
     "family pruned_ffn_digits gets at most 2 (dense net, method, rate) groups"),
    # 8 pruned nets, but the 2 runs of one deterministic method and rate prune the same weights: one group
    ("one method, one rate, two runs", {"ffn": {"prune": {"methods": ["class_blinded"], "rates": [50], "runs": 2}}},
     "family pruned_ffn_digits gets at most 1 (dense net, method, rate) groups"),
    ("dense nets fewer than folds, one method",
     {"ffn": {"seeds": [0, 1, 2], "prune": {"methods": ["obd"], "rates": [50]}}},
     "family pruned_ffn_digits gets at most 3 (dense net, method, rate) groups"),
    ("single split of a regressor not fitted",
     {"predict": {"regressors": ["random_forest"], "single_splits": {"count": 5, "test_fraction": 0.1,
                                                                     "regressors": ["svr"], "feature_sets": ["all"]}}},
     "predict.single_splits.regressors: ['svr'] not in predict.regressors"),
    ("IDX folder missing", {"ffn": {"datasets": ["fashion_mnist"]}, "data": {"idx_dirs": {"fashion_mnist": "no/fm"}}},
     "data.idx_dirs.fashion_mnist: no/fm: folder not found"),
    ("IDX folder is a file",
     {"ffn": {"datasets": ["fashion_mnist"]}, "data": {"idx_dirs": {"fashion_mnist": "my.yaml"}}},
     "data.idx_dirs.fashion_mnist: my.yaml: not a folder"),
    ("IDX folder without IDX files",
     {"nas": {"tasks": ["ffn_mnist"]}, "data": {"idx_dirs": {"mnist": "."}}},
     "data.idx_dirs.mnist: .: holds no train-images-idx3-ubyte, train-labels-idx1-ubyte"),
    ("no structured family", {"structure": {"cells": [], "ffn": {"datasets": []}}},
     "structure.cells and structure.ffn.datasets: both empty"),
    ("activation", {"nas": {"train": {"activation": "gelu"}}}, "nas/train/activation: 'gelu'"),
    ("population <= elites", {"nas": {"population": 2, "elites": 2}}, "nas.population: 2 must exceed nas.elites"),
    ("tournament", {"nas": {"tournament": 99}}, "nas.tournament: 99 exceeds nas.population"),
    ("nas BA m >= nodes", {"nas": {"generators": {"barabasi_albert": {"nodes": [4], "m": [4]}}}},
     "nas.generators.barabasi_albert.m: m=4 must satisfy 1 <= m < nodes=4"),
    ("nas ER p = 0", {"nas": {"generators": {"erdos_renyi": {"nodes": [8], "p": [0]}}}},
     "nas.generators.erdos_renyi.p: expected probabilities in (0, 1], got 0"),
    ("nas generator lacks a key", {"nas": {"generators": {"newman_watts_strogatz": {"nodes": [8], "k": [2]}}}},
     "nas.generators.newman_watts_strogatz: missing keys ['p']"),
    ("nas generator count", {"nas": {"generators": {"barabasi_albert": {"count": 3, "nodes": [8], "m": [1]}}}},
     "nas.generators.barabasi_albert.count: not a setting of the search"),
    ("nas unknown generator", {"nas": {"generators": {"erdos": {"nodes": [8]}}}}, "nas/generators"),
    ("nas task", {"nas": {"tasks": ["ffn_imagenet"]}}, "nas/tasks/0: 'ffn_imagenet'"),
    ("reuse path missing", {"structure": {"reuse": ["nowhere"]}}, "structure.reuse: nowhere: no such file or folder"),
    ("reuse not parquet", {"structure": {"reuse": ["my.yaml"]}},
     "structure.reuse: my.yaml: expected a Parquet run table (.parquet) or a folder of them"),
]


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


def _main(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exit_:  # argparse's errors
        return int(exit_.code or 0)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = _main(argv)
    return code, capsys.readouterr().err.strip()


def _assert_one_line(code: int, err: str, expected: str) -> None:
    assert code == 2, err
    assert expected in err, err
    assert len(err.splitlines()) == 1, err


@pytest.mark.parametrize(("override", "expected"), [c[1:] for c in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES])
def test_bad_config_keys_stop_at_the_config_check(tmp_path, capsys, monkeypatch, override, expected):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "my.yaml"
    path.write_text(yaml.safe_dump(override))
    before = _files(tmp_path)
    code, err = _run(["validate-config", str(path), "--base", str(REPO / "config.yaml")], capsys)
    _assert_one_line(code, err, expected)
    assert str(path) in err
    assert _files(tmp_path) == before


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("predict:\n  folds: [\n", "my.yaml:3:1: YAML syntax error"),
        ("ffn:\n  prune:\n    rates: [50\n  schedule: x\n", "my.yaml:4:11: YAML syntax error"),
        ("- a\n- b\n", "my.yaml: expected a mapping of config keys at the top level"),
        ("\tseed: 1\n", "my.yaml:1:1: YAML syntax error"),
        ("", "my.yaml: empty (no config keys)"),  # Snakemake refuses an empty --configfile
        ("# my study, to be written\n", "my.yaml: empty (no config keys)"),
    ],
    ids=["unclosed list", "bad indentation", "top-level list", "tab", "empty file", "only a comment"],
)
def test_bad_yaml_names_the_file_line_and_column(tmp_path, capsys, text, expected):
    path = tmp_path / "my.yaml"
    path.write_text(text)
    code, err = _run(["validate-config", str(path)], capsys)
    _assert_one_line(code, err, expected)
    assert _files(tmp_path) == {path}


def test_missing_config_file(tmp_path, capsys):
    code, err = _run(["validate-config", str(tmp_path / "nope.yaml")], capsys)
    _assert_one_line(code, err, "nope.yaml: config file not found")


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "configs").glob("*.yaml")))
def test_every_shipped_config_is_valid_merged_over_the_default(capsys, monkeypatch, name):
    from sparsepipe.config import merge, read_yaml, vision_datasets

    monkeypatch.chdir(REPO)
    merged = merge(default_config(), read_yaml(REPO / "configs" / name))
    folders = [Path(merged["data"]["idx_dirs"][d]) for d in vision_datasets(merged) if d in merged["data"]["idx_dirs"]]
    missing = [str(f) for f in folders if not f.is_dir()]
    if missing and os.environ.get("SPARSEPIPE_REQUIRE_DATA") != "1":  # validate-config checks data.idx_dirs
        pytest.skip(f"data.idx_dirs folder(s) {missing} not here (Debian: apt-get install dataset-fashion-mnist)")
    assert main(["validate-config", f"configs/{name}"]) == 0
    assert "valid (merged over config.yaml)" in capsys.readouterr().out


# --- units run by hand: graph files, data files, checkpoints, --params -----------------------------------------

def _graph_file(tmp: Path, name: str, text: str) -> list[str]:
    (tmp / name).write_text(text)
    params = {"generator": {"paths": [str(tmp / name)]}, "seed": 0}
    return ["graphs", "--generator", "files", "--params", json.dumps(params), "--out", str(tmp / "out/g.parquet")]


def _idx_dir(tmp: Path, cut: int | None = None) -> Path:
    folder = tmp / "idx"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 20), ("t10k", 10)):
        for kind, array in (("images-idx3", rng.integers(0, 256, (n, 28, 28))), ("labels-idx1", np.arange(n) % 10)):
            data = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
            data += array.astype(np.uint8).tobytes()
            with gzip.open(folder / f"{prefix}-{kind}-ubyte.gz", "wb") as f:
                f.write(data if cut is None or prefix == "t10k" else data[:cut])
    return folder


def _stage(tmp: Path, idx_dir: Path | str) -> list[str]:
    params = {"download": False, "idx_dirs": {"fashion_mnist": str(idx_dir)}}
    return ["stage-data", "--dataset", "fashion_mnist", "--params", json.dumps(params), "--root",
            str(tmp / "out/vision"), "--out", str(tmp / "out/fashion_mnist.json")]


def _torch_file(tmp: Path, obj: Any, name: str = "model.pt") -> Path:
    torch.save(obj, tmp / name)
    return tmp / name


def _prune(tmp: Path, model: Path, params: dict[str, Any] | None = None) -> list[str]:
    return ["prune", "--model", str(model), "--method", "class_blinded", "--params",
            json.dumps(params or unit_params("prune")), "--root", str(tmp), "--out", str(tmp / "out/p.parquet")]


def _prune_rnn(tmp: Path, model: Path) -> list[str]:
    return ["prune-rnn", "--model", str(model), "--target", "i2h", "--params", json.dumps(unit_params("prune-rnn")),
            "--data", str(tmp / "reber.parquet"), "--out", str(tmp / "out/p.parquet")]


def _train_rnn(tmp: Path, data: str, params: Any = None) -> list[str]:
    text = params if isinstance(params, str) else json.dumps(params or unit_params("train-rnn"))
    return ["train-rnn", "--cell", "gru", "--model-seed", "0", "--params", text, "--data", str(tmp / data),
            "--out-model", str(tmp / "out/m.pt"), "--out-table", str(tmp / "out/m.parquet")]


def _train_ffn(tmp: Path, params: Any) -> list[str]:
    return ["train-ffn", "--dataset", "digits", "--arch", "8", "--model-seed", "0", "--params", json.dumps(params),
            "--root", str(tmp), "--out", str(tmp / "out/m.pt")]


def _with(unit: str, path: str, value: Any) -> dict[str, Any]:
    params = unit_params(unit)
    *parents, last = path.split("/")
    node = params
    for key in parents:
        node = node[key]
    node[last] = value
    return params


def _structure_runs(tmp: Path) -> list[str]:
    shard = tmp / "shard.parquet"
    io.write_table(pd.DataFrame([{"graph_id": "barabasi_albert-0007", "generator": "barabasi_albert",
                                  "family": "rnn_gru", "test_acc": 0.5, "test_loss": 1.0, "epochs": 1,
                                  "seconds": 1.0}]), shard)
    io.write_table(pd.DataFrame({"graph_id": ["barabasi_albert-0000"], "generator": ["barabasi_albert"],
                                 "edges": [3]}), tmp / "features.parquet")
    return ["structure-runs", "--shards", str(shard), "--features", str(tmp / "features.parquet"), "--out",
            str(tmp / "out/runs.parquet")]


def _rnn_like_checkpoint(tmp: Path) -> Path:
    return _torch_file(tmp, {"state_dict": {}, "masks": {}, "metrics": {"test_acc": 0.5},
                             "config": {"cell": "gru", "model_seed": 0, "hidden": [8], "train": {}}})


def _truncated(tmp: Path, name: str, make: Callable[[Path], None]) -> Path:
    path = tmp / name
    make(path)
    path.write_bytes(path.read_bytes()[:40])
    return path


UNIT_CASES: list[tuple[str, Callable[[Path], list[str]], str]] = [
    # graph files
    ("graph file with one node", lambda t: _graph_file(t, "one.edgelist", "a\n"), "one.edgelist"),
    ("graph file without edges", lambda t: _graph_file(t, "empty.csv", "source,target\n"), "empty.csv"),
    ("graph file not GraphML", lambda t: _graph_file(t, "bad.graphml", "<graphml><oops"), "bad.graphml: unreadable"),
    ("graph file with an isolated node", lambda t: _graph_file(t, "iso.edgelist", "0 1\n1 2\n7\n"),
     "iso.edgelist): isolated nodes ['7'] (labels as in the file)"),  # the file's label, not its index (3)
    ("edge list of prose", lambda t: _graph_file(t, "story.txt", "# notes\nThe quick brown fox jumps\n"),
     "story.txt:2: expected two node labels and an optional weight ('u v' or 'u v w'), got 5 fields"),
    ("edge list of three labels", lambda t: _graph_file(t, "tri.edgelist", "a b\nb c d\n"),
     "tri.edgelist:2: expected two node labels"),
    ("graph file missing", lambda t: ["graphs", "--generator", "files", "--params",
                                      json.dumps({"generator": {"paths": [str(t / "none.graphml")]}, "seed": 0}),
                                      "--out", str(t / "out/g.parquet")], "none.graphml"),
    # data files
    ("IDX shorter than its header promises", lambda t: _stage(t, _idx_dir(t, cut=100)),
     "train-images-idx3-ubyte.gz: truncated or not an IDX file (100 bytes, header promises 15696)"),
    ("IDX shorter than its header", lambda t: _stage(t, _idx_dir(t, cut=10)),
     "train-images-idx3-ubyte.gz: truncated or not an IDX file (10 bytes; expected a header of magic number and 3 "
     "dimension sizes, 16 bytes"),
    ("IDX file missing", lambda t: _stage(t, t), "train-images-idx3-ubyte[.gz]: not found"),
    ("IDX not gzip", lambda t: (_idx_dir(t), (t / "idx/train-labels-idx1-ubyte.gz").write_bytes(b"not gzip"),
                                _stage(t, t / "idx"))[-1], "train-labels-idx1-ubyte.gz: unreadable"),
    ("Reber table missing", lambda t: _train_rnn(t, "nope.parquet"), "nope.parquet: file not found"),
    ("Reber table truncated", lambda t: (_truncated(t, "reber.parquet", lambda p: io.write_table(
        pd.DataFrame({"split": ["train"], "string": ["BTSSXXTVVE"], "label": [1]}), p)),
                                         _train_rnn(t, "reber.parquet"))[-1],
     "reber.parquet: not a readable Parquet file"),
    ("Reber table without columns", lambda t: (io.write_table(pd.DataFrame({"x": [1]}), t / "reber.parquet"),
                                               _train_rnn(t, "reber.parquet"))[-1],
     "reber.parquet: missing columns"),
    ("features lack a graph", _structure_runs, "no features for graph(s) ['barabasi_albert-0007']"),
    ("collect without inputs", lambda t: ["collect", "--inputs", str(t / "a.parquet"),
                                          "--out", str(t / "out/c.parquet")],
     "a.parquet: file not found"),
    # checkpoints
    ("checkpoint missing", lambda t: _prune(t, t / "model.pt"), "model.pt: checkpoint not found"),
    ("torch file, not a checkpoint", lambda t: _prune(t, _torch_file(t, {"w": torch.ones(2)})),
     "model.pt: a torch file but not a sparsepipe checkpoint"),
    ("torch tensor, not a checkpoint", lambda t: _prune(t, _torch_file(t, torch.ones(2))),
     "model.pt: a torch file but not a sparsepipe checkpoint"),
    ("truncated checkpoint", lambda t: _prune(t, _truncated(t, "model.pt",
                                                            lambda p: torch.save({"w": torch.ones(99)}, p))),
     "model.pt: not a readable sparsepipe checkpoint"),
    ("text file as checkpoint", lambda t: _prune(t, (t / "model.pt", (t / "model.pt").write_text("hello"))[0]),
     "model.pt: not a readable sparsepipe checkpoint"),
    ("recurrent checkpoint to prune", lambda t: _prune(t, _rnn_like_checkpoint(t)),
     "model.pt: a checkpoint of another kind"),
    ("feed-forward checkpoint to prune-rnn", lambda t: _prune_rnn(t, _torch_file(
        t, {"state_dict": {}, "config": {"dataset": "digits"}, "metrics": {"test_acc": 0.5}})),
     "model.pt: a checkpoint of another kind"),
    # --params
    ("params: only a seed", lambda t: ["graphs", "--generator", "barabasi_albert", "--params", '{"seed": 0}',
                                       "--out", str(t / "out/g.parquet")], "--params: missing key(s) ['generator']"),
    ("params: unknown key", lambda t: _train_ffn(t, unit_params("train-ffn") | {"epochs": 3}),
     "--params: unknown key(s) ['epochs']"),
    ("params: negative seed", lambda t: _train_ffn(t, _with("train-ffn", "seed", -1)), "--params: key seed"),
    ("params: zero epochs", lambda t: _train_rnn(t, "reber.parquet", _with("train-rnn", "train/epochs", 0)),
     "--params: key train/epochs (config rnn.train.epochs)"),
    ("params: bad optimizer", lambda t: _train_ffn(t, _with("train-ffn", "train/optimizer", "rmsprop")),
     "--params: key train/optimizer (config ffn.train.optimizer)"),
    ("params: count rate not whole", lambda t: _prune(t, t / "m.pt", _with("prune", "strategy", "count")
                                                        | {"rates": [2.5]}), "ffn.prune.rates: 2.5"),
    ("params: percent rate 100", lambda t: _prune(t, t / "m.pt", _with("prune", "rates", [100])),
     "ffn.prune.rates: 100 is outside (0, 100)"),
    ("params: graph choices", lambda t: ["graphs", "--generator", "barabasi_albert", "--params",
                                         json.dumps({"generator": {"count": 2, "nodes": [4], "m": [5]}, "seed": 0}),
                                         "--out", str(t / "out/g.parquet")], "graphs.barabasi_albert.m: m=5"),
    ("params: search population", lambda t: ["search", "--task", "ffn_digits", "--params",
                                             json.dumps(_with("search", "population", 1)), "--data", str(t),
                                             "--out-table", str(t / "out/s.parquet"),
                                             "--out-graph", str(t / "out/b.graphml")],
     "--params: key population (config nas.population)"),
    ("params: not JSON", lambda t: _train_rnn(t, "reber.parquet", "{seed: 0"), "argument --params: not JSON or @file"),
    ("params: file missing", lambda t: _train_rnn(t, "reber.parquet", "@nope.json"), "nope.json"),
    ("params: a list", lambda t: _train_rnn(t, "reber.parquet", "[1, 2]"), "--params: expected a JSON object"),
    ("params: stage-data download", lambda t: ["stage-data", "--dataset", "digits", "--params",
                                               json.dumps({"download": "yes", "idx_dirs": {}}), "--root", str(t),
                                               "--out", str(t / "out/d.json")], "--params: key download"),
]


@pytest.mark.parametrize(("argv", "expected"), [c[1:] for c in UNIT_CASES], ids=[c[0] for c in UNIT_CASES])
def test_bad_unit_input_is_one_line_and_leaves_nothing(tmp_path, capsys, argv, expected):
    args = argv(tmp_path)
    before = _files(tmp_path)
    code, err = _run(args, capsys)
    _assert_one_line(code, err, expected)
    assert _files(tmp_path) == before, _files(tmp_path) - before


def test_every_cross_key_rule_has_a_bad_input_here(tmp_path, monkeypatch):
    """Each rule registered with ``sparsepipe.config.cross_check`` refuses at least one of CONFIG_CASES (a new rule
    needs its case), and a case that passes the schema is refused by exactly the rules it names."""
    from jsonschema.exceptions import best_match

    from sparsepipe import config as config_module
    from sparsepipe.errors import ConfigError

    monkeypatch.chdir(tmp_path)
    (tmp_path / "my.yaml").write_text("seed: 0\n")
    validator = config_module.jsonschema.Draft202012Validator(config_module.schema())
    refused_by: dict[str, set[str]] = {check.__name__: set() for check in config_module.CROSS_CHECKS}
    for name, override, expected in CONFIG_CASES:
        merged = config_module.merge(default_config(), override)
        if best_match(validator.iter_errors(merged)) is not None:
            continue  # a schema case: the cross-key rules never see it
        for check in config_module.CROSS_CHECKS:
            try:
                check(merged)
            except ConfigError as error:
                assert expected in str(error), (name, check.__name__, str(error))
                refused_by[check.__name__].add(name)
    assert not [check for check, cases in refused_by.items() if not cases], refused_by


# --- the Snakefile: sparsepipe's one line comes before anything of Snakemake's ---------------------------------

def _snakemake_first_lines(workdir: Path, *args: str) -> tuple[int, list[str]]:
    import subprocess

    result = subprocess.run(["snakemake", "-n", "--cores", "1", "--snakefile", str(REPO / "Snakefile"),
                             "--directory", str(workdir), *args], capture_output=True, text=True, check=False)
    lines = [line for line in (result.stderr + result.stdout).splitlines()
             if line.strip() and not line.startswith(("Using workflow specific profile", "Config file "))]
    return result.returncode, lines


def test_snakemake_prints_the_one_line_first(tmp_path):
    (tmp_path / "config.yaml").write_text((REPO / "config.yaml").read_text())
    (tmp_path / "study.yaml").write_text(yaml.safe_dump({"nas": {"generators": {"erdos_renyi": {"nodes": [8],
                                                                                               "p": [0]}}}}))
    code, lines = _snakemake_first_lines(tmp_path, "--configfile", str(tmp_path / "study.yaml"))
    assert code != 0
    assert lines[0].startswith("sparsepipe: config error:") and "nas.generators.erdos_renyi.p" in lines[0], lines[:3]
    assert not (tmp_path / "results").exists()


def test_snakemake_names_the_line_of_a_yaml_error(tmp_path):
    config = copy.deepcopy(default_config())
    text = yaml.safe_dump(config).replace("folds: 4", "folds: [4")
    (tmp_path / "config.yaml").write_text(text)
    code, lines = _snakemake_first_lines(tmp_path)
    assert code != 0
    assert lines[0].startswith("sparsepipe: config error: config.yaml:") and "YAML syntax error" in lines[0], lines[:3]


def test_every_rule_passes_the_params_its_unit_checks(tmp_path):
    """The rules (cli_json) and sparsepipe.config.UNIT_PARAMS name the same keys: a rule's --params pass the unit's
    check, and every unit with settings appears."""
    import shlex
    import subprocess

    from sparsepipe.config import UNIT_PARAMS, check_params

    (tmp_path / "config.yaml").write_text(yaml.safe_dump(tiny_config()))
    result = subprocess.run(["snakemake", "-n", "-p", "--cores", "1", "--snakefile", str(REPO / "Snakefile"),
                             "--directory", str(tmp_path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    seen = set()
    for line in (result.stdout + result.stderr).splitlines():
        if "sparsepipe --launch" not in line or "--params" not in line:
            continue
        words = shlex.split(line.split("Shell command:", 1)[-1].split(" 2> ")[0])
        unit = words[words.index("--launch") + 2]
        params = json.loads(words[words.index("--params") + 1])
        generator = words[words.index("--generator") + 1] if "--generator" in words else None
        check_params(unit, params, **({"generator": generator} if generator else {}))
        seen.add(unit)
    assert seen == set(UNIT_PARAMS)
