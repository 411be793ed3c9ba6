# Structure-only accuracy predictors, and the figures and tables of the report.


report: "../report/workflow.rst"


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
    shell:
        "{SP} predict --family {wildcards.family} --params {params.settings:q} --runs {input.runs}"
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


rule report:
    input:
        pruning=rules.pruning_table.output,
        summary=rules.pruning_summary.output.summary,
        comparisons=rules.pruning_summary.output.comparisons,
        rnn_pruning=rules.rnn_pruning_table.output,
        runs=rules.structure_runs.output,
        scores=f"{R}/predict/scores.parquet",
        predictions=f"{R}/predict/predictions.parquet",
        importance=f"{R}/predict/importance.parquet",
        searches=expand(f"{R}/nas/{{task}}/individuals.parquet", task=config["nas"]["tasks"]),  # rules in nas.smk
        winners=expand(f"{R}/nas/{{task}}/winner.parquet", task=config["nas"]["tasks"]),
    output:
        pruning=report(f"{R}/figures/pruning.png", caption="../report/pruning.rst", category="1 Pruning"),
        rnn_pruning=report(f"{R}/figures/rnn_pruning.png", caption="../report/rnn_pruning.rst", category="1 Pruning"),
        structure=report(f"{R}/figures/structure.png", caption="../report/structure.rst", category="2 Structure"),
        predictors=report(f"{R}/figures/predictors.png", caption="../report/predictors.rst", category="3 Prediction"),
        importance=report(f"{R}/figures/importance.png", caption="../report/importance.rst", category="3 Prediction"),
        predicted=report(f"{R}/figures/predicted.png", caption="../report/predicted.rst", category="3 Prediction"),
        search=report(f"{R}/figures/search.png", caption="../report/search.rst", category="4 Search"),
        paper_table=f"{R}/paper_vs_sparsepipe.parquet",
        paper_html=report(f"{R}/paper_vs_sparsepipe.html", caption="../report/paper.rst", category="0 Paper"),
    log:
        f"{R}/logs/report.log",
    shell:
        "sparsepipe report"
        " --pruning {input.pruning} --summary {input.summary} --comparisons {input.comparisons}"
        " --rnn-pruning {input.rnn_pruning} --runs {input.runs} --scores {input.scores}"
        " --predictions {input.predictions} --importance {input.importance}"
        " --searches {input.searches} --winners {input.winners} --out-search {output.search}"
        " --out-pruning {output.pruning} --out-rnn-pruning {output.rnn_pruning} --out-structure {output.structure}"
        " --out-predictors {output.predictors} --out-importance {output.importance}"
        " --out-predicted {output.predicted} --out-paper-table {output.paper_table}"
        " --out-paper-html {output.paper_html} 2> {log}"


onsuccess:
    # A successful run that built the figures ends with Snakemake's own report (figures, captions, the paper table);
    # a run of other targets (one unit by hand) leaves the report as it is and says so. Not through the profile's
    # report-after-run, which Snakemake 9 also applies to dry runs. The merged config goes to the report run as one
    # config file, so it sees the same paths. A report that fails fails the command, with the reason.
    import os
    import subprocess
    import sys
    import yaml

    if not all(os.path.exists(path) for path in rules.report.output):
        print(f"sparsepipe: {R}/report.html not rebuilt: this run did not build the figures "
              f"(snakemake --cores all does)", file=sys.stderr)
    else:
        merged = f"{R}/.report-config.yaml"
        with open(merged, "w") as handle:
            yaml.safe_dump(config, handle)
        result = subprocess.run(
            ["snakemake", "--nolock", "--snakefile", workflow.main_snakefile, "--configfile", merged,
             "--report", f"{R}/report.html"],
            capture_output=True, text=True, check=False,
        )
        if result.returncode != 0:
            lines = [l for l in (result.stdout + result.stderr).splitlines()
                     if l.strip() and not l.startswith("Missing metadata")]
            print("\n".join(lines[-20:]), file=sys.stderr)
            print(f"sparsepipe: error: snakemake --report {R}/report.html failed (exit {result.returncode}): "
                  f"{lines[-1] if lines else 'no output'}", file=sys.stderr)
            sys.exit(1)
