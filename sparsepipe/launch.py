"""Where a unit of work runs: in this process, or through a submitit executor.

Every stage goes through :func:`run`, so a new place to run (SLURM) is one more executor here, not a second
code path. The unit function itself reads its inputs and writes its outputs atomically, so it behaves the same
wherever it runs (on a cluster, outputs land on the shared filesystem).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sparsepipe.errors import ConfigError

log = logging.getLogger(__name__)
T = TypeVar("T")

EXECUTORS = ("local", "submitit_local")


def run(fn: Callable[..., T], /, *, executor: str = "local", folder: str | os.PathLike | None = None,
        name: str = "sparsepipe", timeout_min: int = 24 * 60, **kwargs: Any) -> T:
    """Run ``fn(**kwargs)`` on ``executor`` and return its result (re-raising its error).

    - ``local``: in this process (the Snakemake job's own), the laptop default;
    - ``submitit_local``: a submitit local job, with its stdout/stderr and pickled result under ``folder``.
    """
    if executor == "local":
        return fn(**kwargs)
    if executor == "submitit_local":
        import submitit

        if folder is None:
            raise ConfigError("launch: the submitit executors need a job folder for their logs")
        job_folder = Path(folder) / "%j"
        submitter = submitit.AutoExecutor(folder=job_folder, cluster="local")
        submitter.update_parameters(name=name, timeout_min=timeout_min)
        job = submitter.submit(fn, **kwargs)
        log.info("%s: submitted as submitit job %s, logs in %s", name, job.job_id, job.paths.folder)
        return job.result()
    raise ConfigError(f"launch.executor: unknown executor {executor!r}; expected one of {list(EXECUTORS)}")
