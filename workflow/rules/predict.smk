# Structure-only accuracy predictors: per model family, cross-validated (sparsepipe/stages/predict.py).


rule pruned_runs:
    input:
        rules.pruning_table.output,
    output:
        f"{R}/ffn/pruned_runs.parquet",
    log:
        f"{R}/logs/ffn/pruned_runs.log",
    shell:
        "{SP} pruned-runs --pruning {input} --out {output} 2> {log}"


def families():
    """Model families whose accuracy is predicted: structured nets per cell / dataset, and pruned nets."""
    names = [f"rnn_{cell}" for cell in config["structure"]["cells"]]
    names += [f"ffn_{dataset}" for dataset in config["structure"]["ffn"]["datasets"]]
    if config["ffn"]["prune"]["network_features"]:
        names += [f"pruned_ffn_{dataset}" for dataset in config["ffn"]["datasets"]]
    return names


rule fit_predictors:
    input:
        runs=lambda wc: rules.pruned_runs.output if wc.family.startswith("pruned_") else rules.structure_runs.output,
    output:
        scores=f"{R}/predict/families/{{family}}/scores.parquet",
        predictions=f"{R}/predict/families/{{family}}/predictions.parquet",
        importance=f"{R}/predict/families/{{family}}/importance.parquet",
        noise_ceiling=f"{R}/predict/families/{{family}}/noise_ceiling.parquet",
    params:
        settings=cli_json(
            regressors="predict/regressors",
            feature_sets="predict/feature_sets",
            folds="predict/folds",
            repeats="predict/repeats",
            target="predict/target",
            single_splits="predict/single_splits",
            seed="seed",
        ),
    log:
        f"{R}/logs/predict/{{family}}.log",
    benchmark:
        f"{R}/benchmarks/fit_predictors/{{family}}.tsv"
    resources:
        **job_resources("fit_predictors"),
    shell:
        "{SP} predict --mem-mb {resources.mem_mb} --runtime-min {resources.runtime}"
        " --family {wildcards.family} --params {params.settings:q} --runs {input.runs}"
        " --out-scores {output.scores} --out-predictions {output.predictions} --out-importance {output.importance}"
        " --out-noise-ceiling {output.noise_ceiling} 2> {log}"


rule predict_table:
    input:
        lambda wc: expand(f"{R}/predict/families/{{family}}/{wc.table}.parquet", family=families()),
    output:
        f"{R}/predict/{{table}}.parquet",
    wildcard_constraints:
        table="scores|predictions|importance|noise_ceiling",
    log:
        f"{R}/logs/predict/{{table}}.log",
    shell:
        "{SP} collect --inputs {input} --out {output} 2> {log}"
