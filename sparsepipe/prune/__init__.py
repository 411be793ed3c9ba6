"""Pruning of feed-forward nets through torch.nn.utils.prune, and the prune / re-train schedule."""
