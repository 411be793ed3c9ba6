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


def _third_party_imports(files) -> set[str]:
    import ast
    import sys

    local = {"sparsepipe"} | {p.stem for folder in ("bench", "tests") for p in (REPO / folder).glob("*.py")}
    names = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in local and n != "__future__"}


def test_every_import_of_the_package_and_bench_is_declared():
    from importlib.metadata import packages_distributions

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {_split(r)[0] for r in project["dependencies"]}
    extras = project["optional-dependencies"]
    distributions = {module: {d.lower() for d in dists} for module, dists in packages_distributions().items()}

    def undeclared(files, allowed):
        imports = _third_party_imports(files)
        return sorted(m for m in imports if not distributions.get(m, {m}) & allowed)

    optional = {_split(r)[0] for r in extras["gpu"]}  # imported lazily, with a fallback where missing
    assert undeclared((REPO / "sparsepipe").rglob("*.py"), declared | optional) == []
    bench = declared | {_split(r)[0] for r in extras["bench"]}
    assert undeclared((REPO / "bench").glob("*.py"), bench) == []
    tests = declared | optional | {_split(r)[0] for r in extras["test"]}
    assert undeclared((REPO / "tests").glob("*.py"), tests) == []


def test_ci_runs_the_readme_test_command_verbatim():
    readme = (REPO / "README.md").read_text()
    block = readme.split("**Run the tests**", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0].strip()
    assert len(block.splitlines()) == 1 and "pytest" in block
    assert block in (REPO / ".ci" / "run").read_text().splitlines()
