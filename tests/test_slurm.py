"""The SLURM path against a real single-node cluster on localhost (tests/slurm/start-slurm.sh), never a mock.

Skipped with a reason where the SLURM binaries are missing, unless SPARSEPIPE_REQUIRE_SLURM=1 (as in .ci/run):
then they fail. The cluster is started by the fixture if it is not running, and stopped again at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from submitit.slurm.slurm import SlurmJobEnvironment

from sparsepipe import io, launch, stages
from sparsepipe.data.reber import generate_reber
from sparsepipe.graphs import generate_graphs

from conftest import REPO, tiny_config, unit_params

pytestmark = [pytest.mark.slow, pytest.mark.slurm]

SLURM = {"time_min": 10, "cpus": 1, "mem_gb": 2, "gpus": 1, "array_parallelism": 4}


def _slurm_up() -> bool:
    result = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, check=False)
    return "UP" in result.stdout


@pytest.fixture(scope="session")
def slurm_cluster():
    missing = [b for b in ("sbatch", "scontrol", "sacct", "slurmctld", "slurmd") if shutil.which(b) is None]
    if missing:
        message = (f"SLURM binaries missing: {missing} (apt-get install slurm-wlm munge slurmdbd mariadb-server; "
                   f"tests/slurm/start-slurm.sh starts a local cluster)")
        if os.environ.get("SPARSEPIPE_REQUIRE_SLURM") == "1":
            pytest.fail(message + " and SPARSEPIPE_REQUIRE_SLURM=1")
        pytest.skip(message)
    started = False
    if not _slurm_up():
        subprocess.run(["bash", str(REPO / "tests/slurm/start-slurm.sh")], check=True, capture_output=True)
        started = True
    yield
    if started:
        subprocess.run(["bash", str(REPO / "tests/slurm/stop-slurm.sh")], check=False, capture_output=True)


def _where(tmp_path: Path, **slurm) -> dict:
    return {"executor": "slurm", "max_jobs": 2, "slots": str(tmp_path / "slots"), "slurm": SLURM | slurm}


@pytest.fixture
def reber_data(tmp_path) -> str:
    path = tmp_path / "reber.parquet"
    io.write_table(generate_reber(160, 80, 14, seed=0), path)
    return str(path)


RNN = {"hidden": [8], "train": {"embedding": 4, "epochs": 2, "batch_size": 32, "lr": 0.02}, "seed": 0}


def test_a_training_unit_with_a_gpu_request_gives_the_local_table(slurm_cluster, tmp_path, reber_data):
    outputs = {}
    for kind, where in (("local", {"executor": "local"}), ("slurm", _where(tmp_path))):
        folder = tmp_path / kind
        launch.run(stages.rnn.train_rnn, where=where, folder=folder / "jobs", name="train-rnn", cell="gru",
                   model_seed=0, settings=RNN, data=reber_data, out_model=str(folder / "m.pt"),
                   out_table=str(folder / "m.parquet"))
        outputs[kind] = folder
    local, slurm = (pd.read_parquet(outputs[k] / "m.parquet").drop(columns="seconds") for k in ("local", "slurm"))
    pd.testing.assert_frame_equal(local, slurm)
    weights = [io.load_checkpoint(outputs[k] / "m.pt")["state_dict"] for k in ("local", "slurm")]
    for name, tensor in weights[0].items():
        torch.testing.assert_close(weights[1][name], tensor, rtol=0, atol=0)
    sbatch = next((tmp_path / "slurm/jobs").glob("*/*_submission.sh")).read_text()
    assert "--gpus-per-node=1" in sbatch


def test_structured_shards_go_out_as_one_job_array(slurm_cluster, tmp_path, reber_data):
    graphs = tmp_path / "graphs.parquet"
    io.write_table(generate_graphs("barabasi_albert", {"count": 6, "nodes": [8], "m": [2]}, 0), graphs)
    settings = {"train": RNN["train"], "shards": 3, "seed": 0}
    calls = [{"cell": "gru", "generator": "barabasi_albert", "shard": shard, "settings": settings,
              "graphs_table": str(graphs), "data": reber_data, "out": str(tmp_path / f"shard{shard}.parquet")}
             for shard in range(3)]
    launch.run_array(stages.structure.train_structured, calls, where=_where(tmp_path), folder=tmp_path / "jobs",
                     name="shards")
    runs = pd.concat(pd.read_parquet(tmp_path / f"shard{s}.parquet") for s in range(3))
    assert sorted(runs["graph_id"]) == [f"barabasi_albert-{i:04d}" for i in range(6)]
    tasks = sorted(p.name for p in (tmp_path / "jobs").iterdir() if p.is_dir() and "_" in p.name)
    assert len(tasks) == 3 and len({t.split("_")[0] for t in tasks}) == 1  # 12_0, 12_1, 12_2: one array


def test_a_failing_job_fails_the_command_with_the_remote_traceback(slurm_cluster, tmp_path):
    out = tmp_path / "pruning.parquet"
    result = subprocess.run(
        ["sparsepipe", "--launch", json.dumps(_where(tmp_path)), "prune", "--model", str(tmp_path / "none.pt"),
         "--method", "class_blinded", "--params", json.dumps(unit_params("prune")), "--root", str(tmp_path),
         "--out", str(out)],
        capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "FailedJobError" in result.stderr
    assert "none.pt: checkpoint not found" in result.stderr and "Traceback" in result.stderr
    assert not out.exists()


# A cancelled job runs on for SLURM's KillWait (5 s in tests/slurm/start-slurm.sh: submitit bypasses the SIGTERM),
# so the rest of training must outlast it: epochs of 0.3-1 s (this width), 30 of them
FFN = {"train": {"optimizer": "sgd", "epochs": 30, "batch_size": 16, "lr": 0.02, "momentum": 0.9,
                 "validation_fraction": 0.1, "plateau_patience": 0}, "seed": 0}
SLOW_ARCH = "1500-1500"


def _train_ffn_call(out: Path) -> dict:
    return {"dataset": "digits", "arch": SLOW_ARCH, "model_seed": 0, "settings": FFN, "root": str(out.parent),
            "out": str(out)}


def _wait_for(path: Path, seconds: float = 120, containing: str = "") -> None:
    """Until ``path`` exists (and holds ``containing``; read as bytes: a log being written may end mid-character)."""
    deadline = time.time() + seconds
    while not path.exists() or containing.encode() not in path.read_bytes():
        assert time.time() < deadline, f"{path} never appeared" + (f" with {containing!r}" if containing else "")
        time.sleep(0.1)


def _preempt(job) -> None:
    """What SLURM sends on preemption: SIGTERM, then (seconds later, after GraceTime) SIGUSR2, on which submitit
    checkpoints and runs ``scontrol requeue``. submitit's own ``job._interrupt()`` sends the two back to back, and
    SLURM may deliver them in either order: a SIGTERM arriving after SIGUSR2 killed the ``scontrol requeue`` child
    (seen twice in one CI run, on a loaded machine). Waiting until the job has logged the first keeps SLURM's order;
    a fixed pause instead (2 s) let a fast job finish before the second arrived (seen in CI once the kernels got
    faster), so the job was never requeued."""
    subprocess.run(["scancel", job.job_id, "--signal", "SIGTERM"], check=True)
    _wait_for(Path(job.paths.stderr), 60, containing="Bypassing signal SIGTERM")
    subprocess.run(["scancel", job.job_id, "--signal", SlurmJobEnvironment.USR_SIG], check=True)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("uninterrupted") / "model.pt"
    stages.ffn.train_ffn(**_train_ffn_call(out))
    return io.load_checkpoint(out)["state_dict"]


def _assert_same_model(path: Path, reference: dict) -> None:
    state = io.load_checkpoint(path)["state_dict"]
    for name, tensor in reference.items():
        torch.testing.assert_close(state[name], tensor, rtol=0, atol=0)


def test_a_cancelled_job_rerun_resumes_from_its_checkpoint(slurm_cluster, tmp_path, uninterrupted):
    out = tmp_path / "model.pt"
    where = _where(tmp_path)
    job = launch._executor(where, tmp_path / "jobs", "train").submit(launch.Resumable(stages.ffn.train_ffn),
                                                                     **_train_ffn_call(out))
    _wait_for(Path(f"{out}.partial"))
    subprocess.run(["scancel", job.job_id], check=True)
    while job.state not in ("CANCELLED", "FAILED", "COMPLETED") and not job.state.startswith("CANCELLED"):
        time.sleep(1)
    assert not out.exists() and Path(f"{out}.partial").exists()
    launch.run(stages.ffn.train_ffn, where=where, folder=tmp_path / "jobs", name="train", **_train_ffn_call(out))
    logs = "".join(p.read_text() for p in (tmp_path / "jobs").glob("*/*_log.err"))
    assert "resumed from" in logs
    _assert_same_model(out, uninterrupted)


def test_a_preempted_job_requeues_and_resumes(slurm_cluster, tmp_path, uninterrupted):
    out = tmp_path / "model.pt"
    job = launch._executor(_where(tmp_path), tmp_path / "jobs", "train").submit(launch.Resumable(stages.ffn.train_ffn),
                                                                               **_train_ffn_call(out))
    _wait_for(Path(f"{out}.partial"))
    _preempt(job)
    job.result()
    assert "resumed from" in Path(job.paths.stderr).read_text()
    _assert_same_model(out, uninterrupted)


def test_the_default_chain_runs_with_the_slurm_executor(slurm_cluster, tmp_path):
    config = tiny_config()
    config["launch"] = {"executor": "slurm", "max_jobs": 2, "slurm": SLURM}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = subprocess.run(["snakemake", "--cores", "2", "--snakefile", str(REPO / "Snakefile"), "--directory",
                             str(tmp_path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    for table in ("ffn/pruning.parquet", "rnn/pruning.parquet", "structure/runs.parquet", "predict/scores.parquet"):
        assert len(pd.read_parquet(tmp_path / "results" / table)) > 0
    assert list((tmp_path / "results/ffn/models/digits/16/.submitit").glob("*/*_log.out"))


def test_a_preempted_population_requeues_resumes_and_ends_with_the_same_table(slurm_cluster, tmp_path):
    """A structure shard trains its graphs as one population, checkpointing every epoch; preempted mid-training,
    the requeued job resumes that population and writes the table an uninterrupted run writes."""
    data = tmp_path / "reber.parquet"
    io.write_table(generate_reber(1200, 80, 14, seed=0), data)
    graphs = tmp_path / "graphs.parquet"
    io.write_table(generate_graphs("barabasi_albert", {"count": 4, "nodes": [24], "m": [2]}, 0), graphs)
    # 60 epochs (~5 s here): the job must outlast checkpoint detection and both signals
    settings = {"train": {"embedding": 4, "epochs": 60, "batch_size": 32, "lr": 0.02}, "shards": 1, "seed": 0,
                "replicates": 1, "populations": {"size": "auto", "memory_gb": 1}}

    def call(out: Path) -> dict:
        return {"cell": "gru", "generator": "barabasi_albert", "shard": 0, "settings": settings,
                "graphs_table": str(graphs), "data": str(data), "out": str(out)}

    stages.structure.train_structured(**call(tmp_path / "uninterrupted.parquet"))
    out = tmp_path / "shard.parquet"
    job = launch._executor(_where(tmp_path), tmp_path / "jobs", "shard").submit(launch.Resumable(
        stages.structure.train_structured), **call(out))
    deadline = time.time() + 120
    while not list(tmp_path.glob("shard.parquet.population.*.partial")):
        assert time.time() < deadline, "the population never checkpointed"
        time.sleep(0.5)
    _preempt(job)  # submitit checkpoints and requeues the same call
    job.result()
    assert "resumed from" in Path(job.paths.stderr).read_text()
    assert not list(tmp_path.glob("shard.parquet*.partial"))
    columns = ["graph_id", "replicate", "test_acc", "test_loss", "population"]
    pd.testing.assert_frame_equal(pd.read_parquet(out)[columns], pd.read_parquet(tmp_path / "uninterrupted.parquet")[
        columns])
