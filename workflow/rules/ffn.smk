# Dense feed-forward nets, then iterative magnitude pruning with re-training after every step.


rule train_ffn:
    output:
        f"{R}/ffn/models/{{dataset}}/{{arch}}/seed{{model_seed}}.pt",
    params:
        settings=cli_json(train="ffn/train", hidden="ffn/archs/{arch}", seed="seed"),
    log:
        f"{R}/logs/ffn/train-{{dataset}}-{{arch}}-seed{{model_seed}}.log",
    threads: 1
    shell:
        "{SP} train-ffn {RUNTIME} --threads {threads} --dataset {wildcards.dataset} --arch {wildcards.arch}"
        " --model-seed {wildcards.model_seed} --params {params.settings:q} --out {output} 2> {log}"


rule prune_ffn:
    input:
        model=rules.train_ffn.output,
    output:
        f"{R}/ffn/pruning/{{dataset}}/{{arch}}/seed{{model_seed}}/{{method}}.parquet",
    params:
        settings=cli_json(
            rates="ffn/prune/rates",
            steps="ffn/prune/steps",
            runs="ffn/prune/runs",
            retrain_epochs="ffn/prune/retrain_epochs",
            seed="seed",
        ),
    log:
        f"{R}/logs/ffn/prune-{{dataset}}-{{arch}}-seed{{model_seed}}-{{method}}.log",
    threads: 1
    shell:
        "{SP} prune {RUNTIME} --threads {threads} --model {input.model} --method {wildcards.method} --params {params.settings:q}"
        " --out {output} 2> {log}"


rule pruning_table:
    input:
        expand(
            rules.prune_ffn.output,
            dataset=config["ffn"]["datasets"],
            arch=sorted(config["ffn"]["archs"]),
            model_seed=config["ffn"]["seeds"],
            method=config["ffn"]["prune"]["methods"],
        ),
    output:
        f"{R}/ffn/pruning.parquet",
    log:
        f"{R}/logs/ffn/pruning.log",
    shell:
        "{SP} collect --inputs {input} --out {output} 2> {log}"
