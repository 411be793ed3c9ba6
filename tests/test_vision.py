import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from sparsepipe.data.vision import IDX_FILES, load_vision, stage
from sparsepipe.errors import ConfigError, DataError

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


def _idx(path: Path, array: np.ndarray, code: int = 0x08) -> None:
    header = bytes([0, 0, code, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def _fake_idx_dir(folder: Path, train: int = 60, test: int = 20) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir()
    for prefix, n in (("train", train), ("t10k", test)):
        _idx(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        _idx(folder / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    return folder


def test_idx_files_are_staged_for_torchvision_and_loaded_once_into_tensors(tmp_path):
    source = _fake_idx_dir(tmp_path / "idx")
    files = stage("fashion_mnist", tmp_path / "root", idx_dir=str(source))
    assert [f.name for f in files] == list(IDX_FILES)
    data = load_vision("fashion_mnist", 0.25, seed=0, root=tmp_path / "root")
    assert data.x_train.shape == (45, 784) and data.x_val.shape == (15, 784) and data.x_test.shape == (20, 784)
    assert float(data.x_train.min()) >= 0 and float(data.x_train.max()) <= 1
    assert data.classes == 10


def test_missing_and_truncated_files_name_the_file_and_how_to_obtain_it(tmp_path):
    with pytest.raises(DataError, match="fashion_mnist: dataset files missing.*apt-get install dataset-fashion-mnist"):
        load_vision("fashion_mnist", 0.1, 0, tmp_path / "empty")
    with pytest.raises(DataError, match="mnist: dataset files missing.*data.download: true"):
        load_vision("mnist", 0.1, 0, tmp_path / "empty")
    with pytest.raises(DataError, match=r"nowhere/train-images-idx3-ubyte\[.gz\]: not found"):
        stage("fashion_mnist", tmp_path / "root", idx_dir=str(tmp_path / "nowhere"))
    stage("fashion_mnist", tmp_path / "root", idx_dir=str(_fake_idx_dir(tmp_path / "idx")))
    images = tmp_path / "root/FashionMNIST/raw/train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:1000])
    with pytest.raises(DataError, match="train-images-idx3-ubyte: truncated"):
        load_vision("fashion_mnist", 0.1, 0, tmp_path / "root")


def test_unknown_dataset():
    with pytest.raises(ConfigError, match="unknown dataset 'mnistt'.*fashion_mnist"):
        load_vision("mnistt", 0.1, 0)


@pytest.mark.skipif(not DEBIAN_FASHION.is_dir() and os.environ.get("SPARSEPIPE_REQUIRE_DATA") != "1",
                    reason="Debian's dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)")
def test_debian_fashion_mnist(tmp_path):
    stage("fashion_mnist", tmp_path, idx_dir=str(DEBIAN_FASHION))
    data = load_vision("fashion_mnist", 1 / 6, seed=0, root=tmp_path)
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (50000, 10000, 10000)
    assert sorted(set(data.y_test.tolist())) == list(range(10))
