"""The pipeline's stages, one module per rule file: ``workflow/rules/X.smk`` -> ``sparsepipe <subcommand>`` ->
``sparsepipe/stages/X.py`` -> the library (``data/``, ``graphs/``, ``models/``, ``prune/``, ``train``, ``predict``,
``nas``, ...).

Each stage module holds the unit functions of its rules (read inputs, compute, write outputs atomically; plain
arguments, so :mod:`sparsepipe.launch` can send them to SLURM) and registers their subcommands with
``register(add)``. Stages never import each other: what two stages share lives in the library.
"""

from sparsepipe.stages import ffn, graphs, nas, predict, report, rnn, structure

STAGES = (graphs, rnn, ffn, structure, predict, nas, report)  # in the order of the Snakefile's includes
