"""Maximally activating patches (Girshick et al. 2014, https://arxiv.org/abs/1311.2524) and t-SNE maps of features
(van der Maaten & Hinton 2008; Karpathy's CNN embeddings).

Receptive fields are measured, not hand-derived: the gradient of one unit with respect to the input is nonzero
only inside the unit's receptive field. A single gradient underestimates it (a max-pool routes to one position,
a ReLU may be off), so the support is united over several random inputs; the stride is the shift between the
fields of two neighbouring units.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from vis.engine._inspect import layer_info, model_batch
from vis.errors import VisError
from vis.models import StagedNet, layer_table, model_spec


@dataclass(frozen=True)
class ReceptiveField:
    """Square receptive field of a layer's units: unit (y, x) sees input rows centre_y +- size / 2, with
    centre_y = offset + y * stride (the same along x), before clipping at the image border."""

    size: int
    stride: int
    offset: float

    def corner(self, y: int, x: int) -> tuple[int, int]:
        """(top, left) of unit (y, x)'s whole field; negative where it starts outside the input."""
        half = self.size / 2
        cy, cx = self.offset + y * self.stride, self.offset + x * self.stride
        return int(round(cy - half + 0.5)), int(round(cx - half + 0.5))

    def box(self, y: int, x: int, height: int, width: int) -> tuple[int, int, int, int]:
        """(top, left, bottom, right) of unit (y, x)'s field, clipped to a height x width input."""
        top, left = self.corner(y, x)
        return max(top, 0), max(left, 0), min(top + self.size, height), min(left + self.size, width)

    def patch(self, image: np.ndarray, y: int, x: int, outside: float = 0.5) -> np.ndarray:
        """Unit (y, x)'s whole field of an HxWxC image, ``outside`` (grey) where it lies past the border: a square
        that keeps the field's proportions, not a clipped box stretched to one."""
        top, left = self.corner(y, x)
        t, l, b, r = self.box(y, x, *image.shape[:2])
        field = np.full((self.size, self.size, image.shape[2]), outside, np.float32)
        field[t - top:b - top, l - left:r - left] = image[t:b, l:r]
        return field


_RF_CACHE: dict[tuple[str, str], ReceptiveField] = {}


def receptive_field(model_name: str, model: StagedNet, layer: str, samples: int = 6, seed: int = 0) -> ReceptiveField:
    """Measure the receptive field of ``layer`` by the gradient support of its centre unit (see module doc).

    The input grows (crop, 2x, 4x) until the field of the centre unit fits inside it.

    Raises:
        UnknownNameError / VisError: unknown or non-spatial layer.
    """
    key = (model_name, layer)
    if key in _RF_CACHE:
        return _RF_CACHE[key]
    layer_info(model_name, layer, spatial=True)
    spec = model_spec(model_name)
    pre = spec.preprocessing
    sizes = [pre.crop] if pre.fixed_size and not spec.dynamic_size([layer]) else [pre.crop, 2 * pre.crop, 4 * pre.crop]
    gen = torch.Generator().manual_seed(seed)
    result = None
    for size in sizes:
        shape = dict((r.name, r.shape) for r in layer_table(model_name, (size, size)))[layer]
        h = shape[1]
        cy = h // 2
        inputs = torch.rand(samples if size <= 2 * pre.crop else 2, pre.channels, size, size, generator=gen)
        units = (cy, min(cy + 1, h - 1))
        supports = [torch.zeros(size, size, dtype=torch.bool) for _ in units]
        for sample in inputs:  # one at a time: a batch at 4x the crop held 2.7 GB of activations for EfficientNet
            x = sample[None].requires_grad_(True)
            (acts,) = model.forward_layers(x, [layer])
            for support, unit in zip(supports, units):
                (grad,) = torch.autograd.grad(acts[:, :, unit, unit].abs().sum(), x, retain_graph=True)
                support |= grad.abs().sum(dim=(0, 1)) > 0
            del acts
        boxes = []
        for support in supports:
            rows = torch.nonzero(support.any(1)).flatten()
            cols = torch.nonzero(support.any(0)).flatten()
            if rows.numel() == 0:
                break
            boxes.append((int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1))
        if len(boxes) < 2:
            continue
        (top, left, bottom, right), (top2, _, bottom2, _) = boxes
        extent = max(bottom - top, right - left)
        if all(b[0] > 0 and b[1] > 0 and b[2] < size and b[3] < size for b in boxes):
            # both fields whole: their centres' distance is the stride, the first one's place gives the offset
            centre, centre2 = (top + bottom) / 2 - 0.5, (top2 + bottom2) / 2 - 0.5
            stride = max(1, round(centre2 - centre)) if h > 1 else size
            result = ReceptiveField(extent, stride, centre - cy * stride)
            break
        # a field cut by the border has a shifted centre: until one fits, take the stride from the map's size (a
        # padded net's map is the input over its stride) and the field centred on its unit
        stride = max(1, round(size / h))
        result = ReceptiveField(extent, stride, (stride - 1) / 2)
    if result is None:
        raise VisError(f"could not measure the receptive field of {layer}: its gradient is zero everywhere")
    _RF_CACHE[key] = result
    return result


