"""What each model's weights expect of an image, and turning any image into that."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Preprocessing:
    """How images reach a model.

    vis models and every graph vis exports take float32 NCHW images in ``value_range`` (RGB, or one grey channel
    when ``channels`` is 1) and apply ``mean``/``std`` themselves. ``channel_order`` is what the first convolution
    was trained on. ``resize``/``crop`` are the evaluation transform for classification (shorter side to
    ``resize``, centre crop ``crop``); ``min_size`` is the smallest input the architecture accepts.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]
    channels: int = 3
    channel_order: str = "RGB"
    value_range: tuple[float, float] = (0.0, 1.0)
    min_size: int = 32
    resize: int = 256
    crop: int = 224
    fixed_size: bool = False  # True when the classifier needs exactly crop x crop
    light_on_dark: bool = False  # trained on light strokes on a dark ground (MNIST): dark-on-white input misleads it

    def as_dict(self) -> dict[str, object]:
        return {
            "mean": list(self.mean), "std": list(self.std), "channels": self.channels,
            "channel_order": self.channel_order, "value_range": list(self.value_range),
            "min_size": self.min_size, "input_size": [self.crop, self.crop],
            # how a photo becomes the input the weights were evaluated on (what `vis predict` does), for users of an
            # exported file: normalisation is inside the graph, this part is not
            "classification_transform": {"shorter_side": self.resize, "centre_crop": self.crop,
                                         "interpolation": "area when shrinking, else bilinear"},
        }


def to_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """HxWx3 RGB float image -> HxWx``channels`` (grey by ITU-R 601 luma when 1)."""
    if channels == 3:
        return image
    grey = image @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return grey[..., None]


def crop_in_image(shape: tuple[int, int], pre: Preprocessing) -> tuple[int, int]:
    """The (h, w) of the centre region of an image of ``shape`` that :func:`classification_input` keeps."""
    h, w = shape
    scale = pre.resize / min(h, w)
    return min(h, round(pre.crop / scale)), min(w, round(pre.crop / scale))


def classification_input(image: np.ndarray, pre: Preprocessing) -> np.ndarray:
    """An HxWx3 RGB float image in [0, 1] -> the 1xCxHxW batch the model's weights were evaluated on."""
    image = evaluation_resize(image, pre)
    nh, nw = image.shape[:2]
    top, left = (nh - pre.crop) // 2, (nw - pre.crop) // 2
    image = image[top : top + pre.crop, left : left + pre.crop]
    image = to_channels(image, pre.channels)
    return np.ascontiguousarray(image.transpose(2, 0, 1)[None], dtype=np.float32)


def shrunk_for_evaluation(image: np.ndarray, pre: Preprocessing) -> np.ndarray:
    """``image`` kept for :func:`classification_input` later: shrunk as :func:`evaluation_resize` shrinks it where
    larger (a 4000x3000 photo is 144 MB), as it is where smaller (10,000 icons enlarged to 256 px took 10 GB)."""
    return evaluation_resize(image, pre) if min(image.shape[:2]) > pre.resize else image


def evaluation_resize(image: np.ndarray, pre: Preprocessing) -> np.ndarray:
    """The first half of :func:`classification_input`: shorter side to ``pre.resize``. Applying it twice changes
    nothing, so that pictures can be kept at this size (:func:`shrunk_for_evaluation`).

    The long side is first cut to twice the short one around the centre, where the crop lies: a 2x3000 strip
    scaled up whole was a 256x384000 image (1.2 GB)."""
    h, w = image.shape[:2]
    cut_h, cut_w = (h - 2 * w) // 2 if h > 2 * w else 0, (w - 2 * h) // 2 if w > 2 * h else 0
    image = image[cut_h : h - cut_h, cut_w : w - cut_w]
    h, w = image.shape[:2]
    scale = pre.resize / min(h, w)
    nh, nw = max(pre.crop, round(h * scale)), max(pre.crop, round(w * scale))
    if (nh, nw) == (h, w):
        return image
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(image, (nw, nh), interpolation=interp)
