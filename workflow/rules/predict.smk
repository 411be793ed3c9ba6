# Structure-only accuracy predictors, and the figures and tables of the report.


rule pruned_runs:
    input:
        rules.pruning_table.output,
    output:
        f"{R}/ffn/pruned_runs.parquet",
    log:
        f"{R}/logs/ffn/pruned_runs.log",
    shell:
        "{SP} pruned-runs --pruning {input} --out {output} 2> {log}"


rule fit_predictors:
    input:
        runs=rules.structure_runs.output,
        pruned=rules.pruned_runs.output,
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
        "{SP} predict --params {params.settings:q} --runs {input.runs} {input.pruned} --out-scores {output.scores}"
        " --out-predictions {output.predictions} --out-importance {output.importance} 2> {log}"


rule report:
    input:
        pruning=rules.pruning_table.output,
        summary=rules.pruning_summary.output.summary,
        comparisons=rules.pruning_summary.output.comparisons,
        rnn_pruning=rules.rnn_pruning_table.output,
        runs=rules.structure_runs.output,
        scores=rules.fit_predictors.output.scores,
        predictions=rules.fit_predictors.output.predictions,
        importance=rules.fit_predictors.output.importance,
    output:
        pruning=report(f"{R}/figures/pruning.png", caption="../report/pruning.rst", category="1 Pruning"),
        rnn_pruning=report(f"{R}/figures/rnn_pruning.png", caption="../report/rnn_pruning.rst", category="1 Pruning"),
        structure=report(f"{R}/figures/structure.png", caption="../report/structure.rst", category="2 Structure"),
        predictors=report(f"{R}/figures/predictors.png", caption="../report/predictors.rst", category="3 Prediction"),
        importance=report(f"{R}/figures/importance.png", caption="../report/importance.rst", category="3 Prediction"),
        predicted=report(f"{R}/figures/predicted.png", caption="../report/predicted.rst", category="3 Prediction"),
        paper_table=f"{R}/paper_vs_sparsepipe.parquet",
        paper_html=report(f"{R}/paper_vs_sparsepipe.html", caption="../report/paper.rst", category="0 Paper"),
    log:
        f"{R}/logs/report.log",
    shell:
        "sparsepipe report"
        " --pruning {input.pruning} --summary {input.summary} --comparisons {input.comparisons}"
        " --rnn-pruning {input.rnn_pruning} --runs {input.runs} --scores {input.scores}"
        " --predictions {input.predictions} --importance {input.importance}"
        " --out-pruning {output.pruning} --out-rnn-pruning {output.rnn_pruning} --out-structure {output.structure}"
        " --out-predictors {output.predictors} --out-importance {output.importance}"
        " --out-predicted {output.predicted} --out-paper-table {output.paper_table}"
        " --out-paper-html {output.paper_html} 2> {log}"
