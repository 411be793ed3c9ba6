import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ttest_rel

from sparsepipe.analysis import (
    PAPER_CLAIMS,
    Claim,
    at_compression,
    comparison_verdict,
    paired_difference,
    paper_check,
    verdict,
    verdict_text,
)


def _pruning(method, accs, rate=50.0, run=0, dense=0.9, model_seed=0):
    compression = [0.5, 0.75, 0.875][: len(accs)]
    return pd.DataFrame({"dataset": "d", "arch": "100", "model_seed": model_seed, "method": method, "rate": rate,
                         "run": run,
                         "step": range(1, len(accs) + 1), "compression": compression, "acc_dense": dense,
                         "acc_pruned": accs, "acc_retrained": accs})


def test_accuracy_is_interpolated_at_the_target_compression():
    runs = at_compression(_pruning("m", [0.9, 0.8, 0.6]), 0.8)
    assert runs.loc[0, "acc_retrained"] == pytest.approx(0.8 + (0.6 - 0.8) * (0.05 / 0.125))
    assert bool(runs.loc[0, "reached"])
    short = at_compression(_pruning("m", [0.9]), 0.8)
    assert not bool(short.loc[0, "reached"]) and np.isnan(short.loc[0, "acc_retrained"])


def _study(nets, runs, effect, net_spread, seed=0):
    """``nets`` dense nets x ``runs`` runs; class-uniform is ``effect`` below class-blinded on average, and each
    dense net shifts that difference by its own N(0, ``net_spread``) (runs of one net share it)."""
    rng = np.random.default_rng(seed)
    frames = []
    for net in range(nets):
        shift = rng.normal(0, net_spread)
        for run in range(runs):
            base = 0.9 + rng.normal(0, 0.01)
            frames.append(_pruning("class_blinded", [base] * 3, run=run, model_seed=net))
            uniform = base - effect - shift + rng.normal(0, 0.002)
            frames.append(_pruning("class_uniform", [uniform] * 3, run=run, model_seed=net))
    return pd.concat(frames)


def test_paired_comparison_detects_a_consistent_difference_over_dense_nets():
    summary, comparisons = paper_check(_study(nets=6, runs=4, effect=0.03, net_spread=0.002), 0.8)
    assert set(summary["method"]) == {"class_blinded", "class_uniform"}
    assert (summary["runs_reaching"] == 24).all() and (summary["dense_nets"] == 6).all()
    row = comparisons.set_index("comparison").loc["class_blinded vs class_uniform"]
    assert row["n_dense_nets"] == 6 and row["pairs"] == 24 and row["unit"] == "dense net"
    assert row["mean_difference"] > 0.025 and row["t_pvalue"] < 1e-4
    assert row["ci_low"] < row["mean_difference"] < row["ci_high"] and row["ci_low"] > 0


def test_runs_of_one_dense_net_are_not_independent_replicates():
    # 12 runs of one dense net: a run-level t-test would call 0.03 significant at p < 1e-10; over dense nets
    # there is one observation, hence no interval and no test
    _, comparisons = paper_check(_study(nets=1, runs=12, effect=0.03, net_spread=0.0), 0.8)
    row = comparisons.set_index("comparison").loc["class_blinded vs class_uniform"]
    assert row["n_dense_nets"] == 1 and row["pairs"] == 12
    assert np.isnan(row["t_pvalue"]) and np.isnan(row["ci_low"])


def test_the_interval_is_as_wide_as_the_dense_nets_disagree():
    # many runs per net, but dense nets that disagree about the sign: the interval must straddle 0
    study = _study(nets=5, runs=20, effect=0.0, net_spread=0.02, seed=0)
    _, comparisons = paper_check(study, 0.8)
    row = comparisons.set_index("comparison").loc["class_blinded vs class_uniform"]
    assert row["ci_low"] < 0 < row["ci_high"] and row["t_pvalue"] > 0.05
    assert row["ci_high"] - row["ci_low"] > 0.01
    # the same 100 runs taken as independent pairs would have called it significant
    runs = at_compression(study, 0.8).pivot_table(index=["model_seed", "run"], columns="method",
                                                   values="acc_retrained")
    assert ttest_rel(runs["class_blinded"], runs["class_uniform"]).pvalue < 0.01


# --- verdicts: the interval against the claim, never the mean alone ---------------------------------------------

