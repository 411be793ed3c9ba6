"""The Snakemake chain end to end on the tiny config, and precise incremental reruns."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import REPO, tiny_config

pytestmark = pytest.mark.slow

CONTRACT = {
    "graphs/features.parquet": [
        "graph_id", "generator", "seed", "nodes", "edges", "layers", "source_nodes", "sink_nodes", "density",
        "diameter", "average_shortest_path_length", "eccentricity_mean", "eccentricity_var", "eccentricity_std",
        "degree_mean", "degree_var", "degree_std", "closeness_mean", "betweenness_mean", "edge_betweenness_mean",
        "clustering_mean"],
    "ffn/pruning.parquet": [
        "dataset", "arch", "model_seed", "method", "strategy", "rate", "run", "step", "weights_remaining",
        "compression", "acc_pruned", "acc_retrained", "retrain_epochs", "seconds"],
    "structure/runs.parquet": ["graph_id", "generator", "family", "test_acc", "test_loss", "seconds", "edges",
                               "diameter"],
    "predict/scores.parquet": ["family", "regressor", "feature_set", "r2_mean", "r2_std", "spearman_mean",
                               "kendall_mean", "mae_mean", "n_models", "n_folds"],
    "rnn/dense.parquet": ["mode", "model_seed", "test_acc"],
    "predict/noise_ceiling.parquet": ["family", "target", "n_graphs", "noise_ceiling", "note"],
}


def snakemake(workdir: Path, *args: str) -> str:
    result = subprocess.run(
        ["snakemake", "--cores", "2", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir), *args],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def scheduled(workdir: Path) -> set[str]:
    """Rules a dry run would execute, read from Snakemake's job-stats table."""
    output = snakemake(workdir, "-n")
    if "Nothing to be done" in output:
        return set()
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["job", "count"]) + 2
    rules = set()
    for line in lines[start:]:
        name = line.split()[0]
        if name == "total":
            break
        rules.add(name)
    return rules - {"all"}


def write_config(workdir: Path, config: dict) -> None:
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("chain")
    write_config(path, tiny_config())
    snakemake(path)
    return path


def test_the_chain_writes_the_contract_tables(workdir):
    for name, columns in CONTRACT.items():
        table = pd.read_parquet(workdir / "results" / name)
        assert len(table) > 0, name
        assert set(columns) <= set(table.columns), (name, set(columns) - set(table.columns))
    pruning = pd.read_parquet(workdir / "results/ffn/pruning.parquet")
    assert set(pruning["method"]) == {"class_blinded", "class_uniform"}
    assert pruning["acc_pruned"].between(0, 1).all() and pruning["acc_retrained"].between(0, 1).all()
    assert (pruning.groupby(["method", "rate", "run"])["compression"].diff().dropna() > 0).all()
    runs = pd.read_parquet(workdir / "results/structure/runs.parquet")
    assert len(runs) == 20 and set(runs["family"]) == {"rnn_gru", "ffn_digits"}
    assert runs["edges"].notna().all()
    scores = pd.read_parquet(workdir / "results/predict/scores.parquet")
    assert set(scores["regressor"]) == {"random_forest", "bayesian_ridge", "mean"}
    assert set(scores["family"]) == {"rnn_gru", "ffn_digits", "pruned_ffn_digits"}
    assert {"r2_low", "r2_high", "n_groups", "noise_ceiling", "target"} <= set(scores.columns)
    pruned = scores[scores["family"] == "pruned_ffn_digits"]
    assert (pruned["n_groups"] == 4).all()  # one dense net: 2 methods x 2 rates, every run and step of each in one
    assert (pruned["groups"] == "(dense net, method, rate) groups").all()
    rnn = pd.read_parquet(workdir / "results/rnn/pruning.parquet")
    assert set(rnn["target"]) == {"i2h", "both"} and rnn["acc_retrained"].notna().all()
    assert rnn[rnn["percent"] == 100]["emptied_layers"].str.len().gt(0).all()
    search = pd.read_parquet(workdir / "results/nas/ffn_digits/individuals.parquet")
    assert search["trained"].sum() == 4 + 3 and (workdir / "results/nas/ffn_digits/best.graphml").stat().st_size
    winner = pd.read_parquet(workdir / "results/nas/ffn_digits/winner.parquet")
    assert len(winner) == 2 and winner["winner_seed"].is_unique and winner["test_acc"].between(0, 1).all()
    assert (winner["genome"] == search.loc[search["measured"].idxmax(), "genome"]).all()
    assert not list((workdir / "results").rglob("*.tmp")) and not list((workdir / "results").rglob("*.partial"))


def test_the_run_ends_with_the_report_and_every_figure_it_promises(workdir):
    report = (workdir / "results/report.html").read_text()
    figures = sorted((workdir / "results/figures").glob("*.png"))
    assert [f.name for f in figures] == ["importance.png", "predicted.png", "predictors.png", "pruning.png",
                                         "rnn_pruning.png", "search.png", "structure.png", "timing.png"]
    # every training rule leaves its benchmark file (wall time, peak memory), which the timing figure reads
    benchmarks = {p.parent.name for p in (workdir / "results/benchmarks").glob("*/*.tsv")}
    assert benchmarks == {"train_rnn", "prune_rnn", "train_structured", "train_structured_ffn", "train_ffn",
                          "prune_ffn", "fit_predictors", "nas", "nas_winner"}
    for figure in figures:
        assert figure.name in report
        data = figure.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        assert width > 300 and height > 150
    assert "paper_vs_sparsepipe.html" in report
    table = pd.read_parquet(workdir / "results/paper_vs_sparsepipe.parquet")
    assert len(table) == 4 and table["verdict"].str.len().gt(0).all()
    search = table[table["dataset"] == "ffn_digits"].iloc[0]  # the search's winner, on test data
    winner = pd.read_parquet(workdir / "results/nas/ffn_digits/winner.parquet")
    assert search["runs"] == 2 and f"test {100 * winner['test_acc'].mean():.2f}%" in search["sparsepipe"]


