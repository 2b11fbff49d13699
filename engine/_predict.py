"""Classifying images with a model's own evaluation transform (the thesis's dragonfly check)."""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import torch

from vis.engine._image_array import as_rgb
from vis.errors import VisError
from vis.models import StagedNet, check_model, classification_input, model_spec


@dataclass(frozen=True)
class Prediction:
    """Top classes of one image: (index, name, probability), most probable first."""

    classes: list[tuple[int, str, float]]


def predict(model_name: str, model: StagedNet, images: list[np.ndarray], top: int = 5) -> list[Prediction]:
    """Top ``top`` classes for each image of ``images`` (a list), any size: HxWx3 RGB, float in [0, 1] or uint8
    (grey and RGBA are converted; see :func:`vis.engine._image_array.as_rgb`)."""
    if isinstance(images, np.ndarray):
        raise VisError("predict takes a list of images; for one image pass [image]")
    if not isinstance(top, numbers.Integral) or top < 1:
        raise VisError(f"top must be a whole number of at least 1, got {top!r}")
    check_model(model_name, model)
    spec = model_spec(model_name)
    categories = spec.categories
    out = []
    with torch.no_grad():
        for image in images:
            batch = torch.from_numpy(classification_input(as_rgb(image), spec.preprocessing))
            out.append(Prediction(top_classes(model(batch)[0].numpy(), categories, top)))
    return out


def top_classes(logits: np.ndarray, categories: list[str], k: int) -> list[tuple[int, str, float]]:
    """(index, name, probability) of the ``k`` most probable classes of one image's ``logits`` (softmax in float64,
    so that the probabilities of a confident net do not round to exactly 1 and 0)."""
    z = np.asarray(logits, np.float64).ravel()
    p = np.exp(z - z.max())
    p /= p.sum()
    order = np.argsort(-p, kind="stable")[: max(1, min(k, len(categories)))]
    return [(int(i), categories[int(i)], float(p[i])) for i in order]
