# Shared helpers of the rule files: paths under the results root, and params for the CLI.

import json
import os
import shlex
import sys

# The jobs' `sparsepipe` (and the report's `snakemake`) are the ones beside this Python, e.g. in .venv/bin, even
# when that folder is not on the caller's PATH.
os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])

R = config["results_dir"]
VISION = f"{R}/data/vision"  # torchvision dataset root (staged by rule stage_vision)
DEVICE = config["device"]


wildcard_constraints:
    cell="gru|lstm|rnn_tanh|rnn_relu",
    target="i2h|h2h|both",
    model_seed=r"\d+",
    shard=r"\d+",
    generator="[a-z_]+",
    task="[a-z0-9_]+",
    family="[a-z0-9_]+",
    dataset="[a-z0-9_]+",


def cli_json(**dpaths):
    """A params function: the config values at ``dpaths`` (``{wildcard}`` allowed) as one JSON string.

    The rule names exactly the keys its jobs depend on; Snakemake's params rerun trigger then reruns a job
    when, and only when, one of them changes.
    """

    def resolve(wildcards):
        values = {key: lookup(dpath=path.format(**wildcards), within=config) for key, path in dpaths.items()}
        return json.dumps(values, sort_keys=True)

    return resolve


# Where units run (config key launch): not a rule param, so moving work to SLURM reruns nothing.
LAUNCH = json.dumps(config["launch"] | {"slots": f"{R}/.launch-slots"}, sort_keys=True)
SP = f"sparsepipe --launch {shlex.quote(LAUNCH)}"
RUNTIME = f"--device {DEVICE}"


def job_resources(rule_name):
    """A rule's ``resources:``: memory (MB), run time (minutes) and, for training rules, GPUs, from the config's
    ``resources.<rule>`` over ``resources.default``. Snakemake schedules by them (``--resources mem_mb=...``), and
    ``sparsepipe`` passes them on to the SLURM job it submits (sparsepipe.launch). Not params: changing them
    reruns nothing."""
    spec = config.get("resources") or {}
    return {"mem_mb": 1000, "runtime": 60, "gpu": 0} | (spec.get("default") or {}) | (spec.get(rule_name) or {})
