# Dense feed-forward nets, then iterative magnitude pruning with re-training after every step.


rule stage_vision:
    output:
        f"{R}/data/vision/{{dataset}}.json",
    params:
        settings=cli_json(download="data/download", idx_dirs="data/idx_dirs"),
    log:
        f"{R}/logs/data/{{dataset}}.log",
    shell:
        "{SP} stage-data --dataset {wildcards.dataset} --params {params.settings:q} --root {VISION}"
        " --out {output} 2> {log}"


rule train_ffn:
    input:
        data=rules.stage_vision.output,
    output:
        f"{R}/ffn/models/{{dataset}}/{{arch}}/seed{{model_seed}}.pt",
    params:
        settings=cli_json(train="ffn/train", seed="seed"),
    log:
        f"{R}/logs/ffn/train-{{dataset}}-{{arch}}-seed{{model_seed}}.log",
    threads: 1
    benchmark:
        f"{R}/benchmarks/train_ffn/{{dataset}}-{{arch}}-seed{{model_seed}}.tsv"
    resources:
        **job_resources("train_ffn"),
    shell:
        "{SP} train-ffn --mem-mb {resources.mem_mb} --runtime-min {resources.runtime} --gpus {resources.gpu}"
        " {RUNTIME} --threads {threads} --dataset {wildcards.dataset} --arch {wildcards.arch}"
        " --model-seed {wildcards.model_seed} --params {params.settings:q} --root {VISION} --out {output} 2> {log}"


rule prune_ffn:
    input:
        model=rules.train_ffn.output,
    output:
        f"{R}/ffn/pruning/{{dataset}}/{{arch}}/seed{{model_seed}}/{{method}}.parquet",
    params:
        settings=cli_json(
            schedule="ffn/prune/schedule",
            strategy="ffn/prune/strategy",
            rates="ffn/prune/rates",
            max_steps="ffn/prune/max_steps",
            min_remaining="ffn/prune/min_remaining",
            runs="ffn/prune/runs",
            retrain="ffn/prune/retrain",
            calibration_samples="ffn/prune/calibration_samples",
            network_features="ffn/prune/network_features",
            seed="seed",
        ),
    log:
        f"{R}/logs/ffn/prune-{{dataset}}-{{arch}}-seed{{model_seed}}-{{method}}.log",
    threads: 1
    benchmark:
        f"{R}/benchmarks/prune_ffn/{{dataset}}-{{arch}}-seed{{model_seed}}-{{method}}.tsv"
    resources:
        **job_resources("prune_ffn"),
    shell:
        "{SP} prune --mem-mb {resources.mem_mb} --runtime-min {resources.runtime} --gpus {resources.gpu}"
        " {RUNTIME} --threads {threads} --model {input.model} --method {wildcards.method}"
        " --params {params.settings:q} --root {VISION} --out {output} 2> {log}"


rule pruning_table:
    input:
        expand(
            rules.prune_ffn.output,
            dataset=config["ffn"]["datasets"],
            arch=config["ffn"]["archs"],
            model_seed=config["ffn"]["seeds"],
            method=config["ffn"]["prune"]["methods"],
        ),
    output:
        f"{R}/ffn/pruning.parquet",
    log:
        f"{R}/logs/ffn/pruning.log",
    shell:
        "{SP} collect --inputs {input} --out {output} 2> {log}"


rule pruning_summary:
    input:
        rules.pruning_table.output,
    output:
        summary=f"{R}/ffn/summary.parquet",
        comparisons=f"{R}/ffn/comparisons.parquet",
    log:
        f"{R}/logs/ffn/summary.log",
    shell:
        "{SP} summarize-pruning --pruning {input} --target 0.8 --out-summary {output.summary}"
        " --out-comparisons {output.comparisons} 2> {log}"
