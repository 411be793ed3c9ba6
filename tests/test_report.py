import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sparsepipe.report import paper_table, predictors_figure, structure_rows


def _score(family, regressor, feature_set, r2, target="single", ceiling=np.nan, splits=0, ci=0.06):
    return {"family": family, "target": target, "regressor": regressor, "feature_set": feature_set, "r2_mean": r2,
            "r2_std": 0.02, "r2_low": r2 - 0.03, "r2_high": r2 + 0.02, "r2_ci_low": r2 - ci, "r2_ci_high": r2 + ci,
            "n_models": 200, "n_groups": 200,
            "n_folds": 10, "n_repeats": 3, "noise_ceiling": ceiling, "noise_ceiling_low": ceiling - 0.05,
            "noise_ceiling_high": ceiling + 0.05, "n_splits": splits, "r2_split_p05": r2 - 0.3,
            "r2_split_median": r2, "r2_split_p95": r2 + 0.1, "r2_split_min": r2 - 0.5, "r2_split_max": r2 + 0.15}


def test_the_structure_claim_compares_like_with_like():
    scores = pd.DataFrame([
        _score("rnn_gru", "random_forest", "all", 0.70, ceiling=0.75, splits=200),
        _score("rnn_gru", "random_forest", "all", 0.88, target="replicate_mean", ceiling=0.9),
        _score("rnn_lstm", "random_forest", "all", 0.95),  # a better cell: not the paper's comparison
        _score("rnn_gru", "gradient_boosting", "all", 0.90),  # a better regressor: not the paper's either
        _score("rnn_gru", "random_forest", "nodes_edges", 0.92),
    ])
    rows = structure_rows(scores)
    assert len(rows) == 2
    single, mean = rows
    assert "single-seed" in single["dataset"] and "rnn_gru" in single["dataset"]
    assert "R² 0.70 [0.64, 0.76] (95% bootstrap interval over 200 graphs" in single["sparsepipe"]
    assert "range over repeats [0.67, 0.72]" in single["sparsepipe"]
    assert "single 90/10 splits: median 0.70, 5–95% 0.40 to 0.80 (200 splits)" in single["sparsepipe"]
    assert "noise ceiling 0.75 [0.70, 0.80]" in single["sparsepipe"]
    # the verdict follows the interval over graphs, not the mean, and never the luckiest single split (0.85)
    assert single["verdict"].startswith("contradicted: the 95% interval over 200 graphs, [0.64, 0.76], lies below 0.81")
    assert "noise ceiling's interval, [0.70, 0.80], lies below 0.81" in single["verdict"]
    assert "averaged over replicates" in mean["dataset"]
    assert mean["verdict"] == "shown: the 95% interval over 200 graphs, [0.82, 0.94], lies above 0.81"
    straddles = structure_rows(pd.DataFrame([_score("rnn_gru", "random_forest", "all", 0.84)]))[0]
    assert straddles["verdict"].startswith("not shown: the 95% interval over 200 graphs, [0.78, 0.90], straddles")
    table = paper_table(pd.DataFrame(columns=["method"]), pd.DataFrame(columns=["comparison"]), scores)
    assert len(table) == 2 and table["runs"].tolist() == [200, 200]


def test_without_the_papers_combination_the_row_says_so(tmp_path):
    rows = structure_rows(pd.DataFrame([_score("rnn_lstm", "random_forest", "all", 0.9)]))
    assert rows[0]["verdict"] == "not compared" and "not run" in rows[0]["sparsepipe"]
    no_ceiling = structure_rows(pd.DataFrame([_score("rnn_gru", "random_forest", "all", 0.6)]))[0]
    assert "noise ceiling not estimated (no replicates" in no_ceiling["sparsepipe"]
    assert no_ceiling["verdict"] == "contradicted: the 95% interval over 200 graphs, [0.54, 0.66], lies below 0.81"
    scores = pd.DataFrame([_score("rnn_gru", r, f, 0.5, target=t, ceiling=0.7) for r in ("random_forest", "mean")
                           for f in ("all", "nodes_edges") for t in ("single", "replicate_mean")])
    predictors_figure(scores, str(tmp_path / "p.png"))  # both targets: one panel of single-seed bars, no crash
    assert (tmp_path / "p.png").stat().st_size > 0


