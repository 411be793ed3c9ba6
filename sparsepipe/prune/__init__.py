"""Pruning of feed-forward nets through torch.nn.utils.prune: six methods, each a saliency plus a selection rule.

``step.prune_step`` is the entry point (also importable from ``magnitude``, its original home); ``selection``
turns saliencies into masks; ``saliency`` holds the data-free ones, ``obd`` and ``lobs`` the second-order ones.
"""
