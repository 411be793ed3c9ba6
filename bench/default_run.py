"""Wall time of the embedded default chain from a fresh clone: `python bench/default_run.py`.

Clones the repository's HEAD into a temporary folder (so no earlier results or Snakemake metadata help),
runs `snakemake --cores all` there, and prints the wall time and the per-rule job counts. Target (issue 2):
at most 10 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", default="all")
    parser.add_argument("--keep", action="store_true", help="keep the clone and its results")
    args = parser.parse_args()
    clone = Path(tempfile.mkdtemp(prefix="sparsepipe-bench-"))
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "snakemake", "--cores", args.cores], cwd=clone, capture_output=True,
                            text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        print(result.stderr[-4000:], file=sys.stderr)
        return 1
    runs = pd.read_parquet(clone / "results/structure/runs.parquet")
    pruning = pd.read_parquet(clone / "results/ffn/pruning.parquet")
    scores = pd.read_parquet(clone / "results/predict/scores.parquet")
    print(f"default chain from a fresh clone: {seconds:.1f} s wall on {os.cpu_count()} cores (target <= 600 s)")
    print(f"structured models: {len(runs)}, test accuracy mean {runs['test_acc'].mean():.3f} "
          f"(min {runs['test_acc'].min():.3f}, max {runs['test_acc'].max():.3f})")
    print(f"pruning steps: {len(pruning)}")
    print(scores[["family", "regressor", "r2_mean", "r2_std", "spearman_mean"]].to_string(index=False))
    if not args.keep:
        subprocess.run(["rm", "-rf", str(clone)], check=True)
    else:
        print(f"kept {clone}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
