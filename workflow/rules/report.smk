# The figures and tables of the report (sparsepipe/stages/report.py), and Snakemake's own report after a full run.


report: "../report/workflow.rst"


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
        timing=report(f"{R}/figures/timing.png", caption="../report/timing.rst", category="5 Time and memory"),
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
        " --benchmarks {R}/benchmarks --out-timing {output.timing}"
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