def test_nothing_is_rerun_without_a_change(workdir):
    assert scheduled(workdir) == set()


def test_changing_pruning_rates_reruns_pruning_and_what_follows_only(workdir):
    config = tiny_config()
    config["ffn"]["prune"]["rates"] = [50, 30]
    write_config(workdir, config)
    try:
        assert scheduled(workdir) == {"prune_ffn", "pruning_table", "pruning_summary", "pruned_runs", "fit_predictors",
                                      "predict_table", "report"}
    finally:
        write_config(workdir, tiny_config())


def test_changing_graph_sizes_reruns_graphs_and_everything_built_on_them(workdir):
    config = tiny_config()
    config["graphs"]["watts_strogatz"]["nodes"] = [9, 11]
    write_config(workdir, config)
    try:
        rules = scheduled(workdir)
    finally:
        write_config(workdir, tiny_config())
    assert {"graphs", "graph_features", "train_structured", "train_structured_ffn", "structure_runs",
            "fit_predictors", "predict_table", "report"} <= rules
    assert not rules & {"train_ffn", "prune_ffn", "train_rnn", "prune_rnn", "reber_data", "pruning_table", "nas"}


def test_a_unit_rerun_alone_gives_the_same_numbers(workdir):
    before = pd.read_parquet(workdir / "results/ffn/pruning.parquet")
    structured = pd.read_parquet(workdir / "results/structure/runs.parquet")
    snakemake(workdir, "--forcerun", "prune_ffn", "train_structured")
    after = pd.read_parquet(workdir / "results/ffn/pruning.parquet")
    pd.testing.assert_frame_equal(before.drop(columns="seconds"), after.drop(columns="seconds"))
    again = pd.read_parquet(workdir / "results/structure/runs.parquet")
    pd.testing.assert_series_equal(structured["test_acc"], again["test_acc"])


def test_reused_run_tables_rerun_the_shards_which_take_every_model_from_them(workdir):
    """structure.reuse through Snakemake: the tables are the shards' inputs (named, edited: the shards rerun) and
    every model of an unchanged study comes from them, with the same numbers."""
    before = pd.read_parquet(workdir / "results/structure/runs.parquet")
    archive = workdir / "archive"
    for shard in (workdir / "results/structure/shards").rglob("*.parquet"):
        (archive / shard.parent.name).mkdir(parents=True, exist_ok=True)
        (archive / shard.parent.name / shard.name).write_bytes(shard.read_bytes())
    config = tiny_config()
    config["structure"]["reuse"] = ["archive"]
    write_config(workdir, config)
    try:
        assert {"train_structured", "train_structured_ffn", "structure_runs"} <= scheduled(workdir)
        snakemake(workdir)
        after = pd.read_parquet(workdir / "results/structure/runs.parquet")
        assert after["reused"].all()
        pd.testing.assert_series_equal(before["test_acc"], after["test_acc"])
        assert scheduled(workdir) == set()
        log = (workdir / "results/logs/structure/gru-barabasi_albert-0.log").read_text()
        assert "5 of 5 models taken from structure.reuse" in log
    finally:
        write_config(workdir, tiny_config())


def test_sequence_files_drive_the_recurrent_stages_and_an_edited_file_reruns_only_its_dependents(workdir):
    """Last in this module: it leaves the chain on the files (reber.files) rather than on generated strings."""
    from sparsepipe.data.reber import generate_reber

    strings = generate_reber(160, 80, 16, seed=7)
    for split in ("train", "test"):
        part = strings[strings["split"] == split]
        pd.DataFrame({"string": part["string"], "valid": part["label"]}).to_csv(workdir / f"{split}.csv", index=False)
    config = tiny_config()
    config["reber"]["files"] = {"train": "train.csv", "test": "test.csv"}
    write_config(workdir, config)
    snakemake(workdir)
    staged = pd.read_parquet(workdir / "results/data/reber.parquet")
    assert set(staged["kind"]) == {"file"} and sorted(staged["string"]) == sorted(strings["string"])
    assert scheduled(workdir) == set()
    test = pd.read_csv(workdir / "test.csv", keep_default_na=False)
    test.loc[0, "valid"] = 1 - test.loc[0, "valid"]
    test.to_csv(workdir / "test.csv", index=False)
    dependents = {"reber_data", "train_rnn", "rnn_table", "prune_rnn", "rnn_pruning_table", "train_structured",
                  "structure_runs", "fit_predictors", "predict_table", "report"}
    assert scheduled(workdir) == dependents
    snakemake(workdir)
    assert pd.read_parquet(workdir / "results/data/reber.parquet")["label"].sum() != staged["label"].sum()
    (workdir / "test.csv").write_text("string,valid\nBTXSE,1\nBTQSE,0\n")
    result = subprocess.run(["snakemake", "--cores", "1", "--snakefile", str(REPO / "Snakefile"), "--directory",
                             str(workdir)], capture_output=True, text=True, check=False)
    log = (workdir / "results/logs/data/reber.log").read_text().strip().splitlines()
    assert result.returncode != 0 and "test.csv: row 2: symbol(s) 'Q' never occur in the training file" in log[-1]
