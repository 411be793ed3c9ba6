import copy
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from sparsepipe.cli import main
from sparsepipe.config import check_semantics, load_config, merge_configs, validate_config
from sparsepipe.errors import ConfigError
from sparsepipe.graphs import generate_graphs

from conftest import REPO, default_config


def test_embedded_default_is_valid():
    validate_config(default_config())
    assert load_config(REPO / "config.yaml")["results_dir"] == "results"


def _broken(path, value):
    config = copy.deepcopy(default_config())
    *parents, last = path
    node = config
    for key in parents:
        node = node[key]
    node[last] = value
    return config


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (["ffn", "prune", "ratez"], [10], r"ffn/prune.*'ratez' was unexpected"),
        (["ffn", "prune", "rates"], [0], r"ffn/prune/rates/0: 0 is less than or equal to the minimum of 0"),
        (["ffn", "prune", "rates"], [50, 100], r"ffn/prune/rates/1: 100 is greater than or equal to the maximum"),
        (["ffn", "prune", "methods"], ["class_blind"], r"ffn/prune/methods/0: 'class_blind' is not one of"),
        (["graphs", "erdos"], {"count": 2}, r"graphs.*'erdos' was unexpected"),
        (["graphs", "barabasi_albert", "nodes"], [0], r"graphs/barabasi_albert/nodes/0: 0 is less than the minimum"),
        (["graphs", "watts_strogatz", "count"], -3, r"graphs/watts_strogatz/count: -3 is less than the minimum"),
        (["device"], "tpu", r"device: 'tpu' is not one of"),
        (["nas", "train", "activation"], "gelu", r"nas/train/activation: 'gelu' is not one of"),
        (["graphs", "barabasi_albert", "nodes"], {"min": 10}, r"graphs/barabasi_albert/nodes: 'max' is a required"),
        (["graphs", "barabasi_albert", "m"], {"nodes_div": 0}, r"graphs/barabasi_albert/m/nodes_div: 0 is less than"),
        (["graphs", "watts_strogatz", "connected"], "yes", r"graphs/watts_strogatz/connected: 'yes' is not of type"),
        (["structure", "train", "embedding"], "source", r"structure/train/embedding: 'sources' was expected"),
        (["rnn", "train", "embedding"], "sources", r"rnn/train/embedding: 'sources' is not of type 'integer'"),
        (["structure", "replicates"], 0, r"structure/replicates: 0 is less than the minimum of 1"),
        (["populations", "kernels"], "fast", r"populations/kernels: 'fast' is not one of \['auto', 'plain'\]"),
        (["predict", "target"], "median", r"predict/target: 'median' is not one of \['single', 'replicate_mean'"),
        (["predict", "single_splits"], {"count": 5, "test_fraction": 1.0, "regressors": [], "feature_sets": []},
         r"predict/single_splits/test_fraction: 1.0 is greater than or equal to the maximum of 1"),
    ],
)
def test_bad_values_are_named_in_one_line(path, value, message):
    with pytest.raises(ConfigError, match=message) as error:
        validate_config(_broken(path, value))
    assert "\n" not in str(error.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml: config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_snakemake_stops_a_bad_config_naming_the_key(tmp_path):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(_broken(["ffn", "prune", "rates"], [150])))
    result = subprocess.run(
        ["snakemake", "-n", "--cores", "1", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "150 is greater than or equal to the maximum of 100" in output
    assert "'rates'" in output or "rates" in output


def test_the_new_structure_keys_are_valid():
    config = _broken(["structure", "train", "embedding"], "sources")
    config["structure"]["replicates"] = 3
    config["graphs"]["barabasi_albert"] |= {"nodes": {"min": 10, "max": 50}, "m": {"nodes_div": 10}}
    validate_config(config)
    check_semantics(config)


def test_a_rule_that_breaks_for_some_node_count_stops_validation_naming_the_key(tmp_path, capsys):
    config = _broken(["graphs", "barabasi_albert", "nodes"], {"min": 5, "max": 50})
    config["graphs"]["barabasi_albert"]["m"] = {"nodes_div": 10}
    validate_config(config)  # the schema cannot see it
    with pytest.raises(ConfigError, match=r"^graphs\.barabasi_albert\.m: .*gives m=0 for nodes=5"):
        check_semantics(config)
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config))
    assert main(["validate-config", str(tmp_path / "bad.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "graphs.barabasi_albert.m" in err and "nodes=5" in err


def test_overlays_merge_as_snakemake_merges_configfiles():
    from snakemake.utils import update_config

    base = default_config()
    for name in ("paper-rnn", "paper-rnn-fixed-embedding", "paper-rnn-gru-replicates", "structure-study"):
        overlay = yaml.safe_load((REPO / "configs" / f"{name}.yaml").read_text())
        expected = copy.deepcopy(base)
        update_config(expected, overlay)
        assert merge_configs(base, overlay) == expected
    merged = load_config(REPO / "config.yaml", REPO / "configs/paper-rnn.yaml",
                         REPO / "configs/paper-rnn-fixed-embedding.yaml")
    assert merged["structure"]["train"] == {"embedding": 8, "epochs": 15, "batch_size": 128, "lr": 0.001}
    assert merged["results_dir"] == "results/paper-rnn-fixed-embedding"
    merged = load_config(REPO / "config.yaml", REPO / "configs/paper-rnn.yaml",
                         REPO / "configs/paper-rnn-gru-replicates.yaml")
    assert merged["structure"]["cells"] == ["gru"] and merged["structure"]["replicates"] == 3
    assert merged["structure"]["train"]["embedding"] == "sources"
    assert merged["predict"]["target"] == "both" and merged["predict"]["folds"] == 10


def _data_here(path) -> bool:
    """Whether the data.idx_dirs folders a config uses are here (validate-config checks them); CI installs
    Debian's dataset-fashion-mnist, and SPARSEPIPE_REQUIRE_DATA=1 checks every config regardless."""
    from sparsepipe.config import merge, read_yaml, vision_datasets

    merged = merge(default_config(), read_yaml(path))
    dirs = merged["data"]["idx_dirs"]
    return os.environ.get("SPARSEPIPE_REQUIRE_DATA") == "1" or all(
        Path(dirs[d]).is_dir() for d in vision_datasets(merged) if d in dirs)


def test_every_shipped_config_is_valid_over_the_default(capsys):
    for path in sorted((REPO / "configs").glob("*.yaml")):
        if _data_here(path):
            assert main(["validate-config", str(REPO / "config.yaml"), str(path)]) == 0, path
    assert "configs/paper-rnn.yaml: valid" in capsys.readouterr().out


def test_the_paper_rnn_preset_is_the_papers_setting():
    config = load_config(REPO / "config.yaml", REPO / "configs/paper-rnn.yaml")
    assert config["reber"]["train"] == 18750 and config["reber"]["test"] == 6250
    structure = config["structure"]
    assert structure["cells"] == ["gru", "lstm", "rnn_tanh", "rnn_relu"]
    assert structure["train"] == {"embedding": "sources", "epochs": 15, "batch_size": 128, "lr": 0.001}
    assert structure["replicates"] == 1
    assert config["predict"]["folds"] == 10 and config["predict"]["repeats"] == 3
    assert set(config["graphs"]) == {"barabasi_albert", "watts_strogatz"}
    for name, key, divisor in (("barabasi_albert", "m", 10), ("watts_strogatz", "k", 5)):
        settings = config["graphs"][name]
        assert settings["count"] == 100
        table = generate_graphs(name, settings | {"count": 30}, config["seed"])
        assert table["nodes"].between(10, 50).all()
        params = table["params"].map(json.loads)
        assert all(p[key] == p["nodes"] // divisor for p in params)
        if name == "watts_strogatz":
            assert settings["connected"] is True and all(p["p"] == 1.0 for p in params)
