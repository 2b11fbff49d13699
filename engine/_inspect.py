"""Looking inside a network, the weight- and activation-side: filter weights, feature maps, folders of images.

Everything here returns arrays; figures are drawn by :mod:`vis.engine._plots` and IO is the caller's.
Images reach a model through its own evaluation transform (:func:`vis.models.classification_input`: shorter side
resized, centre crop), so every command accepts images of any size, grey or RGBA, and results line up with the
model's prediction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vis._text import counted
from vis.engine._animated import is_animated
from vis.engine._folders import files_under
from vis.engine._image_array import as_rgb, quantize
from vis.engine._images import READ_IMAGE_SUFFIXES, load_image
from vis.errors import InputFileError, UnknownNameError, VisError
from vis.models import (LayerInfo, StagedNet, check_model, classification_input, layer_table, model_spec,
                        shrunk_for_evaluation)

# Stages whose computation is a plain function rather than a module: the module holding their convolution.
# Stages that are modules (nn.Conv2d, GoogLeNet's BasicConv2d, ...) are inspected instead.
CONV_OF_STAGE: dict[str, dict[str, str]] = {
    "efficientnet_lite0": {"stem": "_conv_stem", "head": "_conv_head"},
}


# --------------------------------------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class ImageSet:
    """Images found in a folder.

    Attributes:
        paths: the readable image files, sorted.
        images: each as HxWx3 uint8 RGB (``model_batch`` takes them as they are): a folder of thousands is held in
            a quarter of the memory float32 would take.
        labels: the first-level subfolder of each image ("" for images directly in the folder).
        skipped: files that are not images or could not be decoded.
        animated: the images among ``paths`` that are animations (GIF, APNG, WebP), of which the first frame is read.
    """

    paths: list[Path]
    images: list[np.ndarray]
    labels: list[str]
    skipped: list[Path] = field(default_factory=list)
    animated: list[Path] = field(default_factory=list)

    @property
    def has_labels(self) -> bool:
        return len(set(self.labels)) > 1 or any(self.labels)

    @property
    def unreadable(self) -> list[Path]:
        """The skipped files named as images, which could not be decoded (other files are no fault of the folder)."""
        return _named_as_images(self.skipped)


def _named_as_images(paths: Sequence[Path]) -> list[Path]:
    """Those of ``paths`` whose suffix is an image's."""
    return [path for path in paths if path.suffix.lower() in READ_IMAGE_SUFFIXES]


def check_image_folder(folder: str | Path) -> Path:
    """``folder`` as a Path, if it is a folder (the quick part of :func:`scan_images`, for checking before outputs).

    Raises:
        InputFileError: missing, or a file.
    """
    folder = Path(folder)
    if not folder.exists():
        raise InputFileError(f"folder not found: {folder}")
    if not folder.is_dir():
        raise InputFileError(f"expected a folder of images, got a file: {folder}")
    return folder


def scan_images(folder: str | Path, min_count: int = 1, model_name: str | None = None,
                files: Sequence[Path] | None = None,
                progress: Callable[[int, int], None] | None = None) -> ImageSet:
    """Every decodable image under ``folder`` (recursively, see :func:`files_under`); other files are skipped and
    counted. With ``model_name`` a larger image is kept shrunk as that model's evaluation transform shrinks it (a
    fraction of the memory for photos; the batch from :func:`model_batch` differs by the 8-bit rounding only); a
    smaller one is kept as it is, not enlarged (10,000 icons enlarged to 256 px took 10 GB). ``files``: the folder's
    files as :func:`files_under` lists them, where the caller has walked it already. ``progress(done, total)`` is
    called before each file (a large photo takes a while to decode) and after the last.

    Raises:
        InputFileError: ``folder`` is missing or not a folder, or holds fewer than ``min_count`` images.
    """
    folder = check_image_folder(folder)
    pre = model_spec(model_name).preprocessing if model_name is not None else None
    files = files_under(folder) if files is None else files
    report = progress or (lambda _done, _total: None)
    paths, images, labels, skipped, animated = [], [], [], [], []
    for done, path in enumerate(files, 1):
        report(done - 1, len(files))
        if path.suffix.lower() not in READ_IMAGE_SUFFIXES:
            skipped.append(path)
            continue
        try:
            image = load_image(path)
        except InputFileError:
            skipped.append(path)
            continue
        if pre is not None:
            image = shrunk_for_evaluation(image, pre)
        image = quantize(image)
        if is_animated(path):
            animated.append(path)
        rel = path.relative_to(folder)
        paths.append(path)
        images.append(image)
        labels.append(rel.parts[0] if len(rel.parts) > 1 else "")
    if files:
        report(len(files), len(files))
    if len(paths) < min_count:
        unread = len(_named_as_images(skipped))
        why = [f"{unread} could not be read"] if unread else []
        why += [f"{counted(len(skipped) - unread, 'other file')} skipped"] if len(skipped) > unread else []
        why_text = f" ({'; '.join(why)})" if why else ""
        raise InputFileError(
            f"{folder} holds {counted(len(paths), 'image')}{why_text}; "
            f"need at least {min_count} ({', '.join(sorted(READ_IMAGE_SUFFIXES))})"
        )
    return ImageSet(paths, images, labels, skipped, animated)


