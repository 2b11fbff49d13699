"""Reading and writing still images. Everything inside vis is HxWx3 float32 RGB in [0, 1]."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vis.errors import InputFileError, OutputExistsError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})


def load_image(path: str | Path) -> np.ndarray:
    """Read any image OpenCV can decode as HxWx3 float32 RGB in [0, 1].

    Grayscale is replicated to three channels, alpha is composited over white, 16-bit images keep their range.

    Raises:
        InputFileError: the file is missing or is not a decodable image.
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"image not found: {path}")
    if path.is_dir():
        raise InputFileError(f"expected an image file, got a folder: {path}")
    data = np.fromfile(str(path), dtype=np.uint8)
    raw = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if raw is None:
        raise InputFileError(f"not a readable image: {path}")
    scale = 65535.0 if raw.dtype == np.uint16 else 255.0 if raw.dtype == np.uint8 else 1.0
    img = raw.astype(np.float32) / scale
    if img.ndim == 2:
        img = img[..., None]
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    elif img.shape[2] == 4:
        alpha = img[..., 3:4]
        img = img[..., :3] * alpha + (1.0 - alpha)
    else:
        img = img[..., :3]
    return np.ascontiguousarray(img[..., ::-1]).clip(0.0, 1.0)


def check_output(path: str | Path, overwrite: bool) -> Path:
    """Refuse to overwrite an existing file unless asked; create the output folder."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists; pass --overwrite to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def to_uint8(image: np.ndarray) -> np.ndarray:
    """HxWx3 RGB float [0, 1] (or HxW grey) -> uint8 BGR for OpenCV."""
    img = (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return img[..., ::-1] if img.ndim == 3 and img.shape[2] == 3 else img


def save_image(path: str | Path, image: np.ndarray, overwrite: bool = False) -> Path:
    """Write an HxWx3 RGB float image in [0, 1] (or HxW grey); the format follows the suffix."""
    path = check_output(path, overwrite)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise InputFileError(f"cannot write an image as {path.suffix or 'a file without suffix'}: use .png or .jpg")
    ok, buf = cv2.imencode(path.suffix.lower(), to_uint8(image))
    if not ok:
        raise InputFileError(f"could not encode {path}")
    buf.tofile(str(path))
    return path
