import numpy as np
import pandas as pd
import pytest

from sparsepipe.analysis import at_compression, paper_check


def _pruning(method, accs, rate=50.0, run=0, dense=0.9):
    compression = [0.5, 0.75, 0.875][: len(accs)]
    return pd.DataFrame({"dataset": "d", "arch": "100", "model_seed": 0, "method": method, "rate": rate, "run": run,
                         "step": range(1, len(accs) + 1), "compression": compression, "acc_dense": dense,
                         "acc_pruned": accs, "acc_retrained": accs})


def test_accuracy_is_interpolated_at_the_target_compression():
    runs = at_compression(_pruning("m", [0.9, 0.8, 0.6]), 0.8)
    assert runs.loc[0, "acc_retrained"] == pytest.approx(0.8 + (0.6 - 0.8) * (0.05 / 0.125))
    assert bool(runs.loc[0, "reached"])
    short = at_compression(_pruning("m", [0.9]), 0.8)
    assert not bool(short.loc[0, "reached"]) and np.isnan(short.loc[0, "acc_retrained"])


def test_paired_comparison_detects_a_consistent_difference():
    rng = np.random.default_rng(0)
    frames = []
    for run in range(12):
        base = 0.9 + rng.normal(0, 0.01)
        frames.append(_pruning("class_blinded", [base, base, base], run=run))
        frames.append(_pruning("class_uniform", [base - 0.03, base - 0.03 + rng.normal(0, 0.002), base - 0.05],
                               run=run))
    summary, comparisons = paper_check(pd.concat(frames), 0.8)
    assert set(summary["method"]) == {"class_blinded", "class_uniform"}
    assert (summary["runs_reaching"] == 12).all()
    row = comparisons.set_index("comparison").loc["class_blinded vs class_uniform"]
    assert row["pairs"] == 12 and row["mean_difference"] > 0.03 and row["t_pvalue"] < 1e-6
