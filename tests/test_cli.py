import argparse
import json

import pandas as pd
import pytest

from sparsepipe import launch, stages
from sparsepipe.cli import main
from sparsepipe.errors import ConfigError

from conftest import unit_params

BA = {"count": 3, "nodes": [8], "m": [2]}


def _graphs_args(out, generator="barabasi_albert", settings=BA):
    return ["graphs", "--generator", generator, "--params", json.dumps({"generator": settings, "seed": 1}),
            "--out", str(out)]


def test_a_unit_runs_by_hand(tmp_path):
    out = tmp_path / "g.parquet"
    assert main(_graphs_args(out)) == 0
    assert len(pd.read_parquet(out)) == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (lambda tmp: _graphs_args(tmp / "g.parquet", "erdos"), "unknown generator 'erdos'"),
        (lambda tmp: _graphs_args(tmp / "g.parquet", settings=BA | {"m": [9]}), "m=9 must satisfy 1 <= m < nodes=8"),
        (lambda tmp: ["structure-runs", "--shards", str(tmp / "no.parquet"), "--features", str(tmp / "f.parquet"),
                      "--out", str(tmp / "o.parquet")], "no.parquet: file not found"),
        (lambda tmp: ["prune", "--model", str(tmp / "model.pt"), "--method", "class_blinded",
                      "--params", json.dumps(unit_params("prune")),
                      "--root", str(tmp), "--out", str(tmp / "o.parquet")], "model.pt: checkpoint not found"),
    ],
)
def test_bad_input_is_one_line_naming_what_is_wrong(tmp_path, capsys, args, message):
    assert main(args(tmp_path)) == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1
    assert not list(tmp_path.glob("*.parquet"))


def test_submitit_local_executor_gives_the_same_table_as_in_process(tmp_path):
    settings = {"generator": BA, "seed": 4}
    launch.run(stages.graphs.graphs, where={"executor": "local"}, generator="barabasi_albert", settings=settings,
               out=str(tmp_path / "local.parquet"))
    launch.run(stages.graphs.graphs, where={"executor": "submitit_local"}, folder=tmp_path / "jobs",
               generator="barabasi_albert", settings=settings, out=str(tmp_path / "submitit.parquet"))
    assert pd.read_parquet(tmp_path / "local.parquet").equals(pd.read_parquet(tmp_path / "submitit.parquet"))
    stages.graphs.graphs("barabasi_albert", settings | {"seed": 5}, str(tmp_path / "other.parquet"))
    assert not pd.read_parquet(tmp_path / "local.parquet").equals(pd.read_parquet(tmp_path / "other.parquet"))
    assert list((tmp_path / "jobs").glob("*/*_log.out"))


def test_unknown_executor():
    with pytest.raises(ConfigError, match="unknown executor 'slurmm'"):
        launch.run(print, where={"executor": "slurmm"})


def test_slurm_jobs_in_flight_are_bounded_by_max_jobs(tmp_path):
    import threading
    import time

    where = {"executor": "slurm", "max_jobs": 2, "slots": str(tmp_path / "slots")}
    inside, most = [0], [0]
    lock = threading.Lock()

    def job():
        with launch._slot(where):
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.3)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=job) for _ in range(5)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == 2  # never more than max_jobs at once, and the slots are used
    assert time.perf_counter() - start > 0.9  # 5 jobs through 2 slots take at least 3 rounds of 0.3 s


def test_a_rules_resources_become_its_slurm_jobs_request():
    """resources: (mem_mb, runtime, gpu) of a rule, passed by the rule to its subcommand, size its SLURM job over
    launch.slurm's defaults; a GPU count of 0 leaves the default."""
    where = {"executor": "slurm", "slurm": {"mem_gb": 4, "time_min": 60, "gpus": 1, "partition": "debug"}}
    sized = launch.with_resources(where, mem_mb=3072, runtime_min=90, gpus=0)
    assert sized["slurm"] == {"mem_gb": 3.0, "time_min": 90, "gpus": 1, "partition": "debug"}
    assert where["slurm"]["mem_gb"] == 4  # the launch block itself is left as it was
    assert launch.with_resources({"executor": "local"}) == {"executor": "local"}
    assert launch.with_resources(where, gpus=2)["slurm"]["gpus"] == 2


def test_each_subcommand_is_mapped_to_the_stage_that_registers_it():
    registered = {}
    for name in stages.STAGES:
        def add(command, *args, stage=name, **options):
            registered[command] = stage
            return argparse.ArgumentParser()

        stages.load(name).register(add)
    assert registered == stages.COMMANDS


def _modules_after_parsing(argv):
    """The modules a fresh process holds after building the parser for ``argv`` (None: every stage's)."""
    import subprocess
    import sys

    code = f"import sys; from sparsepipe.cli import build_parser; build_parser({argv!r}); print(' '.join(sys.modules))"
    return set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())


@pytest.mark.parametrize(("command", "absent"), [
    ("train-structured", ["sparsepipe.stages.ffn", "sparsepipe.stages.predict", "scipy.stats", "sklearn"]),
    ("train-ffn", ["sparsepipe.stages.structure", "scipy.stats", "sklearn"]),
    ("graphs", ["torch", "sparsepipe.stages.rnn"]),
    ("predict", ["torch", "networkx"]),
    ("collect", ["torch", "sparsepipe.stages.graphs"]),
    ("report", ["torch"]),
])
def test_a_job_imports_only_what_its_subcommand_needs(command, absent):
    """Every Snakemake job is a fresh process: importing all stages cost ~2.4 s of each of the default run's 68."""
    loaded = _modules_after_parsing([command])
    assert command == "collect" or f"sparsepipe.stages.{stages.COMMANDS[command]}" in loaded
    assert not loaded & set(absent)


def test_the_top_level_help_still_lists_every_stage():
    loaded = _modules_after_parsing(None)
    assert {f"sparsepipe.stages.{name}" for name in stages.STAGES} <= loaded
