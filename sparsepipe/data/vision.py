"""Image classification datasets, loaded once into tensors (no per-batch decoding).

``digits`` (scikit-learn's 8x8 handwritten digits) ships with scikit-learn and needs no network: it is the
embedded default. It has no official test split, so a fixed stratified 20% split defines one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from sparsepipe.errors import ConfigError

DATASETS = ("digits",)
_DIGITS_TEST_FRACTION = 0.2
_DIGITS_SPLIT_SEED = 0  # part of the dataset's definition, not of any unit's seed


@dataclass(frozen=True)
class TensorSplits:
    """Flattened float inputs in [0, 1] and integer labels for train, validation and test."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: int

    @property
    def features(self) -> int:
        return self.x_train.shape[1]


def load_vision(name: str, validation_fraction: float, seed: int) -> TensorSplits:
    """Load dataset ``name``; the validation split is drawn from the training split with ``seed``."""
    if name not in DATASETS:
        raise ConfigError(f"ffn.datasets: unknown dataset {name!r}; expected one of {list(DATASETS)}")
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.data / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=_DIGITS_TEST_FRACTION, stratify=y, random_state=_DIGITS_SPLIT_SEED
    )
    x_train, x_val, y_train, y_val = train_test_split(
        x_train, y_train, test_size=validation_fraction, stratify=y_train, random_state=seed
    )
    t = torch.from_numpy
    return TensorSplits(t(x_train), t(y_train), t(x_val), t(y_val), t(x_test), t(y_test), classes=10)
