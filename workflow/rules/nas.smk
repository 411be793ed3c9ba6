# Genetic architecture search guided by performance prediction: one resumable job per task; each generation's
# trainings go through sparsepipe.launch (a job array on SLURM).


def nas_data(wildcards):
    return rules.reber_data.output if wildcards.task.startswith("rnn_") else expand(
        rules.stage_vision.output, dataset=wildcards.task.removeprefix("ffn_")
    )


def nas_data_arg(wildcards, input):
    return input.data if wildcards.task.startswith("rnn_") else VISION


rule nas:
    input:
        data=nas_data,
    output:
        table=f"{R}/nas/{{task}}/individuals.parquet",
        graph=f"{R}/nas/{{task}}/best.graphml",
    params:
        settings=cli_json(
            population="nas/population",
            elites="nas/elites",
            generations="nas/generations",
            tournament="nas/tournament",
            mutation_rate="nas/mutation_rate",
            crossover_rate="nas/crossover_rate",
            predictor="nas/predictor",
            predictor_model="nas/predictor_model",
            screen_factor="nas/screen_factor",
            screen_rounds="nas/screen_rounds",
            generators="nas/generators",
            train="nas/train",
            populations="populations",
            seed="seed",
        ),
        data=nas_data_arg,
    log:
        f"{R}/logs/nas/{{task}}.log",
    benchmark:
        f"{R}/benchmarks/nas/{{task}}.tsv"
    resources:
        **job_resources("nas"),
    shell:
        "{SP} search --mem-mb {resources.mem_mb} --runtime-min {resources.runtime}"
        " --task {wildcards.task} --params {params.settings:q} --data {params.data}"
        " --out-table {output.table} --out-graph {output.graph} 2> {log}"


rule nas_winner:
    input:
        data=nas_data,
        table=rules.nas.output.table,
    output:
        f"{R}/nas/{{task}}/winner.parquet",
    params:
        settings=cli_json(winner_seeds="nas/winner_seeds", train="nas/train", seed="seed"),
        data=nas_data_arg,
    log:
        f"{R}/logs/nas/{{task}}-winner.log",
    benchmark:
        f"{R}/benchmarks/nas_winner/{{task}}.tsv"
    resources:
        **job_resources("nas_winner"),
    shell:
        "{SP} search-winner --mem-mb {resources.mem_mb} --runtime-min {resources.runtime}"
        " --task {wildcards.task} --params {params.settings:q} --data {params.data}"
        " --table {input.table} --out {output} 2> {log}"
