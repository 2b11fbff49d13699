"""What vis takes as an image from Python: any common array layout turned into HxWx3 float32 RGB in [0, 1], or a
clear error, so that a uint8 photo or a channels-first tensor is not dreamed as noise without a word."""

from __future__ import annotations

import numpy as np

from vis._text import dims
from vis.errors import VisError

# Float images a little outside [0, 1] (a resize's overshoot) are clipped; beyond these they are on another scale.
FLOAT_LOW, FLOAT_HIGH = -0.5, 2.0
_CHANNELS = (1, 3, 4)


def as_rgb(image: object, what: str = "image") -> np.ndarray:
    """``image`` as HxWx3 float32 RGB in [0, 1].

    Takes HxW or HxWx1 grey (repeated to three channels), HxWx3 RGB and HxWx4 RGBA (composited over white, as
    :func:`vis.engine.load_image` does); uint8 (0..255), uint16 (0..65535), bool and float pixels in [0, 1].

    Raises:
        VisError: another layout (channels first, a batch), another scale (0..255 or -1..1 floats), non-finite
            pixels, or a dtype that says no scale (int64); the message says how to pass the image.
    """
    array = np.asarray(image)
    check_layout(array, what)
    pixels = unit_floats(array, what)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.shape[2] == 1:
        return np.repeat(pixels, 3, axis=2)
    if pixels.shape[2] == 4:
        alpha = pixels[..., 3:4]
        return np.ascontiguousarray(pixels[..., :3] * alpha + (1.0 - alpha))
    return np.ascontiguousarray(pixels)


def quantize(image: np.ndarray, bits: int = 8) -> np.ndarray:
    """Float pixels in [0, 1] (clipped) -> uint8, or uint16 with ``bits=16``, rounded half up; the channels as they
    are."""
    top, dtype = _LEVELS[bits]
    return (np.clip(image, 0.0, 1.0) * top + 0.5).astype(dtype)


_LEVELS = {8: (255.0, np.uint8), 16: (65535.0, np.uint16)}  # the top level and the dtype of each depth


def check_layout(array: np.ndarray, what: str = "image") -> None:
    """Refuse what is no HxW, HxWx1, HxWx3 or HxWx4 image, saying what it looks like."""
    shape = dims(array.shape) or "a scalar"
    if array.ndim == 3 and array.shape[2] not in _CHANNELS and array.shape[0] in _CHANNELS:
        raise VisError(f"{what} is {shape}, channels first; vis takes HxWx3 RGB: pass image.transpose(1, 2, 0)")
    if array.ndim == 4:
        raise VisError(f"{what} is {shape}, a batch; vis takes one HxWx3 RGB image at a time")
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in _CHANNELS):
        raise VisError(f"{what} is {shape}; vis takes HxWx3 RGB (HxW grey and HxWx4 RGBA are converted)")
    if 0 in array.shape:
        raise VisError(f"{what} is {shape}: it has no pixels")


def unit_floats(array: np.ndarray, what: str = "image") -> np.ndarray:
    """Pixels as float32 in [0, 1], by the dtype's own scale."""
    if array.dtype in (np.uint8, np.uint16):
        pixels = array.astype(np.float32)
        pixels /= 255.0 if array.dtype == np.uint8 else 65535.0  # in place: a large photo's floats once, not twice
        return pixels
    if array.dtype == np.bool_:
        return array.astype(np.float32)
    if not np.issubdtype(array.dtype, np.floating):
        raise VisError(f"{what} has {array.dtype} pixels, which say no scale: pass uint8 (0..255) or floats in [0, 1]")
    pixels = array.astype(np.float32, copy=False)
    low, high = float(pixels.min()), float(pixels.max())
    if not (np.isfinite(low) and np.isfinite(high)):
        raise VisError(f"{what} has pixels that are not finite (NaN or infinity)")
    if high > FLOAT_HIGH:
        raise VisError(f"{what}'s float pixels go up to {high:g}; vis takes floats in [0, 1] (divide 0..255 by 255, "
                       "or pass uint8)")
    if low < FLOAT_LOW:
        raise VisError(f"{what}'s float pixels go down to {low:g}; vis takes floats in [0, 1] (-1..1 is (x + 1) / 2)")
    if low < 0.0 or high > 1.0:
        return np.clip(pixels, 0.0, 1.0)
    return pixels