def test_the_search_is_reported_by_its_winner_on_test_data_not_by_its_maximum(tmp_path):
    from sparsepipe.report import search_figure, search_rows

    individuals = pd.DataFrame({"trained": [True, True, False, True, True],
                                "measured": [0.70, 0.91, np.nan, 0.85, 0.99]})  # 0.99: one lucky draw
    winner = pd.DataFrame({"task": "ffn_digits", "search_fitness": 0.99, "val_acc": [0.90, 0.92, 0.88],
                           "test_acc": [0.89, 0.91, 0.87]})
    (row,) = search_rows([winner])
    assert row["runs"] == 3 and row["dataset"] == "ffn_digits"
    assert row["sparsepipe"].startswith("test 89.00% ± 2.00 over 3 fresh seeds (validation 90.00% ± 2.00")
    assert "fitness of it 99.00%" in row["sparsepipe"]
    # the gap is fitness minus fresh validation accuracy (same split): +9.00 points, t-interval over 3 fresh seeds
    assert row["verdict"] == ("the search's maximum overstates its winner: +9.00 points on the validation split, 95% "
                              "interval over 3 fresh seeds [+4.03, +13.97]")
    close = winner.assign(search_fitness=0.905)
    assert search_rows([close])[0]["verdict"].startswith("the search's maximum is not distinguishable from its winner")
    assert search_rows([winner.iloc[:1]])[0]["verdict"] == "too few fresh seeds: 1, and an interval needs at least 2"
    table = paper_table(pd.DataFrame(columns=["method"]), pd.DataFrame(columns=["comparison"]),
                        pd.DataFrame([_score("rnn_gru", "random_forest", "all", 0.7)]), [winner])
    assert table["dataset"].tolist()[-1] == "ffn_digits"
    search_figure([individuals], [winner], str(tmp_path / "search.png"))
    search_figure([], [], str(tmp_path / "none.png"))
    assert (tmp_path / "search.png").stat().st_size > (tmp_path / "none.png").stat().st_size > 0


def _comparison(comparison, mean, low, high, n=5):
    return {"dataset": "digits", "arch": "100", "comparison": comparison, "n_dense_nets": n, "pairs": 25 * n,
            "mean_difference": mean, "ci_low": low, "ci_high": high, "t_pvalue": 0.04 if low > 0 else 0.3}


@pytest.mark.parametrize(("dense", "uniform", "expected"), [
    # the mean is at or above dense, but the interval straddles: not "reproduced"
    ((0.0025, -0.0055, 0.0106, 5), (0.0074, 0.0057, 0.0090, 5), ("not shown", "shown")),
    # below dense on average, the interval ends below the paper's +0.5 points
    ((-0.0110, -0.0232, 0.0011, 5), (0.0244, 0.0135, 0.0354, 5), ("contradicted", "shown")),
    ((0.0090, 0.0060, 0.0120, 5), (-0.0030, -0.0050, -0.0010, 5), ("shown", "contradicted")),
    ((0.0090, np.nan, np.nan, 1), (0.0100, np.nan, np.nan, 1), ("too few dense nets", "too few dense nets")),
])
def test_the_paper_tables_pruning_verdicts_read_the_interval(dense, uniform, expected):
    summary = pd.DataFrame([{"dataset": "digits", "arch": "100", "method": "class_blinded", "runs_reaching": 25,
                             "dense_nets": dense[3], "acc_retrained_mean": 0.95, "acc_retrained_std": 0.01,
                             "acc_dense": 0.96}])
    comparisons = pd.DataFrame([_comparison("class_blinded vs dense", *dense),
                                _comparison("class_blinded vs class_uniform", *uniform)])
    table = paper_table(summary, comparisons, pd.DataFrame([_score("rnn_gru", "random_forest", "all", 0.7)]))
    against_dense, against_uniform = table["verdict"].tolist()[:2]
    assert against_dense.startswith(expected[0] + ":") and against_uniform.startswith(expected[1] + ":")
    if dense[3] > 1:
        assert against_dense.endswith("+0.50")  # the paper's claim: 0.5 points above dense


def test_the_reports_opening_names_every_section():
    """workflow/report/workflow.rst introduces the report: it names each category the rules put figures in."""
    repo = Path(__file__).resolve().parents[1]
    rules = "".join(p.read_text() for p in (repo / "workflow" / "rules").glob("*.smk"))
    categories = set(re.findall(r'category="([^"]+)"', rules))
    assert {"0 Paper", "4 Search"} <= categories
    opening = (repo / "workflow" / "report" / "workflow.rst").read_text().replace("\n", " ")
    assert all(f"**{c}**" in opening for c in categories), categories


def test_the_timing_figure_reads_benchmark_files(tmp_path):
    from sparsepipe.report import read_benchmarks, timing_figure

    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    for stage, job, seconds, rss in (("train_rnn", "gru-seed0", 12.5, 300.0), ("train_rnn", "lstm-seed0", 20.0, 310.0),
                                     ("prune_ffn", "digits-100-seed0-obd", 3.0, "-")):
        (tmp_path / "bench" / stage).mkdir(parents=True, exist_ok=True)
        (tmp_path / "bench" / stage / f"{job}.tsv").write_text(
            header + f"{seconds}\t0:00:12\t{rss}\t1\t1\t1\t0\t0\t90\t{seconds}\n")
    table = read_benchmarks(str(tmp_path / "bench"))
    assert len(table) == 3 and table["seconds"].sum() == 35.5
    assert table.set_index("job").loc["gru-seed0", "max_rss_mb"] == 300.0
    assert table.groupby("rule")["seconds"].sum().to_dict() == {"prune_ffn": 3.0, "train_rnn": 32.5}
    assert table["max_rss_mb"].isna().sum() == 1  # Snakemake writes "-" where it could not measure
    timing_figure(table, str(tmp_path / "timing.png"))
    timing_figure(read_benchmarks(str(tmp_path / "none")), str(tmp_path / "empty.png"))
    assert (tmp_path / "timing.png").stat().st_size > (tmp_path / "empty.png").stat().st_size > 0
