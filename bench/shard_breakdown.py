"""Where a structure shard's time goes besides training: `python bench/shard_breakdown.py [--epochs 4 ...]`.

Draws graphs and Reber strings as configs/paper-rnn.yaml does (fewer of them) through the CLI, as Snakemake's jobs
do, trains with its structure.train (fewer epochs), and runs one `sparsepipe train-structured` shard as its own
process (one thread) and splits its wall time by the log's timestamps:

- start-up: process start to the population's first log line (imports, reading the data and graphs, building and
  sizing the members); the imports alone are timed separately (`python -X importtime`, the CLI parsing this
  subcommand);
- first epoch: the population's packing, the optimizer's construction (torch.optim imports torch._dynamo on first
  use) and the first touch of the workspace's pages, besides the epoch's training;
- later epochs: training alone (their mean is the steady rate);
- tail: evaluation on the test split and writing the table.

Also the process's page faults and system time (`getrusage`). The figures of issue 20's end-to-end question are in
docs/benchmarks.md ("Where a shard's time goes").
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sparsepipe.config import load_config

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "sparsepipe.cli"]
STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def import_seconds(command: str) -> float:
    """Seconds of imports for the CLI parsing ``command`` (sum of ``-X importtime``'s self times)."""
    err = subprocess.run([sys.executable, "-X", "importtime", "-m", "sparsepipe.cli", command, "--help"],
                         capture_output=True, text=True).stderr
    return sum(int(m.group(1)) for m in re.finditer(r"import time:\s+(\d+) \|", err)) / 1e6


def stamps(log: str, pattern: str) -> list[float]:
    return [dt.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            for line in log.splitlines() if pattern in line and (m := STAMP.match(line))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", default="gru")
    parser.add_argument("--generator", default="barabasi_albert", choices=("barabasi_albert", "watts_strogatz"))
    parser.add_argument("--graphs", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--strings", type=int, default=6000, help="training strings (test: a third of it)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="sparsepipe-shard-"))
    preset = load_config(str(REPO / "configs/paper-rnn.yaml"))  # the paper's strings, graphs and training
    reber = {**preset["reber"], "train": args.strings, "test": args.strings // 3}
    generator = {**preset["graphs"][args.generator], "count": args.graphs}
    subprocess.run([*CLI, "reber", "--params", json.dumps({"reber": reber, "seed": 0}),
                    "--out", str(folder / "reber.parquet")], check=True, capture_output=True)
    subprocess.run([*CLI, "graphs", "--generator", args.generator, "--params",
                    json.dumps({"generator": generator, "seed": 0}), "--out", str(folder / "graphs.parquet")],
                   check=True, capture_output=True)
    settings = {"populations": preset["populations"], "replicates": 1, "seed": 0, "shards": 1,
                "train": {**preset["structure"]["train"], "epochs": args.epochs}}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.time()
    job = subprocess.run([*CLI, "train-structured", "--threads", "1", "--cell", args.cell, "--generator",
                          args.generator, "--shard", "0", "--params", json.dumps(settings), "--graphs",
                          str(folder / "graphs.parquet"), "--data", str(folder / "reber.parquet"),
                          "--out", str(folder / "shard.parquet")], capture_output=True, text=True)
    end = time.time()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if job.returncode != 0:
        print(job.stderr[-3000:], file=sys.stderr)
        return 1
    first = stamps(job.stderr, "members in")[0]
    epochs = stamps(job.stderr, "epoch=")
    populations = len(stamps(job.stderr, ": population "))
    later = [b - a for a, b in zip(epochs[:-1], epochs[1:], strict=True)][: args.epochs - 1]
    print(f"one shard: {args.graphs} {args.generator} graphs, {args.cell}, {args.epochs} epochs on {args.strings} "
          f"paper-like strings, batch {settings['train']['batch_size']}, one thread; {populations} population(s)")
    print(f"  wall {end - start:.1f} s (user {after.ru_utime - before.ru_utime:.1f}, "
          f"sys {after.ru_stime - before.ru_stime:.1f}; {after.ru_minflt - before.ru_minflt:,} page faults)")
    print(f"  start-up to the first population: {first - start:.1f} s "
          f"(imports of the CLI for train-structured: {import_seconds('train-structured'):.2f} s)")
    print(f"  first epoch: {epochs[0] - first:.1f} s; later epochs: "
          + (f"{sum(later) / len(later):.1f} s each" if later else "none"))
    print(f"  after the last epoch (evaluation, table): {end - epochs[-1]:.1f} s")
    if populations == 1 and later:
        extra = (epochs[0] - first) - sum(later) / len(later)
        overhead = (first - start) + extra + (end - epochs[-1])
        print(f"  besides training: {overhead:.1f} s of {end - start:.1f} ({overhead / (end - start):.0%}); "
              f"the first epoch's extra {extra:.1f} s")
    for command in ("graphs", "reber", "predict", "train-rnn"):
        print(f"  imports of the CLI for {command}: {import_seconds(command):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