@dataclass(frozen=True)
class Patch:
    """One maximally activating patch: which image, its activation, where in the layer's map (y, x) it peaks, the
    box (top, left, bottom, right) in the model input, and the pixels (HxWx3 RGB) resized to a common size."""

    index: int
    activation: float
    position: tuple[int, int]
    box: tuple[int, int, int, int]
    pixels: np.ndarray


def top_patches(model_name: str, model: StagedNet, images: Sequence[np.ndarray], layer: str, channel: int,
                k: int = 9, batch: int = 8,
                progress: Callable[[int, int], None] | None = None) -> tuple[list[Patch], ReceptiveField]:
    """The ``k`` images whose strongest unit of ``channel`` at ``layer`` is largest, cropped to that unit's field.

    Each image (through the model's evaluation transform) contributes its best position; patches are sorted by
    activation, largest first. A field reaching past the image's border is padded grey (:meth:`ReceptiveField.patch`),
    so every patch shows the field at one scale. ``progress(done, total)`` is called after each batch of images.

    Raises:
        UnknownNameError / VisError: unknown or non-spatial layer, channel out of range.
    """
    info = layer_info(model_name, layer, spatial=True)
    if not 0 <= channel < info.channels:
        raise VisError(f"channel {channel} is out of range: layer {layer} of {model_name} has {info.channels} channels "
                       f"(0..{info.channels - 1})")
    if k < 1:
        raise VisError(f"k must be at least 1, got {k}")
    rf = receptive_field(model_name, model, layer)
    best: list[tuple[float, int, int, int]] = []
    for start in range(0, len(images), batch):
        x = model_batch(model_name, images[start:start + batch])
        with torch.no_grad():
            (acts,) = model.forward_layers(torch.from_numpy(x), [layer])
        maps = acts[:, channel].cpu().numpy()
        for i, m in enumerate(maps):
            y, xx = np.unravel_index(int(np.argmax(m)), m.shape)
            best.append((float(m[y, xx]), start + i, int(y), int(xx)))
        if progress is not None:
            progress(start + len(maps), len(images))
    best.sort(key=lambda t: -t[0])
    winners = best[:k]  # only their inputs are made again: a folder's worth would hold 0.6 MB an image
    inputs = model_batch(model_name, [images[i] for _, i, _, _ in winners]) if winners else []
    side = max(8, min(rf.size, max(inputs[0].shape[1:]))) if winners else 8
    patches = []
    for (value, i, y, x), chosen in zip(winners, inputs):
        img = chosen.transpose(1, 2, 0)
        field = rf.patch(img, y, x)
        field = np.repeat(field, 3, axis=2) if field.shape[2] == 1 else field
        shrink = side < rf.size
        pixels = cv2.resize(field, (side, side), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        patches.append(Patch(i, value, (y, x), rf.box(y, x, *img.shape[:2]), pixels.astype(np.float32)))
    return patches, rf


def pooled_features(model_name: str, model: StagedNet, images: Sequence[np.ndarray], layer: str, batch: int = 8,
                    progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """(N, C) features of ``layer``: the global average over positions (vectors as they are for dense layers);
    ``progress(done, total)`` is called after each batch of images."""
    layer_info(model_name, layer)
    out = []
    for start in range(0, len(images), batch):
        x = torch.from_numpy(model_batch(model_name, images[start:start + batch]))
        with torch.no_grad():
            (acts,) = model.forward_layers(x, [layer])
        out.append((acts.mean(dim=(2, 3)) if acts.ndim == 4 else acts.flatten(1)).cpu().numpy())
        if progress is not None:
            progress(start + len(out[-1]), len(images))
    return np.concatenate(out).astype(np.float32)


def tsne_embedding(features: np.ndarray, perplexity: float = 30.0, seed: int = 0) -> np.ndarray:
    """(N, 2) t-SNE coordinates of (N, C) features (scikit-learn; perplexity capped below N for small sets).

    Raises:
        VisError: fewer than 3 samples.
    """
    n = len(features)
    if n < 3:
        raise VisError(f"t-SNE needs at least 3 images, got {n}")
    if not np.isfinite(features).all():
        raise VisError("the features are not all finite numbers (the weights overflow): t-SNE cannot place them")
    spread = np.ptp(features, axis=0).max()
    if spread <= 1e-6 * max(float(np.abs(features).max()), 1e-30):
        # scikit-learn's PCA start divides by the zero spread and its Barnes-Hut tree then crashes the process
        raise VisError(f"all {n} images have the same features at this layer (copies of one image?): t-SNE has "
                       f"nothing to lay out")
    from sklearn.manifold import TSNE

    tsne = TSNE(n_components=2, perplexity=tsne_perplexity(perplexity, n), init="pca" if n > 4 else "random",
                random_state=seed, learning_rate="auto")
    return tsne.fit_transform(features.astype(np.float64)).astype(np.float32)


def tsne_perplexity(asked: float, n: int) -> float:
    """The perplexity t-SNE can use on ``n`` points: at most a third of the neighbours, at least 1."""
    return max(1.0, float(min(asked, (n - 1) / 3)))
