"""Random and user-supplied graphs, oriented into layered DAGs that serve as structural priors; the graphs of
pruned feed-forward networks (:mod:`sparsepipe.graphs.network`, imported on its own since it needs torch)."""

from sparsepipe.graphs.generators import GENERATOR_NAMES, GENERATORS, check_generator, generate_graphs
from sparsepipe.graphs.layering import LayeredDAG, layered_dag, to_dag

__all__ = ["GENERATORS", "GENERATOR_NAMES", "check_generator", "generate_graphs", "LayeredDAG", "layered_dag",
           "to_dag"]
