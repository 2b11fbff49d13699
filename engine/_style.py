"""Neural style transfer with VGG-19 (thesis chapter 4.2).

Gatys, Ecker & Bethge 2015/2016, "A Neural Algorithm of Artistic Style", https://arxiv.org/abs/1508.06576 and
"Image Style Transfer Using Convolutional Neural Networks" (CVPR 2016). Colour preservation by luminance-only
transfer: Gatys et al. 2016, "Preserving Color in Neural Artistic Style Transfer", https://arxiv.org/abs/1606.05897

Losses, with the thesis's normalisations, for a layer of n_F channels and n_H x n_W positions:

* content: ``J_c = sum((a_C - a_G)^2) / (4 n_H n_W n_F)``
* style, per layer: ``J_s^l = sum((G_S - G_G)^2) / (4 n_F^2 (n_H n_W)^2)`` with ``G = A^T A``, A the
  (n_H n_W) x n_F activation matrix. Grams are divided by their own n_H n_W before the difference, which is the
  same when the style and generated images have one size and stays correct when they do not.
* style: ``J_s = sum_l lambda_l J_s^l``; total variation ``J_tv`` = mean |horizontal| + |vertical| pixel difference;
* total: ``J = alpha J_c + beta J_s + tv J_tv``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from vis._text import counted
from vis.engine._style_config import INITS, OPTIMIZERS, StyleConfig
from vis.engine._torch_device import torch_device
from vis.errors import UnknownNameError, VisError

@dataclass(frozen=True)
class StyleProgress:
    """One loss evaluation: weighted losses (content = alpha J_c, style = beta J_s, tv) and where the run is."""

    scale: int
    scales: int
    size: tuple[int, int]
    iteration: int
    iterations: int
    content: float
    style: float
    tv: float

    @property
    def total(self) -> float:
        return self.content + self.style + self.tv


MIN_SIDE = 16  # the smallest output or style image side: four poolings leave VGG-19 a map of 1
MAX_SIDE = 4096  # the largest output or style image side: VGG-19's activations grow with the area
MAX_LR = 1e3  # 1e38 overflowed Adam's first step into a traceback; above 1 a pixel saturates at once
MAX_WEIGHT = 1e12  # loss weights: 1e40 overflowed the float32 loss into inf and wrote a black image


def check_config(config: StyleConfig, n_styles: int) -> None:
    """Raise :class:`VisError` for settings that cannot run (before any slow work)."""
    if config.optimizer not in OPTIMIZERS:
        raise UnknownNameError("optimizer", config.optimizer, OPTIMIZERS)
    if config.init not in INITS:
        raise UnknownNameError("init", config.init, INITS)
    if config.iterations < 1:
        raise VisError(f"--iterations must be positive, got {config.iterations}")
    if not 0 < config.lr <= MAX_LR:  # NaN fails too
        raise VisError(f"--lr must be above 0 and at most {MAX_LR:g} (Adam moves a pixel of 0..1 by about lr a step), "
                       f"got {config.lr:g}")
    torch_device(config.device)
    scales = config.resolved_scales()
    if any(s < MIN_SIDE for s in scales):
        raise VisError(f"--size and --scales must be at least {MIN_SIDE} pixels, got {scales}")
    if any(b <= a for a, b in zip(scales, scales[1:])):
        raise VisError(f"--scales go from coarse to fine: each larger than the one before, got {scales}")
    if not (math.isfinite(config.style_scale) and config.style_scale > 0):
        raise VisError(f"--style-scale must be a positive number, got {config.style_scale}")
    if round(min(scales) * config.style_scale) < MIN_SIDE:
        least = math.ceil(MIN_SIDE / min(scales) * 100) / 100  # rounded up: a value shown rounded down fails again
        raise VisError(f"--style-scale {config.style_scale:g} makes the style image {round(min(scales) * config.style_scale)}"
                       f" px at {min(scales)} px: give at least {least:g} (VGG-19 needs {MIN_SIDE} px)")
    largest = max(max(scales), round(max(scales) * config.style_scale))
    if largest > MAX_SIDE:
        raise VisError(f"a side of {largest} px (output or style image at --style-scale) is above {MAX_SIDE}: VGG-19's "
                       f"activations there need more memory than most machines have")
    weights = [("--content-weight", config.content_weight), ("--style-weight", config.style_weight),
               ("--tv-weight", config.tv_weight), *(("--layer-weights", w) for w in config.layer_weights or ())]
    for flag, value in weights:
        if not (math.isfinite(value) and 0 <= value <= MAX_WEIGHT):
            raise VisError(f"{flag} must be a number from 0 to {MAX_WEIGHT:g}, got {value:g}")
    if not config.style_layers:
        raise VisError("at least one style layer is needed")
    twice = next((name for k, name in enumerate(config.style_layers) if name in config.style_layers[:k]), None)
    if twice is not None:
        raise VisError(f"style layer {twice} is named twice: weigh layers with --layer-weights instead")
    if config.layer_weights is not None and len(config.layer_weights) != len(config.style_layers):
        raise VisError(
            f"{counted(len(config.layer_weights), 'layer weight')} for {counted(len(config.style_layers), 'style layer')} "
            f"({', '.join(config.style_layers)})"
        )
    if n_styles < 1:
        raise VisError("at least one style image is needed")
    if config.style_blend is not None:
        if len(config.style_blend) != n_styles:
            raise VisError(f"{counted(len(config.style_blend), 'style weight')} for {counted(n_styles, 'style image')}")
        if not all(math.isfinite(w) and w >= 0 for w in config.style_blend) or sum(config.style_blend) <= 0:
            raise VisError(f"style weights must be finite, non-negative and with a positive sum, got "
                           f"{config.style_blend}")
    # Settings under which the optimiser has nothing to do (they ran and wrote the start image back).
    if config.content_weight == 0 and config.style_weight == 0:
        raise VisError("--content-weight and --style-weight are both 0: there is nothing to optimise "
                       "(give one of them a positive weight)")
    if config.layer_weights is not None and config.style_weight > 0 and not any(config.layer_weights):
        raise VisError("--layer-weights are all 0, which turns the style loss off: give a layer a positive weight "
                       "(or use --style-weight 0 for no style)")
    if config.style_weight == 0 and config.tv_weight == 0 and config.init == "content":
        raise VisError("with --style-weight 0 and --tv-weight 0, --init content starts at the optimum and writes the "
                       "content back: give a --style-weight, or reconstruct the content with --init noise")


def check_layers(config: StyleConfig, model_name: str = "vgg19") -> None:
    """Raise for layers that ``model_name`` lacks, and for style layers without spatial maps (a Gram matrix needs
    positions); from the layer table, without building the model."""
    from vis.errors import UnknownNameError
    from vis.models import layer_table

    table = {row.name: row for row in layer_table(model_name)}
    for name in (config.content_layer, *config.style_layers):
        if name not in table:
            raise UnknownNameError(f"layer of {model_name}", name, table)
    for name in config.style_layers:
        if len(table[name].shape) != 3:
            raise VisError(f"style layer {name} has no spatial maps (its output is {table[name].shape}); a Gram "
                           "matrix needs a convolution layer, e.g. relu4_1")


def resize_long_side(image: np.ndarray, long_side: int) -> np.ndarray:
    """Resize HxWxC so that max(H, W) == ``long_side``, keeping the aspect ratio (area filter when shrinking)."""
    h, w = image.shape[:2]
    scale = long_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size == (w, h):
        return image.copy()
    out = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    return out.reshape(size[1], size[0], *image.shape[2:]).clip(0.0, 1.0)


def rgb_to_ycrcb(image: np.ndarray) -> np.ndarray:
    """HxWx3 RGB [0, 1] -> HxWx3 (Y, Cr, Cb), Y in [0, 1], chroma centred on 0.5."""
    return cv2.cvtColor(np.ascontiguousarray(image, dtype=np.float32), cv2.COLOR_RGB2YCrCb)


def ycrcb_to_rgb(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(image, dtype=np.float32), cv2.COLOR_YCrCb2RGB).clip(0.0, 1.0)


def _luminance(image: np.ndarray, like: np.ndarray | None = None) -> np.ndarray:
    """Y as HxWx3 (grey RGB); with ``like``, its mean and std matched to the Y of ``like`` (Gatys et al. 2016)."""
    y = rgb_to_ycrcb(image)[..., 0]
    if like is not None:
        ref = rgb_to_ycrcb(like)[..., 0]
        y = (y - y.mean()) / (y.std() + 1e-6) * ref.std() + ref.mean()
    return np.repeat(y.clip(0.0, 1.0)[..., None], 3, axis=2)


def _features(model: torch.nn.Module, image: np.ndarray, layers: list[str], what: str, device: torch.device) -> list[torch.Tensor]:
    """The model's ``layers`` for ``image``; an image too small for them is a :class:`VisError` naming its size and
    the layers that get no pixel."""
    x = _to_tensor(image, device)
    try:
        return model.forward_layers(x, layers)
    except RuntimeError as e:
        if "too small" not in str(e):
            raise
        alive = _layers_with_pixels(model, x)
        empty = [n for n in dict.fromkeys(layers) if n not in alive] or layers
        h, w = image.shape[:2]
        raise VisError(f"{what} at {w}x{h} px is too small for {', '.join(empty)} (the pooling leaves no pixel): "
                       "use a larger --size (or --scales, --style-scale) or shallower layers") from None


def _layers_with_pixels(model: torch.nn.Module, x: torch.Tensor) -> set[str]:
    """The stages whose output for ``x`` is not empty: the walk stops at the pooling that leaves no pixel (torch
    raises there), so only the layers at and past it are blamed."""
    alive: set[str] = set()
    h = model.normalize(x)
    try:
        for stage in model.stages():
            h = stage.fn(h)
            if h.numel() == 0:
                break
            alive.add(stage.name)
    except RuntimeError:
        pass
    return alive


def gram(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix divided by positions: (1, C, H, W) -> (C, C) = A^T A / (H W)."""
    _, c, h, w = features.shape
    a = features.reshape(c, h * w)
    return (a @ a.t()) / (h * w)


