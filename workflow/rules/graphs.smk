# Random graphs -> layered DAGs, and their structural features.


rule graphs:
    input:
        lambda wc: config["graphs"]["files"]["paths"] if wc.generator == "files" else [],
    output:
        f"{R}/graphs/{{generator}}.parquet",
    params:
        settings=cli_json(generator="graphs/{generator}", seed="seed"),
    log:
        f"{R}/logs/graphs/{{generator}}.log",
    shell:
        "{SP} graphs --generator {wildcards.generator} --params {params.settings:q}"
        " --out {output} 2> {log}"


rule graph_features:
    input:
        expand(rules.graphs.output, generator=sorted(config["graphs"])),
    output:
        f"{R}/graphs/features.parquet",
    log:
        f"{R}/logs/graphs/features.log",
    shell:
        "{SP} features --graphs {input} --out {output} 2> {log}"
