# Reber strings (or the user's sequence files), dense recurrent classifiers, and pruning of their input-to-hidden / hidden-to-hidden weights.


def reber_files(wildcards):
    """Sequence files in place of generated strings (reber.files): inputs, so that replacing one reruns this rule
    and what depends on its table."""
    files = config["reber"].get("files") or {}
    return [files[split] for split in ("train", "test") if split in files]


rule reber_data:
    input:
        reber_files,
    output:
        f"{R}/data/reber.parquet",
    params:
        settings=cli_json(reber="reber", seed="seed"),
    log:
        f"{R}/logs/data/reber.log",
    shell:
        "{SP} reber --params {params.settings:q} --out {output} 2> {log}"


rule train_rnn:
    input:
        data=rules.reber_data.output,
    output:
        model=f"{R}/rnn/models/{{cell}}/seed{{model_seed}}.pt",
        table=f"{R}/rnn/models/{{cell}}/seed{{model_seed}}.parquet",
    params:
        settings=cli_json(hidden="rnn/hidden", train="rnn/train", seed="seed"),
    log:
        f"{R}/logs/rnn/{{cell}}-seed{{model_seed}}.log",
    threads: 1
    benchmark:
        f"{R}/benchmarks/train_rnn/{{cell}}-seed{{model_seed}}.tsv"
    resources:
        **job_resources("train_rnn"),
    shell:
        "{SP} train-rnn --mem-mb {resources.mem_mb} --runtime-min {resources.runtime} --gpus {resources.gpu}"
        " {RUNTIME} --threads {threads} --cell {wildcards.cell} --model-seed {wildcards.model_seed}"
        " --params {params.settings:q} --data {input.data} --out-model {output.model}"
        " --out-table {output.table} 2> {log}"


rule rnn_table:
    input:
        expand(rules.train_rnn.output.table, cell=config["rnn"]["cells"], model_seed=config["rnn"]["seeds"]),
    output:
        f"{R}/rnn/dense.parquet",
    log:
        f"{R}/logs/rnn/dense.log",
    shell:
        "{SP} collect --inputs {input} --out {output} 2> {log}"


rule prune_rnn:
    input:
        model=rules.train_rnn.output.model,
        data=rules.reber_data.output,
    output:
        f"{R}/rnn/pruning/{{cell}}/seed{{model_seed}}/{{target}}.parquet",
    params:
        settings=cli_json(
            percents="rnn/prune/percents",
            retrain="rnn/prune/retrain",
            seed="seed",
        ),
    log:
        f"{R}/logs/rnn/prune-{{cell}}-seed{{model_seed}}-{{target}}.log",
    threads: 1
    benchmark:
        f"{R}/benchmarks/prune_rnn/{{cell}}-seed{{model_seed}}-{{target}}.tsv"
    resources:
        **job_resources("prune_rnn"),
    shell:
        "{SP} prune-rnn --mem-mb {resources.mem_mb} --runtime-min {resources.runtime} --gpus {resources.gpu}"
        " {RUNTIME} --threads {threads} --model {input.model} --target {wildcards.target}"
        " --params {params.settings:q} --data {input.data} --out {output} 2> {log}"


rule rnn_pruning_table:
    input:
        expand(
            rules.prune_rnn.output,
            cell=config["rnn"]["cells"],
            model_seed=config["rnn"]["seeds"],
            target=config["rnn"]["prune"]["targets"],
        ),
    output:
        f"{R}/rnn/pruning.parquet",
    log:
        f"{R}/logs/rnn/pruning.log",
    shell:
        "{SP} collect --inputs {input} --out {output} 2> {log}"
