"""envs/sparsepipe.yaml must ask for what pyproject.toml asks for (conda is not run here; this test is the check)."""

import re
import tomllib

import yaml

from conftest import REPO

# PyPI name -> conda-forge name where they differ
CONDA_NAMES = {"torch": "pytorch"}


def _split(requirement: str) -> tuple[str, str]:
    name, spec = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement).groups()
    return name.lower(), spec.replace(" ", "")


def test_conda_environment_matches_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = {CONDA_NAMES.get(n, n): s for n, s in map(_split, project["dependencies"])}
    env = yaml.safe_load((REPO / "envs" / "sparsepipe.yaml").read_text())
    listed = dict(_split(d) for d in env["dependencies"] if isinstance(d, str) and not d.startswith(("python", "pip")))
    assert listed == wanted
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert python.replace(" ", "") == "python" + project["requires-python"]
