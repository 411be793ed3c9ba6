"""Image classification datasets, loaded once into flat float tensors (no per-batch decoding).

- ``digits``: scikit-learn's 8x8 digits, shipped with scikit-learn (offline, the embedded default). It has no
  official test split, so a fixed stratified 20% split defines one.
- ``fashion_mnist``, ``mnist``, ``cifar10``: torchvision's dataset classes under ``root``. They are put there by
  :func:`stage` (the ``stage_vision`` rule): copied from a local folder of IDX files (Debian's
  ``dataset-fashion-mnist`` installs them in /usr/share/datasets/fashion-mnist) or downloaded by torchvision where
  a network exists. Offline and without files, the error says where to put them.
The validation split is drawn from the training split with the unit's seed.
"""

from __future__ import annotations

import gzip
import shutil
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sparsepipe.errors import ConfigError, DataError

DATASETS = ("digits", "fashion_mnist", "mnist", "cifar10")
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_TORCHVISION = {"fashion_mnist": "FashionMNIST", "mnist": "MNIST", "cifar10": "CIFAR10"}
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


def check_dataset(name: str) -> None:
    if name not in DATASETS:
        raise ConfigError(f"ffn.datasets: unknown dataset {name!r}; expected one of {list(DATASETS)}")


def _how_to_obtain(name: str, root: Path) -> str:
    folder = root / _TORCHVISION[name] / "raw"
    if name == "fashion_mnist":
        return (f"install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist) and set "
                f"data.idx_dirs.fashion_mnist: /usr/share/datasets/fashion-mnist, set data.download: true on a "
                f"machine with a network, or put the IDX files {list(IDX_FILES)} in {folder}")
    if name == "mnist":
        return (f"set data.download: true on a machine with a network, point data.idx_dirs.mnist to a folder of "
                f"the IDX files, or put {list(IDX_FILES)} in {folder}")
    return (f"set data.download: true on a machine with a network, or extract cifar-10-python.tar.gz into "
            f"{root / 'cifar-10-batches-py'}")


def stage(name: str, root: str | Path, idx_dir: str | None = None, download: bool = False) -> list[Path]:
    """Put dataset ``name`` where torchvision expects it under ``root``; returns the files it relies on.

    With ``idx_dir`` (MNIST-like datasets), the IDX files (``.gz`` or not) are copied from there; otherwise
    torchvision downloads them if ``download`` is true. Files already in place are kept.
    """
    check_dataset(name)
    root = Path(root)
    if name == "digits":
        return []
    if idx_dir is not None:
        if name == "cifar10":
            raise ConfigError("data.idx_dirs.cifar10: CIFAR-10 is not distributed as IDX files; use data.download")
        raw = root / _TORCHVISION[name] / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        copies: list[tuple[Path, Path]] = []  # (complete temporary copy, its place): all or none are put in place
        try:
            for base in IDX_FILES:
                target = raw / base
                if target.is_file():
                    continue
                source = next((p for p in (Path(idx_dir) / f"{base}.gz", Path(idx_dir) / base) if p.is_file()), None)
                if source is None:
                    raise DataError(f"{Path(idx_dir) / base}[.gz]: not found; {_how_to_obtain(name, root)}")
                tmp = target.with_suffix(".tmp")
                copies.append((tmp, target))
                try:
                    with (gzip.open(source) if source.suffix == ".gz" else open(source, "rb")) as src, \
                            open(tmp, "wb") as dst:
                        shutil.copyfileobj(src, dst)
                    problem = idx_problem(tmp)
                except (OSError, EOFError, zlib.error) as exc:
                    problem = f"unreadable ({type(exc).__name__}: {exc})"
                if problem:
                    raise DataError(f"{source}: {problem}; replace it with a complete copy (Debian: apt-get install "
                                    f"--reinstall dataset-fashion-mnist) or point data.idx_dirs.{name} elsewhere")
        except BaseException:
            for tmp, _ in copies:
                tmp.unlink(missing_ok=True)
            raise
        for tmp, target in copies:
            tmp.replace(target)
        for base in IDX_FILES:
            check_idx(raw / base, name, root)
        return [raw / base for base in IDX_FILES]
    _torchvision_split(name, root, train=True, download=download)
    _torchvision_split(name, root, train=False, download=download)
    if name == "cifar10":
        return sorted((root / "cifar-10-batches-py").glob("*"))
    return [root / _TORCHVISION[name] / "raw" / base for base in IDX_FILES]


def staged(name: str, root: str | Path) -> bool:
    """Whether the IDX files of ``name`` are already in place under ``root`` (staging then copies nothing)."""
    raw = Path(root) / _TORCHVISION.get(name, name) / "raw"
    return all((raw / base).is_file() for base in IDX_FILES)


