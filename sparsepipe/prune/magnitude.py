"""The pruning step's original import path (``sparsepipe.units`` imports from here).

Magnitude pruning now sits beside the other methods: saliencies in ``saliency.py``, selection in ``selection.py``,
the step in ``step.py``.
"""

from sparsepipe.prune.selection import LayerEmptied, current_mask, remaining
from sparsepipe.prune.step import METHODS, check_method, prune_step

__all__ = ["METHODS", "LayerEmptied", "check_method", "current_mask", "prune_step", "remaining"]
