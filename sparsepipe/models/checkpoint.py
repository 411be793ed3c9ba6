"""Dense model checkpoints: what each kind's config holds, and loading one with a one-line error for other files.

A checkpoint is plain tensors and dicts (``state_dict``, ``masks``, ``config``, ``metrics``, the optimiser's
``state_dict``), written by ``sparsepipe train-ffn`` or ``train-rnn``; never a pickled module.
"""

from __future__ import annotations

from typing import Any

from sparsepipe import io
from sparsepipe.errors import DataError

# what a dense model's checkpoint config holds, by kind (and the unit that writes it)
_CONFIG_KEYS = {"ffn": (("dataset", "arch", "model_seed", "seed", "inputs", "hidden", "classes", "train"),
                        "train-ffn"),
                "rnn": (("cell", "model_seed", "hidden", "train"), "train-rnn")}


def load_model_checkpoint(path: str, kind: str) -> dict[str, Any]:
    """A dense model's checkpoint of ``kind`` (ffn, rnn), or one line saying that ``path`` is some other torch
    file."""
    checkpoint = io.load_checkpoint(path, ("state_dict", "config", "metrics"))
    keys, writer = _CONFIG_KEYS[kind]
    config = checkpoint["config"]
    missing = [k for k in keys if not isinstance(config, dict) or k not in config]
    if missing or "test_acc" not in checkpoint["metrics"]:
        raise DataError(f"{path}: a checkpoint of another kind (its config lacks {missing or ['test_acc']}); "
                        f"expected a model written by sparsepipe {writer}")
    return checkpoint
