# sparsepipe: graphs -> training -> pruning -> re-training -> features -> predictors.
# All logic lives in the sparsepipe package; the rules under workflow/rules/ only call its CLI.

from snakemake.utils import min_version, validate

min_version("9.0")


# sparsepipe's own checks first: a bad config's first line names the file and line, or the key and what was expected.
from sparsepipe.config import check_or_exit, read_or_exit

read_or_exit("config.yaml")


configfile: "config.yaml"


# every job's software with --software-deployment-method conda (envs/ matches pyproject's dependencies)
conda: "envs/sparsepipe.yaml"


check_or_exit(config, [str(path) for path in workflow.configfiles])
validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/graphs.smk"
include: "workflow/rules/rnn.smk"
include: "workflow/rules/ffn.smk"
include: "workflow/rules/structure.smk"
include: "workflow/rules/predict.smk"
include: "workflow/rules/nas.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        rules.graph_features.output,
        rules.rnn_table.output,
        rules.rnn_pruning_table.output,
        rules.structure_runs.output,
        rules.pruning_table.output,
        rules.pruning_summary.output,
        expand(rules.predict_table.output, table=["scores", "predictions", "importance", "noise_ceiling"]),
        rules.report.output,
        expand(rules.nas.output, task=config["nas"]["tasks"]),
        expand(rules.nas_winner.output, task=config["nas"]["tasks"]),
