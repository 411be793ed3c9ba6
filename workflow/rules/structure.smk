# Graph-structured networks (recurrent on Reber, feed-forward on images), one per graph, trained in shards.

from sparsepipe.stages.structure import reuse_tables


def reuse_inputs(wildcards):
    """structure.reuse's run tables: inputs, so that editing or adding one reruns the shards (which then take
    their models' rows from them), and not params, so that naming them retrains nothing."""
    return [str(path) for path in reuse_tables(config["structure"].get("reuse") or [])]



rule train_structured:
    input:
        graphs=rules.graphs.output,
        data=rules.reber_data.output,
        reuse=reuse_inputs,
    output:
        f"{R}/structure/shards/rnn_{{cell}}/{{generator}}-{{shard}}.parquet",
    params:
        settings=cli_json(
            train="structure/train",
            shards="structure/shards",
            replicates="structure/replicates",
            populations="populations",
            seed="seed",
        ),
    log:
        f"{R}/logs/structure/{{cell}}-{{generator}}-{{shard}}.log",
    threads: 1
    benchmark:
        f"{R}/benchmarks/train_structured/{{cell}}-{{generator}}-{{shard}}.tsv"
    resources:
        **job_resources("train_structured"),
    shell:
        "{SP} train-structured --mem-mb {resources.mem_mb} --runtime-min {resources.runtime} --gpus {resources.gpu}"
        " {RUNTIME} --threads {threads} --cell {wildcards.cell} --generator {wildcards.generator}"
        " --shard {wildcards.shard} --params {params.settings:q} --graphs {input.graphs} --data {input.data}"
        " --out {output} --reuse {input.reuse:q} 2> {log}"


rule train_structured_ffn:
    input:
        graphs=rules.graphs.output,
        data=rules.stage_vision.output,
        reuse=reuse_inputs,
    output:
        f"{R}/structure/shards/ffn_{{dataset}}/{{generator}}-{{shard}}.parquet",
    params:
        settings=cli_json(
            train="structure/ffn/train",
            shards="structure/shards",
            replicates="structure/replicates",
            populations="populations",
            seed="seed",
        ),
    log:
        f"{R}/logs/structure/ffn_{{dataset}}-{{generator}}-{{shard}}.log",
    threads: 1
    benchmark:
        f"{R}/benchmarks/train_structured_ffn/{{dataset}}-{{generator}}-{{shard}}.tsv"
    resources:
        **job_resources("train_structured_ffn"),
    shell:
        "{SP} train-structured-ffn --mem-mb {resources.mem_mb} --runtime-min {resources.runtime} --gpus {resources.gpu}"
        " {RUNTIME} --threads {threads} --dataset {wildcards.dataset}"
        " --generator {wildcards.generator} --shard {wildcards.shard} --params {params.settings:q}"
        " --graphs {input.graphs} --root {VISION} --out {output} --reuse {input.reuse:q} 2> {log}"


rule structure_runs:
    input:
        shards=expand(
            rules.train_structured.output,
            cell=config["structure"]["cells"],
            generator=sorted(config["graphs"]),
            shard=range(config["structure"]["shards"]),
        )
        + expand(
            rules.train_structured_ffn.output,
            dataset=config["structure"]["ffn"]["datasets"],
            generator=sorted(config["graphs"]),
            shard=range(config["structure"]["shards"]),
        ),
        features=rules.graph_features.output,
    output:
        f"{R}/structure/runs.parquet",
    log:
        f"{R}/logs/structure/runs.log",
    shell:
        "{SP} structure-runs --shards {input.shards} --features {input.features} --out {output} 2> {log}"