def content_loss(generated: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Thesis: sum((a_C - a_G)^2) / (4 n_H n_W n_F)."""
    return ((generated - target) ** 2).sum() / (4 * generated[0].numel())


def style_layer_loss(generated: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """Thesis eq. (2): sum((G_S - G_G)^2) / (4 n_F^2 (n_H n_W)^2), with grams already divided by n_H n_W."""
    c = generated.shape[1]
    return ((gram(generated) - target_gram) ** 2).sum() / (4 * c * c)


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of horizontal plus vertical neighbours, (N, C, H, W)."""
    return (image[..., :, 1:] - image[..., :, :-1]).abs().mean() + (image[..., 1:, :] - image[..., :-1, :]).abs().mean()


def _to_tensor(image: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32))[None].to(device)


def style_transfer(
    content: np.ndarray,
    styles: Sequence[np.ndarray],
    config: StyleConfig = StyleConfig(),
    model: torch.nn.Module | None = None,
    progress: Callable[[StyleProgress], None] | None = None,
) -> np.ndarray:
    """Paint ``content`` in the style of ``styles`` (Gatys et al.), optionally coarse to fine.

    Args:
        content: HxWx3 float RGB in [0, 1].
        styles: one or more HxWx3 float RGB images in [0, 1], any sizes; their Gram targets are blended.
        config: the settings.
        model: a VGG-style ``StagedNet`` with the configured layer names; ``None``: ``get_model("vgg19",
            config.weights)``. Its parameters are not changed.
        progress: called after every loss evaluation with the weighted losses.

    Returns:
        The stylised image, HxWx3 float32 RGB in [0, 1], with the content's aspect ratio and long side equal to the
        last scale.

    Raises:
        VisError: bad settings (unknown optimizer/init, mismatched weights); UnknownNameError for bad layers;
            WeightsUnavailableError when the VGG-19 weights cannot be had.
    """
    check_config(config, len(styles))
    device = torch_device(config.device)
    if model is None:
        from vis.models import get_model

        model = get_model("vgg19", weights=config.weights)
    model = model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    report = progress or (lambda _p: None)
    n_layers = len(config.style_layers)
    lambdas = config.layer_weights or (1.0 / n_layers,) * n_layers
    blend = np.asarray(config.style_blend or (1.0,) * len(styles), dtype=np.float64)
    blend = blend / blend.sum()
    layers = [config.content_layer, *config.style_layers]

    content = np.asarray(content, dtype=np.float32).clip(0.0, 1.0)
    scales = config.resolved_scales()
    result = np.empty((0, 0, 3), dtype=np.float32)
    for k, long_side in enumerate(scales):
        try:
            content_target, grams, start = _scale_targets(model, content, styles, config, k, long_side, blend, result,
                                                          device)
        except KeyboardInterrupt:  # between two scales: the finished one is kept
            if k == 0:
                raise
            raise StyleInterrupted(_finished(result, content, config), f"the start of scale {k + 1}/{len(scales)} "
                                   f"(scale {k} finished)") from None
        h, w = start.shape[:2]
        image = _to_tensor(start, device).requires_grad_(True)

        count = 0

        def closure() -> torch.Tensor:
            nonlocal count
            count += 1
            optimizer.zero_grad()
            x = image.mean(dim=1, keepdim=True).expand(-1, 3, -1, -1) if config.preserve_colors else image
            outs = model.forward_layers(x, layers)
            jc = config.content_weight * content_loss(outs[0], content_target)
            js = config.style_weight * sum(lam * style_layer_loss(f, g) for lam, f, g in zip(lambdas, outs[1:], grams))
            jtv = config.tv_weight * tv_loss(image)
            total = jc + js + jtv
            total.backward()
            report(StyleProgress(k + 1, len(scales), (h, w), min(count, config.iterations), config.iterations,
                                 float(jc.detach()), float(js.detach()), float(jtv.detach())))
            return total

        try:
            if config.optimizer == "lbfgs":
                optimizer: torch.optim.Optimizer = torch.optim.LBFGS(
                    [image], lr=1.0, max_iter=config.iterations, max_eval=config.iterations,
                    tolerance_grad=-1.0, tolerance_change=-1.0, history_size=100,
                )
                optimizer.step(closure)
            else:
                optimizer = torch.optim.Adam([image], lr=config.lr)
                for _ in range(config.iterations):
                    optimizer.step(closure)
                    with torch.no_grad():
                        image.clamp_(0.0, 1.0)
        except KeyboardInterrupt:
            where = f"scale {k + 1}/{len(scales)}, iteration {min(count, config.iterations)}/{config.iterations}"
            raise StyleInterrupted(_finished(_as_image(image), content, config), where) from None
        result = _as_image(image)
    return _finished(result, content, config)