def model_batch(model_name: str, images: Sequence[np.ndarray]) -> np.ndarray:
    """HxWx3 RGB images of any sizes (float in [0, 1], or uint8 as :func:`scan_images` keeps them; grey and RGBA
    are converted, see :func:`vis.engine._image_array.as_rgb`) -> the (N, C, S, S) float32 batch of the model's
    evaluation transform. One image may be given alone."""
    pre = model_spec(model_name).preprocessing
    if isinstance(images, np.ndarray) and images.ndim in (2, 3):
        images = [images]
    if not len(images):
        raise VisError("no images given")
    return np.concatenate([classification_input(as_rgb(im), pre) for im in images], axis=0)


def display_image(batch_item: np.ndarray) -> np.ndarray:
    """(C, H, W) model input -> HxWx3 RGB for figures (grey replicated)."""
    img = np.asarray(batch_item).transpose(1, 2, 0)
    return np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img


def layer_info(model_name: str, layer: str, spatial: bool = False) -> LayerInfo:
    """The table row of ``layer`` at the model's crop size.

    Raises:
        UnknownNameError: not a layer of the model (the message lists the closest ones).
        VisError: ``spatial`` was asked and the layer has no (C, H, W) output.
    """
    table = layer_table(model_name)
    rows = {r.name: r for r in table}
    if layer not in rows:
        raise UnknownNameError(f"layer of {model_name}", layer, rows)
    row = rows[layer]
    if spatial and len(row.shape) != 3:
        maps = [r.name for r in table if len(r.shape) == 3]
        raise VisError(f"layer {layer} of {model_name} has no spatial maps (output shape {row.shape}); "
                       f"spatial layers: {', '.join(maps)}")
    return row


# -------------------------------------------------------------------------------------------------------- filters


def conv_layers(model_name: str, model: StagedNet) -> dict[str, nn.Conv2d]:
    """The layers of ``model`` that are one convolution, by layer name (in forward order)."""
    table = CONV_OF_STAGE.get(model_name, {})
    found: dict[str, nn.Conv2d] = {}
    for stage in model.stages():
        if stage.name in table:
            found[stage.name] = model.get_submodule(table[stage.name])  # type: ignore[assignment]
        elif isinstance(stage.fn, nn.Module):
            convs = [m for m in stage.fn.modules() if isinstance(m, nn.Conv2d)]
            if len(convs) == 1:
                found[stage.name] = convs[0]
    return found


def filter_weights(model_name: str, model: StagedNet, layer: str) -> np.ndarray:
    """The raw weights (O, I / groups, kh, kw) of the convolution of ``layer``.

    Raises:
        UnknownNameError: not a layer of the model.
        VisError: the layer is not a single convolution (the message lists those that are).
    """
    layer_info(model_name, layer)
    convs = conv_layers(model_name, model)
    if layer not in convs:
        raise VisError(f"layer {layer} of {model_name} is not a single convolution; layers with filters: "
                       f"{', '.join(list(convs)[:30])}")
    return convs[layer].weight.detach().cpu().numpy().astype(np.float32)


def normalize_filters(weights: np.ndarray) -> np.ndarray:
    """Min-max normalise each filter (over its inputs and kernel) to [0, 1]; constant filters become 0.5."""
    flat = weights.reshape(weights.shape[0], -1)
    lo, hi = flat.min(1, keepdims=True), flat.max(1, keepdims=True)
    span = hi - lo
    out = np.where(span > 0, (flat - lo) / np.where(span > 0, span, 1.0), 0.5)
    return out.reshape(weights.shape).astype(np.float32)


# --------------------------------------------------------------------------------------------------- feature maps


def feature_maps(model_name: str, model: StagedNet, images: Sequence[np.ndarray], layer: str,
                 channels: Sequence[int] | None = None) -> np.ndarray:
    """Activations of ``layer`` for each image: (N, len(channels), h, w) float32 (all channels when None).

    Raises:
        UnknownNameError / VisError: unknown or non-spatial layer, channel out of range.
    """
    check_model(model_name, model)
    info = layer_info(model_name, layer, spatial=True)
    chosen = list(range(info.channels)) if channels is None else list(channels)
    bad = [c for c in chosen if not 0 <= c < info.channels]
    if bad:
        raise VisError(f"channel {bad[0]} is out of range: layer {layer} has {info.channels} channels")
    batch = torch.from_numpy(model_batch(model_name, images))
    with torch.no_grad():
        (acts,) = model.forward_layers(batch, [layer])
    return acts[:, chosen].cpu().numpy().astype(np.float32)
