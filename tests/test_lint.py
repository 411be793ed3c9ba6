"""The code base stays ruff-clean (part of the README's test command, so CI checks it too)."""

import shutil
import subprocess

import pytest

from conftest import REPO


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed (pip install -e '.[test]')")
def test_ruff_is_clean():
    result = subprocess.run(["ruff", "check", "--output-format", "concise", str(REPO)], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
