"""Settings of neural style transfer (``vis style``), apart from the torch code so the CLI reads its defaults
without importing torch."""

from __future__ import annotations

from dataclasses import dataclass

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise")


@dataclass(frozen=True)
class StyleConfig:
    """Settings of :func:`style_transfer`: layers, size, iterations and L-BFGS after neural-style-pt; losses after the
    thesis (content over 4 nH nW nF, style over 4 nF^2 (nH nW)^2), plus a mean absolute total variation against
    pixel noise, which the thesis has not (neural-style-pt has one), on torchvision's normalised input, so alpha,
    beta and the TV weight are on that scale, not neural-style-pt's 5 / 100 / 1e-3 (its Caffe
    input is ~57x larger: a Gram term grows with its 4th power, a content term with its square).

    Attributes:
        size: long side of the output in pixels (ignored when ``scales`` is given).
        scales: long sides of a coarse-to-fine run, e.g. ``(256, 512)``; each scale starts from the previous
            result upsampled.
        iterations: optimiser iterations per scale (L-BFGS: loss evaluations).
        optimizer: ``"lbfgs"`` or ``"adam"``.
        lr: Adam's learning rate on pixels in [0, 1] (L-BFGS uses step 1).
        init: ``"content"`` or ``"noise"`` (seeded uniform noise).
        content_layer: the layer whose activations keep the content.
        style_layers: the layers whose Gram matrices carry the style.
        layer_weights: lambda per style layer; ``None``: equal weights summing to 1.
        content_weight: alpha.
        style_weight: beta.
        tv_weight: weight of the total variation loss.
        style_blend: weight per style image (normalised to sum 1); ``None``: equal.
        style_scale: size of the style images relative to the output's long side.
        preserve_colors: transfer luminance only (YCrCb) and keep the content's colours.
        weights: VGG-19 weights, as ``get_model`` takes them.
        seed: seed of the noise start.
        device: ``None`` picks CUDA when available.
    """

    size: int = 512
    scales: tuple[int, ...] = ()
    iterations: int = 1000
    optimizer: str = "lbfgs"
    lr: float = 0.02
    init: str = "content"
    content_layer: str = "relu4_2"
    style_layers: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    layer_weights: tuple[float, ...] | None = None
    content_weight: float = 5.0
    style_weight: float = 1000.0
    tv_weight: float = 1.0
    style_blend: tuple[float, ...] | None = None
    style_scale: float = 1.0
    preserve_colors: bool = False
    weights: str = "imagenet"
    seed: int = 0
    device: str | None = None

    def resolved_scales(self) -> tuple[int, ...]:
        return tuple(self.scales) or (self.size,)
