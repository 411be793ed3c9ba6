import copy
import subprocess

import pytest
import yaml

from sparsepipe.config import load_config, validate_config
from sparsepipe.errors import ConfigError

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
