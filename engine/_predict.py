"""Classifying images with a model's own evaluation transform (the thesis's dragonfly check)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vis.models import StagedNet, classification_input, model_spec


@dataclass(frozen=True)
class Prediction:
    """Top classes of one image: (index, name, probability), most probable first."""

    classes: list[tuple[int, str, float]]


def predict(model_name: str, model: StagedNet, images: list[np.ndarray], top: int = 5) -> list[Prediction]:
    """Top ``top`` classes for each HxWx3 RGB image in [0, 1], any size."""
    spec = model_spec(model_name)
    categories = spec.categories
    top = max(1, min(top, len(categories)))
    out = []
    with torch.no_grad():
        for image in images:
            batch = torch.from_numpy(classification_input(image, spec.preprocessing))
            probs = model(batch).softmax(1)[0]
            values, indices = probs.topk(top)
            out.append(Prediction([(int(i), categories[int(i)], float(v)) for v, i in zip(values, indices)]))
    return out
