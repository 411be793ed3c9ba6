"""Where a unit of work runs: in this process, through submitit's local executor, or as a SLURM job.

Every stage goes through :func:`run` (one unit) or :func:`run_array` (many units as one job array), so SLURM is
one more executor here, not a second code path. The unit function reads its inputs and writes its outputs
atomically, so it behaves the same wherever it runs (on a cluster, outputs land on the shared filesystem).

On SLURM, units are wrapped in :class:`Resumable`, a submitit ``Checkpointable``: when SLURM preempts the job or
its time limit approaches (SIGUSR2), submitit requeues the same call, and the unit resumes from the checkpoint it
writes every epoch (``<output>.partial``). A unit that raises fails its Snakemake job with the remote traceback.
The number of SLURM jobs in flight is bounded by ``max_jobs`` slots (file locks shared by every Snakemake job).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sparsepipe.errors import ConfigError

log = logging.getLogger(__name__)
T = TypeVar("T")

EXECUTORS = ("local", "submitit_local", "slurm")


class Resumable:
    """A unit function as a submitit Checkpointable: on preemption or timeout, requeue the same call."""

    def __init__(self, fn: Callable[..., Any]):
        self.fn = fn

    def __call__(self, **kwargs: Any) -> Any:
        if not logging.getLogger().handlers:  # a fresh job process: log progress to the job's stderr
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        return self.fn(**kwargs)

    def checkpoint(self, **kwargs: Any):  # called by submitit on SIGUSR2 (preemption / approaching time limit)
        import submitit

        return submitit.helpers.DelayedSubmission(self, **kwargs)


def with_resources(settings: Mapping[str, Any], mem_mb: int | None = None, runtime_min: int | None = None,
                   gpus: int | None = None) -> dict[str, Any]:
    """The ``launch`` block with a rule's ``resources:`` (Snakemake's mem_mb, runtime, gpu) as its SLURM job's
    memory, time limit and GPUs: a rule's own figures take precedence over ``launch.slurm``'s defaults (a GPU count
    of 0 keeps the default, so ``launch.slurm.gpus`` still applies to rules that do not ask for GPUs)."""
    settings = dict(settings)
    slurm = dict(settings.get("slurm") or {})
    if mem_mb is not None:
        slurm["mem_gb"] = mem_mb / 1024
    if runtime_min is not None:
        slurm["time_min"] = runtime_min
    if gpus:
        slurm["gpus"] = gpus
    if slurm:
        settings["slurm"] = slurm
    return settings


def _executor(settings: Mapping[str, Any], folder: Path, name: str):
    import submitit

    kind = settings.get("executor", "local")
    if kind == "submitit_local":
        submitter = submitit.AutoExecutor(folder=folder / "%j", cluster="local")
        submitter.update_parameters(name=name, timeout_min=24 * 60)
        return submitter
    slurm = dict(settings.get("slurm") or {})
    submitter = submitit.AutoExecutor(folder=folder / "%j", cluster="slurm")
    params: dict[str, Any] = {
        "name": f"sparsepipe-{name}",
        "timeout_min": slurm.get("time_min", 60),
        "cpus_per_task": slurm.get("cpus", 1),
        "mem_gb": slurm.get("mem_gb", 4),
        "slurm_array_parallelism": slurm.get("array_parallelism", 16),
        "slurm_additional_parameters": dict(slurm.get("extra") or {}),
    }
    if slurm.get("gpus"):
        params["gpus_per_node"] = slurm["gpus"]
    for key in ("partition", "account", "qos"):
        if slurm.get(key):
            params[f"slurm_{key}"] = slurm[key]
    submitter.update_parameters(**params)
    return submitter


@contextlib.contextmanager
def _slot(settings: Mapping[str, Any]) -> Iterator[None]:
    """Hold one of ``max_jobs`` slots while a SLURM job is in flight (no limit without a slots folder)."""
    folder = settings.get("slots")
    if not folder or settings.get("executor") != "slurm":
        yield
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    count = int(settings.get("max_jobs", 8))
    handles = [open(Path(folder) / f"slot-{i}.lock", "w") for i in range(count)]  # noqa: SIM115
    try:
        while True:
            for handle in handles:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
                return
            time.sleep(1.0)  # every slot is taken: another Snakemake job's SLURM job is in flight
    finally:
        for handle in handles:
            handle.close()


def _check(settings: Mapping[str, Any]) -> str:
    kind = settings.get("executor", "local")
    if kind not in EXECUTORS:
        raise ConfigError(f"launch.executor: unknown executor {kind!r}; expected one of {list(EXECUTORS)}")
    return kind


def run(fn: Callable[..., T], /, *, where: Mapping[str, Any] | None = None,
        folder: str | os.PathLike | None = None, name: str = "sparsepipe", **kwargs: Any) -> T:
    """Run ``fn(**kwargs)`` where ``where`` (the config's ``launch`` block) says, and return its result.

    - ``local``: in this process (the Snakemake job's own), the laptop default;
    - ``submitit_local``: a submitit local job; ``slurm``: a SLURM job with the ``launch.slurm`` resources.
    Job logs (stdout, stderr, the pickled result) go under ``folder``.
    """
    settings = where or {}
    if _check(settings) == "local":
        return fn(**kwargs)
    if folder is None:
        raise ConfigError("launch: the submitit executors need a job folder for their logs")
    with _slot(settings):
        job = _executor(settings, Path(folder), name).submit(Resumable(fn), **kwargs)
        log.info("%s: submitted as %s job %s; logs in %s", name, settings["executor"], job.job_id, job.paths.folder)
        return job.result()


def run_array(fn: Callable[..., T], calls: Sequence[Mapping[str, Any]], /, *,
              where: Mapping[str, Any] | None = None, folder: str | os.PathLike | None = None,
              name: str = "sparsepipe") -> list[T]:
    """Run ``fn(**call)`` for every call: one SLURM job array (or submitit local jobs), or in turn here."""
    settings = where or {}
    if _check(settings) == "local":
        return [fn(**call) for call in calls]
    if folder is None:
        raise ConfigError("launch: the submitit executors need a job folder for their logs")
    submitter = _executor(settings, Path(folder), name)
    with _slot(settings):
        with submitter.batch():
            jobs = [submitter.submit(Resumable(fn), **call) for call in calls]
        log.info("%s: submitted %d jobs (%s)", name, len(jobs), ", ".join(j.job_id for j in jobs[:4]))
        return [job.result() for job in jobs]
