"""Seeds derived from the global seed and a unit's key, so any single unit can be rerun alone."""

import hashlib
import random

import numpy as np


def derive_seed(global_seed: int, *key: object) -> int:
    """A stable 31-bit seed for ``key`` under ``global_seed`` (stable across processes, unlike ``hash``)."""
    text = "/".join([str(global_seed), *map(str, key)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little") & 0x7FFFFFFF


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) for one unit of work."""
    import torch  # here: the graph and table jobs derive seeds and need no torch (job start-up time)

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
