"""Activation maximisation: channel, neuron, layer and class images (batched units: :mod:`vis.engine._atlas`).

Two recipes, one loop:

- ``param="pixel"`` (the thesis, chapter 4.1.1, and the class-maximisation lecture): start from grey with a little
  coloured noise, ascend with normalised steps (``step / mean |g|``) and random jitter through several upscaling
  stages (optimise at the smallest scale, upscale, continue); L2 decay, total variation and an occasional blur
  keep the image clean.
- ``param="fft"`` (lucid): a 1/f-scaled Fourier spectrum with decorrelated colour and a sigmoid, optimised by Adam
  (lr 0.05) under lucid's transformation robustness (pad 12, jitter 8, scale 0.9-1.1, rotate -10..10, jitter 4).
  Olah et al., "Feature Visualization", Distill 2017, https://distill.pub/2017/feature-visualization/

Objectives are maximised. The loops only need ``backend.gradient(image) -> (value, grad)``, so they run on the ORT
graphs (default) or the torch reference alike. Nothing is printed: progress goes through a callback.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields

import cv2
import numpy as np
import torch

from vis._step import STEP_EPS
from vis._text import comma_list
from vis.engine._backend import Backend
from vis.engine._param import FFTImage, Transforms, grey_noise_image, total_variation_grad
from vis.engine._predict import Prediction, top_classes
from vis.errors import UnknownNameError, VisError
from vis.exporters._objective_spec import check_neuron_positions
from vis.exporters._objectives import ClassObjective, Objective
from vis.models import StagedNet, model_spec, to_channels

PARAMS = ("pixel", "fft")
OPTIMIZERS = ("normalized", "adam")
MAX_LR = 1e3  # as style's: far past any useful rate, short of the overflows that come later
# The upscaling ladder, as fractions of the final size (56, 80, 112, 160, 224 for 224).
SCALE_LADDER = (0.25, 0.36, 0.5, 0.71, 1.0)


class MaximizeError(VisError):
    """Bad maximisation settings (scales, channels, layer); the message names the offending value."""


@dataclass(frozen=True)
class MaximizeConfig:
    """Every setting of :func:`maximize`, with its default; :meth:`for_model` adds the per-model defaults.

    Attributes:
        param: ``"pixel"`` (the thesis: pixels from grey + noise, upscaling stages) or ``"fft"`` (lucid).
        scales: image sizes of the upscaling stages, ascending; the last is the output size. ``fft`` uses only
            the last.
        iterations: ascent steps per scale; ``None``: 16 per scale for ``pixel``, 512 for ``fft`` (lucid's
            ``render_vis``, the thesis's listing 5.2).
        optimizer: ``"normalized"`` (x += step * g / mean|g|) or ``"adam"``; ``None``: normalized for ``pixel``,
            Adam for ``fft``.
        step: normalised step size, in pixel units of [0, 1] per mean |g|.
        lr: Adam learning rate (lucid: 0.05 on the FFT parameters).
        jitter: ``pixel``: random roll of up to this many pixels each step (``fft`` uses ``transforms``).
        noise: width of the uniform colour noise around grey 0.5 at the start (``pixel``).
        l2_decay: ``pixel``: pull toward grey each step, x <- 0.5 + (x - 0.5)(1 - l2_decay); ``fft``: weight of
            sum((x - 0.5)^2) per image, subtracted from the objective.
        tv: weight of total variation (mean squared neighbour difference) subtracted from the objective.
        blur_every: ``pixel``: Gaussian blur of sigma ``blur_sigma`` every this many steps (0: never).
        blur_sigma: sigma of that blur, in pixels.
        transforms: ``fft``: lucid's transformation robustness (``None``: none).
        channels: image channels the model takes (1 for LeNet-5); outputs are always HxWx3.
        fixed_size: the objective needs the model's exact input size (a classifier head on a fixed-size model).
        seed: seeds the start image, jitter and transforms: the same seed gives the same image.
    """

    param: str = "pixel"
    scales: tuple[int, ...] = (56, 80, 112, 160, 224)
    iterations: int | None = None
    optimizer: str | None = None
    step: float = 0.02
    lr: float = 0.05
    jitter: int = 8
    noise: float = 0.1
    l2_decay: float = 0.002
    tv: float = 0.0
    blur_every: int = 4
    blur_sigma: float = 1.0
    transforms: Transforms | None = field(default_factory=Transforms)
    channels: int = 3
    fixed_size: bool = False
    seed: int = 0

    @property
    def steps(self) -> int:
        """Ascent steps per scale."""
        if self.iterations is not None:
            return self.iterations
        return 512 if self.param == "fft" else 16

    @property
    def method(self) -> str:
        """The optimiser actually used."""
        return self.optimizer or ("adam" if self.param == "fft" else "normalized")

    @property
    def size(self) -> int:
        """Output size (the last scale)."""
        return self.scales[-1]

    def validate(self, min_size: int = 1) -> "MaximizeConfig":
        """Raise :class:`MaximizeError` for settings no loop can run; return ``self``."""
        if self.param not in PARAMS:
            raise UnknownNameError("parameterisation", self.param, PARAMS)
        if self.optimizer is not None and self.optimizer not in OPTIMIZERS:
            raise UnknownNameError("optimizer", self.optimizer, OPTIMIZERS)
        check_scales(self.scales, min_size)
        # each setting is named as its option is, so a message names only what the user got wrong
        for name, value in (("--iterations", self.steps), ("--jitter", self.jitter), ("--blur-every", self.blur_every)):
            if value < 0:
                raise MaximizeError(f"{name} must not be negative, got {value}")
        for name, value in (("--step", self.step), ("--lr", self.lr)):
            if not (value > 0 and math.isfinite(value)):
                raise MaximizeError(f"{name} must be a positive number, got {value:g}")
        for name, value in (("--tv", self.tv), ("--l2", self.l2_decay)):
            if not (value >= 0 and math.isfinite(value)):
                raise MaximizeError(f"{name} must be a finite number >= 0, got {value:g}")
        if self.lr > MAX_LR:  # as in style: Adam moves a value by about lr a step, and these live near 0..1
            raise MaximizeError(f"--lr must be at most {MAX_LR:g} (Adam moves a pixel of 0..1, or an fft coefficient, "
                                f"by about lr a step), got {self.lr:g}")
        if self.param == "pixel" and self.l2_decay >= 1:
            raise MaximizeError(f"--l2 is the fraction of the way to grey each step for --param pixel, below 1 (at 1 "
                                f"every step ends on plain grey), got {self.l2_decay:g}")
        if self.method == "normalized" and self.step > 1:
            raise MaximizeError(f"--step is the mean pixel change per step on the 0..1 scale (0.02 is 5 of 255), at "
                                f"most 1; {self.step:g} would push most pixels to black or white")
        return self

    @classmethod
    def for_model(cls, model_name: str, objective: Objective | None = None, size: int | None = None,
                  **overrides: object) -> "MaximizeConfig":
        """The defaults for ``model_name`` (and ``objective``), then ``overrides`` whose value is not ``None``.

        Order: the class defaults, then :data:`MODEL_DEFAULTS`, then a scale ladder for ``size`` (the model's
        input size when ``None``), then the overrides. Objectives that need the model's fixed input size (a
        classifier head on VGG-19 or LeNet-5) optimise at that size only, as the thesis does for its dragonfly.

        Raises:
            MaximizeError: bad scales or size, or scales other than the fixed size where one is needed.
            ObjectiveError: a neuron position outside its layer's map at one of the sizes.
            UnknownNameError: unknown model, parameterisation or optimiser.
        """
        spec = model_spec(model_name)
        pre = spec.preprocessing
        known = {f.name for f in fields(cls)}
        given = {k: v for k, v in overrides.items() if v is not None}
        unknown = set(given) - known
        if unknown:
            raise TypeError(f"unknown MaximizeConfig fields: {sorted(unknown)}")
        values: dict[str, object] = {"channels": pre.channels, **MODEL_DEFAULTS.get(model_name, {})}
        fixed = bool(objective is not None and objective.layers() and not spec.dynamic_size(list(objective.layers())))
        if fixed:
            if size is not None and size != pre.crop:
                raise MaximizeError(f"this objective on {model_name} needs {pre.crop}x{pre.crop} images, not --size {size}")
            if "scales" in given and any(s != pre.crop for s in given["scales"]):  # type: ignore[union-attr]
                raise MaximizeError(
                    f"this objective on {model_name} needs {pre.crop}x{pre.crop} images: its classifier has a fixed "
                    f"input size, so --scales must be {pre.crop} (got {','.join(map(str, given['scales']))})")  # type: ignore[arg-type]
            values.update(scales=(pre.crop,), fixed_size=True)
        elif "scales" in given:
            if size is not None and given["scales"] and given["scales"][-1] != size:  # type: ignore[index]
                raise MaximizeError(f"--size {size} disagrees with the last of --scales ({given['scales'][-1]})")  # type: ignore[index]
        elif size is not None or "scales" not in values:
            final = size or pre.crop
            if final < pre.min_size:
                raise MaximizeError(f"{model_name} needs images of at least {pre.min_size}x{pre.min_size}, got --size {final}")
            values["scales"] = ladder(final, max(pre.min_size, LADDER_FLOOR.get(model_name, 0)))
        values.update(given)
        config = cls(**values).validate(pre.min_size).refuse_unused(given)  # type: ignore[arg-type]
        if objective is not None:
            # an out-of-range neuron position reads an empty slice in the graph, a silent 0: check every size now
            sizes = config.scales if config.param == "pixel" else config.scales[-1:]
            check_neuron_positions(objective, model_name, [(s, s) for s in sizes])
        return config

    def refuse_unused(self, given: Mapping[str, object]) -> "MaximizeConfig":
        """Raise :class:`MaximizeError` for a setting in ``given`` that this recipe would ignore (a step size for
        Adam, a learning rate for normalised steps, upscaling stages, a blur or normalised steps under ``fft``);
        return ``self``."""
        if self.param == "fft" and self.method != "adam":
            raise MaximizeError("--param fft is optimised by Adam (its step size is --lr); --optimizer normalized is "
                                "for --param pixel")
        if self.param == "fft" and "scales" in given:
            raise MaximizeError("--scales is for --param pixel (upscaling stages); fft optimises at one size: use "
                                "--size")
        if self.param == "fft" and given.get("blur_every"):
            raise MaximizeError("--blur-every blurs --param pixel images; fft's spectrum is smooth by construction "
                                "and its transforms take that role")
        if "step" in given and self.method == "adam":
            raise MaximizeError(f"--step sizes normalised steps; {'--param fft' if self.param == 'fft' else '--optimizer adam'} "
                                "uses Adam, whose step size is --lr")
        if "lr" in given and self.method != "adam":
            raise MaximizeError("--lr is Adam's learning rate; normalised steps (--param pixel's default) are sized by "
                                "--step, or add --optimizer adam")
        return self


# Per-model defaults that give clean images (merged over the class defaults by MaximizeConfig.for_model).
MODEL_DEFAULTS: dict[str, dict[str, object]] = {
    # 28x28 digits through a fixed-size classifier: one scale, no jitter (the net has no translation slack).
    # The ImageNet models use the class defaults (measured: EfficientNet-Lite0 class images, 5 classes x seeds 0-3,
    # median probability 0.97, 18 of 20 top 1).
    "lenet5": {"scales": (28,), "jitter": 0, "iterations": 200, "step": 0.01, "blur_every": 0, "l2_decay": 0.0},
}


# Smallest first stage of a model's scale ladder, where it is above the smallest input the model accepts. At 32 px
# EfficientNet-Lite0's last maps are 1x1 and nearly every unit of its ImageNet head is negative there, so ReLU6
# gives 0: a class's gradient is 20-50x weaker than at 36-40 px (measured on noise, 6 seeds), mostly what a few
# border pixels make, and the stage would leave the noise much as it was. 40 is the next multiple of 8, as the
# ladder rounds.
LADDER_FLOOR: dict[str, int] = {"efficientnet_lite0": 40}


def ladder(final: int, min_size: int = 1) -> tuple[int, ...]:
    """The upscaling stages ending at ``final``: :data:`SCALE_LADDER` rounded to multiples of 8, leaving out a stage
    within 8 px of ``final`` (32 before 33 is one more resize and no coarser detail)."""
    sizes = [max(min_size, int(round(final * f / 8.0)) * 8) for f in SCALE_LADDER[:-1]]
    return tuple(sorted(set(s for s in sizes if s <= final - 8))) + (final,)


def check_scales(scales: Sequence[int], min_size: int = 1) -> tuple[int, ...]:
    """Validate upscaling stages: positive integers >= ``min_size``, ascending."""
    scales = tuple(scales)
    if not scales:
        raise MaximizeError("--scales is empty: give sizes like 56,80,112,160,224")
    if any(not isinstance(s, (int, np.integer)) or s < min_size for s in scales):
        raise MaximizeError(f"--scales must be integers of at least {min_size}, got {','.join(map(str, scales))}")
    if max(scales) > MAX_SCALE:
        raise MaximizeError(f"sizes above {MAX_SCALE} px are refused (got {max(scales)}): the gradient of a larger image "
                            f"needs more memory than most machines have")
    if any(b <= a for a, b in zip(scales, scales[1:])):
        raise MaximizeError(f"--scales must ascend (optimise small, then upscale), got {','.join(map(str, scales))}")
    return scales


MAX_SCALE = 4096  # far past any of the models' training sizes; the gradient's memory grows with the area


def parse_scales(text: str) -> tuple[int, ...]:
    """``"56,80,112"`` -> (56, 80, 112). Raises :class:`MaximizeError` on anything else."""
    try:
        scales = tuple(int(v) for v in comma_list(text, "--scales"))
    except (ValueError, VisError):  # not a number, or an empty entry (',48', '48,')
        scales = ()
    if not scales:
        raise MaximizeError(f"--scales must be comma-separated integers like 56,80,112,160,224, got {text!r}")
    return scales


@dataclass(frozen=True)
class MaximizeProgress:
    """One report to the progress callback: after ``step`` of ``steps`` at scale ``stage`` of ``stages``."""

    stage: int
    stages: int
    step: int
    steps: int
    size: int
    value: float


ProgressFn = Callable[[MaximizeProgress], None]


def maximize(backend: Backend | Callable[[], Backend], config: MaximizeConfig = MaximizeConfig(),
             progress: ProgressFn | None = None) -> np.ndarray:
    """Optimise one image for the backend's objective.

    Args:
        backend: a backend (``make_backend``) or a callable that builds one.
        config: the settings (:meth:`MaximizeConfig.for_model` gives a model's defaults).
        progress: called after each step.

    Returns:
        The image, HxWx3 float32 RGB in [0, 1] (grey replicated for one-channel models).
    """
    return maximize_batch(backend, config, 1, progress)[0]


def maximize_batch(backend: Backend | Callable[[], Backend], config: MaximizeConfig, batch: int,
                   progress: ProgressFn | None = None, starts: Sequence[int] | None = None) -> np.ndarray:
    """Optimise ``batch`` images at once (the backend's objective sums over the batch; each image ascends its own
    gradient). Returns (N, H, W, 3) float32 in [0, 1].

    Randomness comes in two streams of ``config.seed``: each image's start, from its entry of ``starts`` (by
    default 0..batch-1; an atlas passes the unit numbers), and the jitter or transforms shared by the batch. So an
    image is the same whichever batch it is optimised in.
    """
    if not hasattr(backend, "gradient"):
        backend = backend()  # type: ignore[operator]
    config.validate()
    starts = range(batch) if starts is None else starts
    if len(starts) != batch:
        raise ValueError(f"{len(starts)} starts for a batch of {batch}")
    init = [np.random.default_rng([config.seed, 1, int(s)]) for s in starts]
    rng = np.random.default_rng([config.seed, 0])
    report = progress or (lambda _p: None)
    if config.param == "fft":
        x = _run_fft(backend, config, init, rng, report)  # type: ignore[arg-type]
    else:
        x = _run_pixel(backend, config, init, rng, report)  # type: ignore[arg-type]
    out = x.transpose(0, 2, 3, 1)
    if out.shape[3] == 1:
        out = np.repeat(out, 3, axis=3)
    return np.ascontiguousarray(out, dtype=np.float32)


def _resize(x: np.ndarray, size: int) -> np.ndarray:
    """Bicubic upscale of an NCHW batch to size x size."""
    n, c, h, w = x.shape
    if (h, w) == (size, size):
        return x
    hwc = np.ascontiguousarray(x.transpose(2, 3, 0, 1).reshape(h, w, n * c))
    # one channel at a time: OpenCV rounds differently for different channel counts (1 ulp), and the ascent after
    # the upscale grows that into visible changes, so an atlas's --batch would change its pictures
    out = np.stack([cv2.resize(hwc[:, :, i], (size, size), interpolation=cv2.INTER_CUBIC) for i in range(n * c)], 2)
    return out.reshape(size, size, n, c).transpose(2, 3, 0, 1).astype(np.float32)


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    n, c, h, w = x.shape
    hwc = np.ascontiguousarray(x.transpose(2, 3, 0, 1).reshape(h, w, n * c))
    out = np.stack([cv2.GaussianBlur(hwc[:, :, i], (0, 0), sigma, borderType=cv2.BORDER_REFLECT) for i in range(n * c)], 2)
    return out.reshape(h, w, n, c).transpose(2, 3, 0, 1).astype(np.float32)


class _Adam:
    """Adam ascent on a numpy array (Kingma & Ba 2015, https://arxiv.org/abs/1412.6980)."""

    def __init__(self, lr: float, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8):
        self.lr, self.b1, self.b2, self.eps = lr, b1, b2, eps
        self.m: np.ndarray | None = None
        self.v: np.ndarray | None = None
        self.t = 0

    def delta(self, g: np.ndarray) -> np.ndarray:
        if self.m is None or self.m.shape != g.shape:  # a new scale restarts the moments
            self.m, self.v, self.t = np.zeros_like(g), np.zeros_like(g), 0
        self.t += 1
        self.m = self.b1 * self.m + (1 - self.b1) * g
        self.v = self.b2 * self.v + (1 - self.b2) * g * g
        m_hat = self.m / (1 - self.b1**self.t)
        v_hat = self.v / (1 - self.b2**self.t)
        return (self.lr * m_hat / (np.sqrt(v_hat) + self.eps)).astype(np.float32)


# Noise widths a start is drawn again with, one per first step in turn, where its objective gives no gradient at
# all: a channel behind a ReLU that no pixel of grey with faint noise excites stays 0, and its image grey, however
# long it runs (EfficientNet-Lite0's stem:14, 22 of head's 32 first channels at 64 px). Wider noise excites most.
WAKING_NOISE = (0.5, 1.0)


def no_gradient(g: np.ndarray) -> np.ndarray:
    """Which images of a batch got no gradient at all."""
    return ~g.reshape(len(g), -1).any(axis=1)


def _run_pixel(backend: Backend, config: MaximizeConfig, init: Sequence[np.random.Generator],
               rng: np.random.Generator, report: ProgressFn) -> np.ndarray:
    scales = config.scales
    x = grey_noise_image(init, config.channels, scales[0], scales[0], config.noise)
    adam = _Adam(config.lr) if config.method == "adam" else None
    for stage, size in enumerate(scales):
        x = np.clip(_resize(x, size), 0.0, 1.0)
        for it in range(config.steps):
            dy, dx = (int(v) for v in rng.integers(-config.jitter, config.jitter + 1, size=2))
            value, g = backend.gradient(np.roll(x, (dy, dx), axis=(2, 3)) if config.jitter else x)
            if config.jitter:
                g = np.roll(g, (-dy, -dx), axis=(2, 3))
            if stage == 0 and it < len(WAKING_NOISE):
                for i in np.flatnonzero(no_gradient(g)):  # from its own generator: the same image in any batch
                    x[i] = grey_noise_image([init[i]], config.channels, size, size, WAKING_NOISE[it])[0]
            if config.tv:
                g = g - config.tv * total_variation_grad(x)
            if adam is None:
                scale = np.abs(g).mean(axis=(1, 2, 3), keepdims=True) + STEP_EPS
                x = x + (config.step / scale * g).astype(np.float32)
            else:
                x = x + adam.delta(g)
            if config.l2_decay:
                x = 0.5 + (x - 0.5) * (1.0 - config.l2_decay)
            if config.blur_every and (it + 1) % config.blur_every == 0 and it + 1 < config.steps:
                x = _blur(x, config.blur_sigma)
            x = np.clip(x, 0.0, 1.0).astype(np.float32)
            report(MaximizeProgress(stage + 1, len(scales), it + 1, config.steps, size, value))
    return x


_WAKING_SPECTRUM = (0.5, 1.0)  # spectrum deviations for those turns: pixel deviations near the noise widths


def _run_fft(backend: Backend, config: MaximizeConfig, init: Sequence[np.random.Generator],
             rng: np.random.Generator, report: ProgressFn) -> np.ndarray:
    size = config.size
    param = FFTImage(init, config.channels, size, size)
    optimizer = torch.optim.Adam(param.parameters(), lr=config.lr)
    out_size = (size, size) if config.fixed_size else None
    for it in range(config.steps):
        optimizer.zero_grad(set_to_none=True)
        image = param.image()
        seen = config.transforms.apply(image, rng, out_size) if config.transforms else image
        value, g = backend.gradient(np.ascontiguousarray(seen.detach().numpy()))
        # d(-objective)/d params: the backend's image gradient pushed back through transforms and parameterisation
        loss = -(seen * torch.from_numpy(g)).sum()
        if config.l2_decay:
            loss = loss + config.l2_decay * ((image - 0.5) ** 2).sum()
        if config.tv:
            dy = image[:, :, 1:] - image[:, :, :-1]
            dx = image[:, :, :, 1:] - image[:, :, :, :-1]
            loss = loss + config.tv * ((dy * dy).flatten(1).mean(1) + (dx * dx).flatten(1).mean(1)).sum()
        loss.backward()
        optimizer.step()
        if it < len(WAKING_NOISE):  # as in _run_pixel: a wider start, from its own generator
            with torch.no_grad():
                for i in np.flatnonzero(no_gradient(g)):
                    wider = init[i].normal(size=param.spectrum[:, i].shape) * _WAKING_SPECTRUM[it]
                    param.spectrum[:, i] = torch.from_numpy(wider.astype(np.float32))
        report(MaximizeProgress(1, 1, it + 1, config.steps, size, value))
    with torch.no_grad():
        return param.image().numpy().astype(np.float32)


def classify(model_name: str, model: StagedNet, image: np.ndarray, top: int = 5) -> Prediction:
    """How the model itself classifies an optimised image (the thesis's check of its dragonfly).

    The image (HxWx3 in [0, 1]) is classified as it was optimised: at its own size, whole (no photo resize or crop,
    which would blow a small image up and cut its border), converted to the model's channels; the model normalises
    it itself. Only a model whose classifier takes one size (LeNet-5, VGG-19) gets it resized to that size.
    """
    spec = model_spec(model_name)
    pre = spec.preprocessing
    h, w = image.shape[:2]
    if pre.fixed_size and (h, w) != (pre.crop, pre.crop):
        interp = cv2.INTER_AREA if min(h, w) > pre.crop else cv2.INTER_LINEAR
        image = cv2.resize(image, (pre.crop, pre.crop), interpolation=interp)
    with torch.no_grad():
        logits = model.eval()(torch.from_numpy(network_batch([image], pre.channels)))[0].numpy()
    return Prediction(top_classes(logits, spec.categories, top))


def objective_of(backend: Backend, image: np.ndarray, channels: int) -> tuple[float, bool]:
    """The backend's objective for one HxWx3 image in [0, 1] as it is (no jitter, no transforms), and whether it has
    any gradient there: the value the image written holds (the progress reports that of the jittered image before
    each step), and False where the objective never woke (a channel no start excited: the image did not move)."""
    value, g = backend.gradient(network_batch([image], channels))
    return float(value), not no_gradient(g)[0]


def network_batch(images: Sequence[np.ndarray], channels: int) -> np.ndarray:
    """HxWx3 images in [0, 1] as the network's N, C, H, W float32 batch (grey for a one-channel model)."""
    x = np.stack([to_channels(np.asarray(image, np.float32), channels).transpose(2, 0, 1) for image in images])
    return np.ascontiguousarray(x, np.float32)


def is_class_objective(objective: Objective) -> bool:
    """Whether any term of ``objective`` is a class logit or probability."""
    return any(isinstance(o, ClassObjective) for _, o in objective.terms())
