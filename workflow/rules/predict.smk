# Structure-only accuracy predictors, and the figures of the report.


rule fit_predictors:
    input:
        runs=rules.structure_runs.output,
    output:
        scores=f"{R}/predict/scores.parquet",
        predictions=f"{R}/predict/predictions.parquet",
        importance=f"{R}/predict/importance.parquet",
    params:
        settings=cli_json(
            regressors="predict/regressors",
            feature_sets="predict/feature_sets",
            folds="predict/folds",
            repeats="predict/repeats",
            seed="seed",
        ),
    log:
        f"{R}/logs/predict/fit.log",
    shell:
        "{SP} predict --params {params.settings:q} --runs {input.runs} --out-scores {output.scores}"
        " --out-predictions {output.predictions} --out-importance {output.importance} 2> {log}"


rule plots:
    input:
        pruning=rules.pruning_table.output,
        scores=rules.fit_predictors.output.scores,
        predictions=rules.fit_predictors.output.predictions,
    output:
        pruning=report(f"{R}/figures/pruning.png", caption="../report/pruning.rst", category="Pruning"),
        predictors=report(f"{R}/figures/predictors.png", caption="../report/predictors.rst", category="Prediction"),
    log:
        f"{R}/logs/figures.log",
    shell:
        "sparsepipe plots --pruning {input.pruning} --scores {input.scores} --predictions {input.predictions}"
        " --out-pruning {output.pruning} --out-predictors {output.predictors} 2> {log}"