def _scale_targets(model: torch.nn.Module, content: np.ndarray, styles: Sequence[np.ndarray], config: StyleConfig,
                   k: int, long_side: int, blend: np.ndarray, result: np.ndarray,
                   device: torch.device) -> tuple[torch.Tensor, list[torch.Tensor], np.ndarray]:
    """Scale ``k``'s content features, blended style Grams and starting image (the content or noise at the first
    scale, the previous ``result`` resized after)."""
    n_layers = len(config.style_layers)
    layers = [config.content_layer, *config.style_layers]
    content_s = resize_long_side(content, long_side)
    h, w = content_s.shape[:2]
    style_side = round(long_side * config.style_scale)
    styles_s = [resize_long_side(np.asarray(s, dtype=np.float32).clip(0.0, 1.0), style_side) for s in styles]
    if config.preserve_colors:
        styles_s = [_luminance(s, like=content_s) for s in styles_s]
        content_net = _luminance(content_s)
    else:
        content_net = content_s
    with torch.no_grad():
        # the image being painted has the content's size and passes every layer: check them all on it
        content_target = _features(model, content_net, layers, "the content", device)[0]
        grams = [torch.zeros(1, device=device)] * n_layers  # broadcasts to C x C on the first add
        for weight, style in zip(blend, styles_s):
            feats = _features(model, style, list(config.style_layers), "a style image", device)
            for name, f in zip(config.style_layers, feats):
                if f.dim() != 4:
                    raise VisError(f"style layer {name} has no spatial maps (its output is {tuple(f.shape[1:])}); "
                                   "a Gram matrix needs a convolution layer, e.g. conv4_1")
            grams = [g + float(weight) * gram(f) for g, f in zip(grams, feats)]

    if k == 0:
        if config.init == "content":
            start = content_net
        else:
            rng = np.random.default_rng(config.seed)
            start = rng.random((h, w, 3), dtype=np.float32)
            if config.preserve_colors:
                start = np.repeat(start.mean(axis=2, keepdims=True), 3, axis=2)
    else:
        start = cv2.resize(result, (w, h), interpolation=cv2.INTER_CUBIC).clip(0.0, 1.0)
    return content_target, grams, start


class StyleInterrupted(KeyboardInterrupt):
    """Ctrl-C during style transfer, carrying the image as far as it got (``where``: scale and iteration)."""

    def __init__(self, image: np.ndarray, where: str):
        super().__init__(where)
        self.image, self.where = image, where


def _as_image(image: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        out = image.detach().clamp(0.0, 1.0)[0].permute(1, 2, 0).cpu().numpy()
    return np.ascontiguousarray(out, dtype=np.float32)


def _finished(result: np.ndarray, content: np.ndarray, config: StyleConfig) -> np.ndarray:
    """The optimised image as the user gets it: with the content's colours when they are preserved."""
    if not config.preserve_colors:
        return result
    ycc = rgb_to_ycrcb(resize_long_side(content, max(result.shape[:2])))  # the size that scale was dreamed at
    ycc[..., 0] = result.mean(axis=2)
    return ycrcb_to_rgb(ycc)
