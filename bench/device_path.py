"""The pipeline's training units on one device: `python bench/device_path.py --device cuda [--device cpu]`.

Runs what the Snakemake rules run (sparsepipe.stages, the embedded default config.yaml), on each ``--device`` in
turn, into a temporary folder: dense recurrent nets on Reber (``train_rnn``) and their pruning with re-training
(``prune_rnn``), one shard of graph-structured GRUs trained as populations (``train_structured``), a dense
digits MLP (``train_ffn``) and its class-blinded pruning (``prune_ffn``). Prints every unit's test accuracy and
wall time per device, so that a CUDA run can be read against the CPU run of the same seeds. The numbers of two
devices are not bit-identical (different kernels), but their accuracies should agree within seed noise; the
same device and seed give the same numbers (tests/test_train.py checks CUDA's determinism where a GPU exists).
Needs no Snakemake: the rules are thin wrappers of these calls.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # time this checkout, whatever is installed

from sparsepipe import io, stages  # noqa: E402


def timed(label: str, call, *args, **kwargs) -> float:
    start = time.perf_counter()
    call(*args, **kwargs)
    seconds = time.perf_counter() - start
    print(f"  {label:<44} {seconds:7.1f} s", flush=True)
    return seconds


def run(device: str, config: dict, tmp: Path) -> None:
    seed = config["seed"]
    print(f"device {device}:")
    data = tmp / "reber.parquet"
    if not data.exists():
        stages.rnn.reber({"reber": config["reber"], "seed": seed}, str(data))
    rnn = config["rnn"]
    for cell in rnn["cells"]:
        model, table = tmp / f"{device}-{cell}.pt", tmp / f"{device}-{cell}.parquet"
        timed(f"train_rnn {cell}", stages.rnn.train_rnn, cell, 0, {"hidden": rnn["hidden"], "train": rnn["train"],
                                                              "seed": seed}, str(data), str(model), str(table),
              device=device)
        dense = io.read_table(table)["test_acc"].iloc[0]
        out = tmp / f"{device}-{cell}-prune.parquet"
        timed(f"prune_rnn {cell} both", stages.rnn.prune_rnn, str(model), "both",
              {key: rnn["prune"][key] for key in ("percents", "retrain")} | {"seed": seed}, str(data), str(out),
              device=device)
        pruned = io.read_table(out).set_index("percent")
        print(f"    dense {dense:.4f}; pruned 30% {pruned.loc[30.0, 'acc_pruned']:.4f} -> re-trained "
              f"{pruned.loc[30.0, 'acc_retrained']:.4f}; 90% {pruned.loc[90.0, 'acc_pruned']:.4f} -> "
              f"{pruned.loc[90.0, 'acc_retrained']:.4f}")
    graphs = tmp / "graphs-ba.parquet"
    if not graphs.exists():
        stages.graphs.graphs("barabasi_albert", {"generator": config["graphs"]["barabasi_albert"], "seed": seed},
                             str(graphs))
    shard = tmp / f"{device}-shard.parquet"
    structure = config["structure"]
    timed("train_structured gru (one shard, populations)", stages.structure.train_structured, "gru",
          "barabasi_albert", 0,
          {"train": structure["train"], "shards": structure["shards"], "replicates": structure["replicates"],
           "populations": config["populations"], "seed": seed}, str(graphs), str(data), str(shard), device=device)
    accuracies = io.read_table(shard)["test_acc"]
    print(f"    {len(accuracies)} nets, test accuracy mean {accuracies.mean():.4f} (min {accuracies.min():.4f}, "
          f"max {accuracies.max():.4f})")
    vision = tmp / "vision"
    model = tmp / f"{device}-ffn.pt"
    timed("train_ffn digits 100", stages.ffn.train_ffn, "digits", "100", 0,
          {"train": config["ffn"]["train"], "seed": seed}, str(vision), str(model), device=device)
    out = tmp / f"{device}-ffn-prune.parquet"
    prune = config["ffn"]["prune"] | {"seed": seed, "runs": 1, "network_features": False}
    timed("prune_ffn class_blinded", stages.ffn.prune_ffn, str(model), "class_blinded", prune, str(vision), str(out),
          device=device)
    steps = io.read_table(out)
    last = steps[steps["step"] == steps["step"].max()].iloc[0]
    print(f"    dense {last['acc_dense']:.4f}; at {last['compression']:.0%} compression pruned "
          f"{last['acc_pruned']:.4f} -> re-trained {last['acc_retrained']:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", action="append", help="cuda, cpu, ...; repeat for several (default: cuda)")
    args = parser.parse_args()
    config = yaml.safe_load((Path(__file__).parents[1] / "config.yaml").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        for device in args.device or ["cuda"]:
            run(device, config, Path(tmp))


if __name__ == "__main__":
    main()
