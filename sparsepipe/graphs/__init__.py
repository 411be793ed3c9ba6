"""Random graphs from network theory, oriented into layered DAGs that serve as structural priors."""

from sparsepipe.graphs.generators import GENERATORS, generate_graphs
from sparsepipe.graphs.layering import LayeredDAG, layered_dag, to_dag

__all__ = ["GENERATORS", "generate_graphs", "LayeredDAG", "layered_dag", "to_dag"]
