"""Does re-training regain what light pruning lost? `python bench/retrain_regains.py [--seeds 3]`.

The embedded default's dense nets (config.yaml: digits 64-100-10 with SGD and plateau decay; Reber GRU, LSTM,
RNN-tanh, RNN-ReLU with Adam), several dense nets each (model seeds 0..seeds-1), pruned lightly and re-trained under
each re-training setting; prints the mean test accuracy dense, right after pruning and after re-training, and the
mean change by re-training (re-trained - pruned) with its 95% t-interval over dense nets (the unit of replication:
the runs and percents of one dense net are averaged first).

- Feed-forward: one-shot class-blinded and random pruning to 10, 20, 30% compression, 2 runs each, re-training as
  the default's ``ffn.prune.retrain`` (2 epochs) with ``lr`` (initial fraction or ``final``) and
  ``optimizer_state`` (keep / reset). ``lr 1.0, reset`` is how re-training worked before these settings.
- Recurrent: dense nets trained at a constant learning rate or annealed (``rnn.train.schedule``), then i2h, h2h
  and both pruned by 10, 20, 30%, one re-training epoch (``rnn.prune.retrain.epochs``) with ``retrain.lr``
  (fraction of the training lr), ``retrain.optimizer_state`` and ``retrain.schedule``. Also prints, per setting, in how
  many (net, target, percent) rows re-training lowered the accuracy, and the worst such row.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy import stats

from sparsepipe import io, stages

FFN_SETTINGS = [(1.0, "reset"), (1.0, "keep"), (0.3, "keep"), (0.1, "keep"), ("final", "keep"), ("final", "reset")]
# (dense training's rnn.train.schedule, retrain.lr, retrain.optimizer_state, retrain.schedule)
RNN_SETTINGS = [("constant", 1.0, "reset", "constant"), ("constant", 0.3, "keep", "constant"),
                ("constant", 0.3, "keep", "cosine"), ("cosine", 1.0, "reset", "constant"),
                ("cosine", 0.3, "keep", "constant"), ("cosine", 0.3, "keep", "cosine"),
                ("cosine", 1.0, "keep", "cosine"), ("cosine", 0.1, "keep", "cosine")]


def interval(values: np.ndarray) -> str:
    mean = values.mean()
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0
    return f"{mean:+.4f} [{mean - half:+.4f}, {mean + half:+.4f}]"


def summarize(table: pd.DataFrame, unit: list[str], label: str) -> None:
    per_net = table.groupby(["setting", *unit]).agg(acc_dense=("acc_dense", "mean"), acc_pruned=("acc_pruned", "mean"),
                                                    acc_retrained=("acc_retrained", "mean")).reset_index()
    per_net["gain"] = per_net["acc_retrained"] - per_net["acc_pruned"]
    per_net["vs_dense"] = per_net["acc_retrained"] - per_net["acc_dense"]
    print(f"\n{label}: mean over dense nets (n = {per_net.groupby('setting').size().iloc[0]})")
    for setting, group in per_net.groupby("setting", sort=False):
        print(f"  {setting:<22} dense {group['acc_dense'].mean():.4f} pruned {group['acc_pruned'].mean():.4f} "
              f"re-trained {group['acc_retrained'].mean():.4f}  re-trained - pruned "
              f"{interval(group['gain'].to_numpy())}  re-trained - dense {interval(group['vs_dense'].to_numpy())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="dense nets per architecture")
    parser.add_argument("--skip-ffn", action="store_true")
    parser.add_argument("--skip-rnn", action="store_true")
    parser.add_argument("--out", help="write the recurrent rows (one per net, target, percent, setting) here")
    args = parser.parse_args()
    config = yaml.safe_load((Path(__file__).parents[1] / "config.yaml").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if not args.skip_ffn:
            rows = []
            for seed in range(args.seeds):
                model = tmp / f"ffn{seed}.pt"
                stages.ffn.train_ffn("digits", "100", seed, {"train": config["ffn"]["train"], "seed": config["seed"]},
                                str(tmp), str(model), device="cpu")
                for lr, state in FFN_SETTINGS:
                    settings = config["ffn"]["prune"] | {
                        "schedule": "one_shot", "rates": [10, 20, 30], "runs": 2, "network_features": False,
                        "seed": config["seed"], "retrain": config["ffn"]["prune"]["retrain"] | {
                            "lr": lr, "optimizer_state": state}}
                    for method in ("class_blinded", "random"):
                        out = tmp / f"ffn{seed}-{method}.parquet"
                        stages.ffn.prune_ffn(str(model), method, settings, str(tmp), str(out), device="cpu")
                        rows.append(io.read_table(out).assign(setting=f"lr {lr}, {state}"))
            summarize(pd.concat(rows), ["model_seed"], "digits 64-100-10, one-shot 10/20/30%, class-blinded + random")
        if not args.skip_rnn:
            data = tmp / "reber.parquet"
            stages.rnn.reber({"reber": config["reber"], "seed": config["seed"]}, str(data))
            rows = []
            rnn_prune = config["rnn"]["prune"]
            for cell in config["rnn"]["cells"]:
                for seed in range(args.seeds):
                    for dense_schedule in dict.fromkeys(setting[0] for setting in RNN_SETTINGS):
                        model = tmp / f"{cell}{seed}-{dense_schedule}.pt"
                        train = config["rnn"]["train"] | {"schedule": dense_schedule}
                        stages.rnn.train_rnn(cell, seed, {"hidden": config["rnn"]["hidden"], "train": train,
                                                          "seed": config["seed"]},
                                        str(data), str(model), str(tmp / "t.parquet"), device="cpu")
                        for schedule, lr, state, retrain_schedule in RNN_SETTINGS:
                            if schedule != dense_schedule:
                                continue
                            for target in ("i2h", "h2h", "both"):
                                out = tmp / "prune.parquet"
                                stages.rnn.prune_rnn(str(model), target, {
                                    "percents": [10, 20, 30],
                                    "retrain": {"epochs": rnn_prune["retrain"]["epochs"], "lr": lr,
                                                "optimizer_state": state, "schedule": retrain_schedule},
                                    "seed": config["seed"]}, str(data), str(out), device="cpu")
                                rows.append(io.read_table(out).assign(
                                    setting=f"{schedule}; x{lr} {state} {retrain_schedule}"))
            table = pd.concat(rows)
            if args.out:
                io.write_table(table, args.out)
            summarize(table, ["mode", "model_seed"], "Reber, all cells, i2h/h2h/both at 10/20/30%")
            for cell, group in table.groupby("mode"):
                summarize(group, ["mode", "model_seed"], f"Reber {cell}")
            lowered = (table.assign(gain=table["acc_retrained"] - table["acc_pruned"])
                       .groupby("setting", sort=False)["gain"].agg(rows="size", lowered=lambda g: int((g < 0).sum()),
                                                                   worst="min"))
            print("\nrows (net, target, percent) where re-training lowered test accuracy, per setting:")
            print(lowered.to_string())


if __name__ == "__main__":
    main()