@pytest.mark.parametrize(("low", "high", "n", "claim", "expected"), [
    (0.0057, 0.0090, 5, Claim(), "shown"),  # Fashion-MNIST, class-blinded − class-uniform
    (-0.0055, 0.0106, 5, Claim(), "not shown"),  # mean +0.25 ≥ 0, but the interval straddles 0
    (-0.0232, 0.0011, 5, Claim(), "not shown"),  # digits, class-blinded − dense: straddles 0 too
    (-0.030, -0.010, 5, Claim(), "contradicted"),
    (0.01, 0.02, 1, Claim(), "too few dense nets"),  # one dense net: whatever the numbers say
    (np.nan, np.nan, 1, Claim(), "too few dense nets"),
    (np.nan, np.nan, 3, Claim(), "not shown"),
    # the paper's claim: class-blinded ends 0.5 points above dense
    (0.0060, 0.0100, 5, Claim(margin=0.005), "shown"),
    (0.0030, 0.0100, 5, Claim(margin=0.005), "not shown"),  # above dense, not shown 0.5 points above it
    (-0.0055, 0.0106, 5, Claim(margin=0.005), "not shown"),
    (-0.0232, 0.0011, 5, Claim(margin=0.005), "contradicted"),  # digits: the interval ends below +0.5 points
    (0.0050, 0.0100, 5, Claim(margin=0.005), "not shown"),  # touching the margin is not beyond it
    # a claim that a difference is negative
    (-0.02, -0.01, 4, Claim(side="below"), "shown"),
    (0.01, 0.02, 4, Claim(side="below"), "contradicted"),
    (-0.01, 0.02, 4, Claim(side="below"), "not shown"),
])
def test_a_verdict_reads_the_interval_against_the_claim(low, high, n, claim, expected):
    assert verdict(low, high, n, claim) == expected
    assert verdict_text(low, high, n, claim).startswith(expected + ":")


def test_the_verdict_text_states_the_interval_the_units_and_the_margin():
    assert verdict_text(-0.0232, 0.0011, 5, PAPER_CLAIMS["class_blinded vs dense"]) == (
        "contradicted: the 95% interval over 5 dense nets, [-2.32, +0.11] points, lies below +0.50")
    assert verdict_text(-0.0055, 0.0106, 5) == (
        "not shown: the 95% interval over 5 dense nets, [-0.55, +1.06] points, straddles +0.00")
    assert verdict_text(0.03, 0.17, 8, unit="searches").startswith("shown: the 95% interval over 8 searches")
    assert verdict(0.1, 0.2, 1, unit="searches") == "too few searches"
    with pytest.raises(ValueError, match="Claim.side"):
        Claim(side="over")


def test_comparisons_are_worded_against_the_papers_claims():
    consistent = paper_check(_study(nets=6, runs=4, effect=0.03, net_spread=0.002), 0.8)[1]
    rows = consistent.set_index("comparison")
    assert comparison_verdict(rows.loc["class_blinded vs class_uniform"]).startswith("shown: ")
    # against dense the paper's claim is a margin: class-blinded more than 0.5 points above it
    assert comparison_verdict(rows.loc["class_blinded vs dense"]).endswith(" +0.50")
    assert comparison_verdict(consistent.iloc[0], Claim()).endswith(" +0.00")
    one_net = paper_check(_study(nets=1, runs=12, effect=0.03, net_spread=0.0), 0.8)[1].set_index("comparison")
    assert comparison_verdict(one_net.loc["class_blinded vs class_uniform"]).startswith("too few dense nets")
    disagree = paper_check(_study(nets=5, runs=20, effect=0.0, net_spread=0.02), 0.8)[1].set_index("comparison")
    assert comparison_verdict(disagree.loc["class_blinded vs class_uniform"]).startswith("not shown: ")


def test_a_paired_difference_is_tested_and_bounded_over_its_units():
    a, b = [0.71, 0.69, 0.72, 0.70, 0.73], [0.60, 0.62, 0.58, 0.63, 0.57]
    paired = paired_difference(a, b)
    assert paired["n"] == 5 and paired["mean_difference"] == pytest.approx(np.mean(a) - np.mean(b))
    assert paired["t_pvalue"] == pytest.approx(ttest_rel(a, b).pvalue)
    assert paired["ci_low"] < paired["mean_difference"] < paired["ci_high"]
    assert paired["ci_low"] > 0 and verdict(paired["ci_low"], paired["ci_high"], 5) == "shown"
    assert np.isnan(paired_difference([0.7], [0.6])["ci_low"])


def test_the_readmes_pruning_verdicts_are_the_analysis_verdicts():
    """Each verdict word in the README's pruning table is what sparsepipe.analysis.verdict says of that row's
    interval (claim > 0 against class-uniform, > +0.5 points against dense)."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    rows = [line for line in readme.splitlines() if line.startswith("| ") and "compression" not in line
            and re.search(r"\| \d+ \| [\d.]+%( \[[\d., ]+\])? \|", line)]
    assert len(rows) == 2, rows
    number = r"([+−-][\d.]+)"
    for row in rows:
        cells = [c.strip().replace("*", "") for c in row.strip("|").split("|")]
        n = int(cells[1])
        for cell, claim in ((cells[5], Claim()), (cells[6], PAPER_CLAIMS["class_blinded vs dense"])):
            low, high, word = re.search(rf"\[{number}, {number}\].*: ([a-z ]+)$", cell).groups()
            low, high = (float(v.replace("−", "-")) / 100 for v in (low, high))
            assert verdict(low, high, n, claim) == word, (cells[0], cell)