def idx_dir_problem(folder: str | Path) -> str | None:
    """Why ``folder`` cannot be a ``data.idx_dirs`` entry (missing, not a folder, lacking IDX files), or ``None``.
    Only that the four files are there (``.gz`` or not); their contents are checked when they are staged."""
    folder = Path(folder)
    if not folder.exists():
        return f"{folder}: folder not found (relative paths start in {Path.cwd()})"
    if not folder.is_dir():
        return f"{folder}: not a folder; expected a folder holding the IDX files"
    missing = [base for base in IDX_FILES if not any((folder / f"{base}{ext}").is_file() for ext in (".gz", ""))]
    if missing:
        return f"{folder}: holds no {', '.join(missing)}[.gz]; expected the 4 IDX files {list(IDX_FILES)}"
    return None


def check_idx(path: Path, name: str, root: Path) -> None:
    """An IDX file is complete when its size matches the dimensions its header declares."""
    if not path.is_file():
        return  # torchvision reports missing files; we add how to obtain them
    problem = idx_problem(path)
    if problem:
        raise DataError(f"{path}: {problem}; delete it and stage again: {_how_to_obtain(name, root)}")


def idx_problem(path: Path) -> str | None:
    """Why ``path`` is not a complete IDX file (``None`` when its size matches its header)."""
    with open(path, "rb") as f:
        header = f.read(4)
        ndim = header[3] if len(header) == 4 else 0
        raw = f.read(4 * ndim)
    size = path.stat().st_size
    if len(header) < 4 or not ndim or len(raw) < 4 * ndim:  # shorter than its own header
        return (f"truncated or not an IDX file ({size} bytes; expected a header of magic number and "
                f"{ndim or 'n'} dimension sizes, {4 + 4 * ndim if ndim else 'at least 8'} bytes, then the data)")
    dims = np.frombuffer(raw, dtype=">u4")
    expected = 4 + 4 * ndim + int(np.prod(dims, dtype=np.int64))
    if size != expected:
        return f"truncated or not an IDX file ({size} bytes, header promises {expected})"
    return None


def _torchvision_split(name: str, root: Path, train: bool, download: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Raw images (N, ...) uint8 and labels of one split, read once by torchvision's dataset class."""
    import torchvision

    if name != "cifar10":
        prefix = "train" if train else "t10k"
        for kind in ("images-idx3", "labels-idx1"):
            check_idx(root / _TORCHVISION[name] / "raw" / f"{prefix}-{kind}-ubyte", name, root)

    cls = getattr(torchvision.datasets, _TORCHVISION[name])
    try:
        dataset = cls(str(root), train=train, download=download)
    except RuntimeError as exc:
        if "not found" in str(exc).lower() or "corrupted" in str(exc).lower():
            raise DataError(f"{name}: dataset files missing under {root}; {_how_to_obtain(name, root)}") from None
        raise DataError(f"{name}: cannot read the files under {root} ({exc}); {_how_to_obtain(name, root)}") from None
    except (OSError, ValueError, AssertionError, EOFError) as exc:  # truncated or foreign files
        raise DataError(f"{name}: files under {root} are truncated or damaged ({type(exc).__name__}: {exc}); "
                        f"delete them and stage again: {_how_to_obtain(name, root)}") from None
    data, targets = dataset.data, dataset.targets
    data = data.numpy() if isinstance(data, torch.Tensor) else np.asarray(data)
    targets = targets.numpy() if isinstance(targets, torch.Tensor) else np.asarray(targets)
    return data, targets


def load_vision(name: str, validation_fraction: float, seed: int, root: str | Path = "results/data/vision"
                ) -> TensorSplits:
    """Load dataset ``name`` as flat float tensors in [0, 1], split into train / validation / test."""
    check_dataset(name)
    from sklearn.model_selection import train_test_split  # here: every structure job imports this module

    if name == "digits":
        from sklearn.datasets import load_digits

        bunch = load_digits()
        x, y = (bunch.data / 16.0).astype(np.float32), bunch.target.astype(np.int64)
        x_train, x_test, y_train, y_test = train_test_split(
            x, y, test_size=_DIGITS_TEST_FRACTION, stratify=y, random_state=_DIGITS_SPLIT_SEED)
        classes = 10
    else:
        images, labels = _torchvision_split(name, Path(root), train=True)
        test_images, test_labels = _torchvision_split(name, Path(root), train=False)
        x_train = images.reshape(len(images), -1).astype(np.float32) / 255.0
        x_test = test_images.reshape(len(test_images), -1).astype(np.float32) / 255.0
        y_train, y_test = labels.astype(np.int64), test_labels.astype(np.int64)
        classes = int(max(y_train.max(), y_test.max())) + 1
    x_train, x_val, y_train, y_val = train_test_split(
        x_train, y_train, test_size=validation_fraction, stratify=y_train, random_state=seed % (2**32))
    t = torch.from_numpy
    return TensorSplits(t(x_train), t(y_train), t(x_val), t(y_val), t(x_test), t(y_test), classes=classes)


def dataset_digest(dataset: str, root: str | Path) -> str:
    """The content digest of a staged vision dataset: its manifest's (written beside the data by the stage that
    stages it, listing every file's content digest), or the dataset's name where a unit runs on a root that has
    none (digits comes with scikit-learn). Resumable state records it, so a rerun on other data starts fresh."""
    from sparsepipe.io import file_digest

    manifest = Path(root) / f"{dataset}.json"
    return file_digest(manifest) if manifest.is_file() else dataset
