"""Are two runs' tables the same? `python bench/compare_runs.py RESULTS_A RESULTS_B`.

Compares every Parquet table under two results folders (the same relative paths), cell by cell, after dropping the
columns that time a run (``seconds`` and ``*_seconds``: wall time differs from run to run by nature). Floats must be
equal exactly (same code, same seeds, same machine give the same bits). Prints one line per table and exits 1 if any
table differs or exists on one side only. Used to show that a refactoring left the default run's numbers as they were
(docs/development.md): run `snakemake --cores all` on a checkout before and after, then compare the two `results/`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd


def timing(column: str) -> bool:
    return column == "seconds" or column.endswith("_seconds")


def tables(root: Path) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("*.parquet")) if ".snakemake" not in p.parts}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    args = parser.parse_args()
    left, right = tables(args.a), tables(args.b)
    different = 0
    for name in sorted(set(left) | set(right)):
        if name not in left or name not in right:
            print(f"{name}: only in {args.a if name in left else args.b}")
            different += 1
            continue
        a, b = pd.read_parquet(left[name]), pd.read_parquet(right[name])
        a, b = (t.drop(columns=[c for c in t.columns if timing(c)]) for t in (a, b))
        try:
            pd.testing.assert_frame_equal(a, b, check_exact=True)
            print(f"{name}: identical ({len(a)} rows, {len(a.columns)} columns)")
        except AssertionError as error:
            print(f"{name}: DIFFERS: {' '.join(str(error).split())[:300]}")
            different += 1
    print(f"{len(set(left) | set(right))} tables, {different} differ")
    return 1 if different else 0


if __name__ == "__main__":
    sys.exit(main())
