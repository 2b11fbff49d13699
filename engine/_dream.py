"""DeepDream: octave pyramid, jittered normalised gradient ascent, tiles for large images, zoom feedback, video.

The algorithm is google/deepdream's (Mordvintsev, Olah, Tyka 2015,
https://research.googleblog.com/2015/06/inceptionism-going-deeper-into-neural.html): the image is dreamed on a
pyramid of octaves from the smallest up; at each octave the detail that dreaming added (dreamed - base) is
upscaled onto the next octave's base. Every step rolls the image by a random jitter, takes the gradient of the
objective, rolls it back, divides it by its mean absolute value and adds ``step`` times it, then clips to the
model's pixel range. Images larger than ``tile`` are processed in tiles after rolling the whole image by a random
shift (google's "tiled gradient"), so memory stays bounded and tile seams move every step and never show.

Images here are HxWx3 float32 RGB in [0, 1]; backends take (1, 3, H, W).
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import cv2
import numpy as np

from vis._step import STEP_EPS
from vis.engine._image_array import as_rgb
from vis.engine._images import fitted_size
from vis.errors import VisError

if TYPE_CHECKING:  # the CLI reads this module's defaults at start: no torch for that
    from vis.engine._backend import Backend


class DreamError(VisError):
    """Invalid dream settings (sizes, counts, factors)."""


@dataclass(frozen=True)
class DreamConfig:
    """Settings of one DeepDream run (google/deepdream's defaults).

    Attributes:
        octaves: number of pyramid levels (1 = no pyramid).
        octave_scale: size ratio between consecutive octaves.
        iterations: ascent steps per octave.
        step: step size in 8-bit pixel units (google's 1.5 on a 0-255 scale), applied to the gradient normalised by
            its mean absolute value; divided by 255 for vis' [0, 1] images.
        jitter: maximal random roll in pixels per step (both axes) of an image that fits one tile. A larger image
            is rolled by up to a whole tile every step instead, so the tile seams move; that roll is its jitter.
        tile: images whose side exceeds this are processed in tiles of at most this many pixels.
        min_size: smallest side an octave may have (octaves below it are dropped).
    """

    octaves: int = 4
    octave_scale: float = 1.4
    iterations: int = 10
    step: float = 1.5
    jitter: int = 32
    tile: int = 512
    min_size: int = 32

    @property
    def step_size(self) -> float:
        """The step in [0, 1] image units."""
        return self.step / 255.0

    def __post_init__(self) -> None:
        # each setting is named as its `vis dream` option is, so the CLI passes these messages on as they are
        counts = {"--octaves": self.octaves, "--iterations": self.iterations, "--jitter": self.jitter, "--tile": self.tile}
        for name, value in counts.items():
            if not isinstance(value, numbers.Integral):
                raise DreamError(f"{name} must be a whole number, got {value!r}")
        if self.octaves < 1 or self.iterations < 0:
            raise DreamError(f"--octaves must be >= 1 and --iterations >= 0, got {self.octaves} and {self.iterations}")
        if not (math.isfinite(self.step) and self.step > 0):
            raise DreamError(f"--step must be a positive number, got {self.step:g}")
        if self.step > MAX_STEP:
            raise DreamError(f"--step must be at most {MAX_STEP:g} (8-bit levels: the mean pixel then moves by the "
                             f"whole range each step; google's is 1.5), got {self.step:g}")
        if not 1.0 < self.octave_scale < math.inf:
            raise DreamError(f"--octave-scale must be a number above 1 (the size ratio between octaves), got "
                             f"{self.octave_scale:g}")
        if self.tile < 64:
            raise DreamError(f"--tile must be at least 64, got {self.tile}")
        if self.jitter < 0:
            raise DreamError(f"--jitter must not be negative, got {self.jitter}")
        if self.jitter > MAX_JITTER:
            raise DreamError(f"--jitter must be at most {MAX_JITTER} (a roll is taken modulo the image), got {self.jitter}")


MAX_STEP = 255.0  # the whole 8-bit range per step: beyond it every step throws the image to black and white
MAX_JITTER = 4096  # a roll is taken modulo the image's size: more than a tile's width adds nothing

GPU_TILE = 2048
"""Default tile on a GPU provider: GoogLeNet's gradient at 2048 px fits in a few GiB of device memory, and a frame
that fits one tile stays on the device for its whole dream (the device loop does not tile)."""

WEBCAM_CPU_MAX_SIZE = 320
"""``--max-size`` of a webcam dreamed on a CPU unless given: 640x480 at ~9 fps instead of ~2 on 2 cores
(BENCHMARKS.md, "Near real time on this CPU")."""


def check_dreamable(model_name: str) -> None:
    """DeepDream works on colour images: refuse a grey model (LeNet-5) before it fails deep in a session.

    Raises:
        DreamError: the model does not take RGB images.
    """
    from vis.models import list_models, model_spec

    pre = model_spec(model_name).preprocessing
    if pre.channels != 3:
        colour = [m for m in list_models() if model_spec(m).preprocessing.channels == 3]
        raise DreamError(f"{model_name} sees grey {pre.crop}x{pre.crop} digits; DeepDream needs a colour model: "
                         f"{', '.join(colour)}")


def runs_on_gpu(provider: str, backend: str = "ort") -> bool:
    """Whether ``backend`` on ``provider`` (``auto|cpu|cuda|tensorrt``) puts the steps on a GPU. cuda and tensorrt
    do on either backend (torch runs on CUDA for them); ``auto`` does where the backend's own library has a GPU:
    onnxruntime's CUDA provider for ort, a CUDA device for torch (the two need not agree on one machine)."""
    if provider in ("cuda", "tensorrt"):
        return True
    if provider != "auto":
        return False
    if backend == "torch":
        import torch

        return torch.cuda.is_available()
    from vis.engine._session import available_providers

    return "cuda" in available_providers()


def default_tile(provider: str, backend: str = "ort") -> int:
    """The tile size for ``backend`` on ``provider``: the CPU default, or :data:`GPU_TILE` on a GPU."""
    return GPU_TILE if runs_on_gpu(provider, backend) else DreamConfig().tile


@dataclass(frozen=True)
class VideoDreamConfig:
    """Temporal coherence for video: the previous dream, warped by optical flow, seeds the next frame.

    Attributes:
        blend: weight of the warped previous dream in each frame's start image (0 = every frame from scratch).
        iterations_per_frame: ascent steps per octave after the first frame (``None``: the dream's own).
        octaves_per_frame: octaves after the first frame (``None``: the dream's own).
        flow: ``"dis"`` or ``"farneback"`` (OpenCV optical flow), or ``"none"`` to assume a static camera.
        flow_size: the long side at which the flow is computed (larger frames are shrunk for it, the field scaled
            back up); ``None`` for the full dream size.
    """

    blend: float = 0.8
    iterations_per_frame: int | None = 3
    octaves_per_frame: int | None = 1
    flow: str = "dis"
    flow_size: int | None = 480

    def __post_init__(self) -> None:
        if self.flow_size is not None and self.flow_size < 16:  # the CLI's --flow-size 0 arrives as None
            raise DreamError(f"--flow-size must be 0 (the dream's size) or at least 16 pixels, got {self.flow_size}")
        if not 0.0 <= self.blend <= 1.0:
            raise DreamError(f"--blend must be in [0, 1], got {self.blend:g}")
        from vis.engine._flow import FLOW_METHODS

        if self.flow not in (*FLOW_METHODS, "none"):
            raise DreamError(f"--flow must be {', '.join(FLOW_METHODS)} or none, got {self.flow!r}")

    @property
    def uses_flow(self) -> bool:
        """Whether frames after the first warp the previous dream by an optical flow."""
        return self.blend > 0.0 and self.flow != "none"

    def continues(self, previous: tuple[int, ...] | None, size: tuple[int, ...]) -> bool:
        """Whether a frame dreamed at ``size`` starts from the previous dream (of ``previous`` size, None before the
        first): not without blending, and not across a change of size (a stream that changed size starts afresh)."""
        return previous is not None and self.blend != 0.0 and tuple(previous) == tuple(size)

    def later(self, config: DreamConfig) -> DreamConfig:
        """The dream settings of every frame after the first."""
        return replace(config, iterations=config.iterations if self.iterations_per_frame is None else self.iterations_per_frame,
                       octaves=config.octaves if self.octaves_per_frame is None else self.octaves_per_frame)


@dataclass(frozen=True)
class DreamProgress:
    """What a progress callback receives after every step (and a tile callback after each tile but the last of a
    tiled step: ``tile`` of ``tiles`` done, ``value`` not yet known)."""

    octave: int
    octaves: int
    iteration: int
    iterations: int
    value: float
    shape: tuple[int, int]
    tile: int = 0
    tiles: int = 0


ProgressFn = Callable[[DreamProgress], None]


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an HxWxC float image to ``size`` = (h, w): area filter to shrink, bilinear to grow."""
    h, w = size
    if image.shape[:2] == (h, w):
        return image
    shrink = h * w < image.shape[0] * image.shape[1]
    out = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return out.reshape(h, w, -1) if out.ndim == 2 else out


def fit_max_size(image: np.ndarray, max_size: int | None) -> np.ndarray:
    """Shrink so that the long side is at most ``max_size`` (no-op when ``None`` or already small)."""
    return resize(image, fitted_size(image.shape[:2], max_size))


# The guide image's long side when --max-size is not given: every position of the dream is matched against every
# position of the guide's map, so a full-size guide photo would cost more than the dream it steers.
GUIDE_SIDE = 224


def guide_features_of(net, layer: str, image: np.ndarray, max_size: int | None = None) -> np.ndarray:
    """The (C, H*W) features at ``layer`` of a guide ``image`` (HxWx3 float RGB), shrunk to a long side of
    ``max_size`` (``GUIDE_SIDE`` when ``None``): the guide input of a ``guide:LAYER`` objective (torch forward)."""
    import torch

    from vis.exporters import guide_features

    image = fit_max_size(image, max_size or GUIDE_SIDE)
    x = torch.from_numpy(image.transpose(2, 0, 1)[None].copy())
    with torch.no_grad():
        (acts,) = net.forward_layers(x, [layer])
    return guide_features(acts).numpy().astype(np.float32)


def octave_sizes(shape: tuple[int, int], config: DreamConfig) -> list[tuple[int, int]]:
    """Sizes (h, w) of the pyramid from the full image down; levels smaller than ``min_size`` are dropped."""
    h, w = shape
    if min(h, w) < config.min_size:
        raise DreamError(f"image {h}x{w} is smaller than the model's minimum {config.min_size} px")
    sizes = [(h, w)]
    for k in range(1, config.octaves):
        s = config.octave_scale**k
        size = (round(h / s), round(w / s))
        if min(size) < config.min_size:
            break
        sizes.append(size)
    return sizes


def network_input_sizes(shape: tuple[int, int], config: DreamConfig) -> list[tuple[int, int]]:
    """The (h, w) inputs the network sees when an image of ``shape`` is dreamed: each octave, or its tiles."""
    sizes = []
    for h, w in octave_sizes(shape, config):
        if max(h, w) <= config.tile:
            sizes.append((h, w))
        else:
            sizes += [(y1 - y0, x1 - x0) for y0, y1 in _tiles(h, config.tile) for x0, x1 in _tiles(w, config.tile)]
    return list(dict.fromkeys(sizes))


def _tiles(n: int, tile: int) -> list[tuple[int, int]]:
    """Split ``n`` pixels into nearly equal spans of at most ``tile``."""
    k = math.ceil(n / tile)
    edges = np.linspace(0, n, k + 1).round().astype(int)
    return list(zip(edges[:-1], edges[1:]))


def _wrapped(start: int, length: int, n: int) -> list[tuple[slice, slice]]:
    """The span of ``length`` (at most ``n``) from ``start`` on a ring of ``n`` positions, as (ring, span) slice
    pairs: one, or two where it wraps past the end."""
    start %= n
    first = min(length, n - start)
    pairs = [(slice(start, start + first), slice(0, first))]
    if first < length:
        pairs.append((slice(0, length - first), slice(first, length)))
    return pairs


def ascent_step(backend: Backend, x: np.ndarray, config: DreamConfig, rng: np.random.Generator,
                on_tile: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, float]:
    """One DeepDream step on (1, 3, H, W) ``x``; tiled when a side exceeds ``config.tile``, calling
    ``on_tile(done, total)`` after each tile but the last.

    Returns:
        The updated image (same shape) and the objective value; a tiled step's is the tiles' values weighted by their
        areas, so that it reads as an untiled step's would and does not grow with the number of tiles.
    """
    h, w = x.shape[2:]
    if max(h, w) <= config.tile:
        dy, dx = (int(v) for v in rng.integers(-config.jitter, config.jitter + 1, size=2))
        return backend.step(x, (dy, dx), config.step_size)
    # tiled gradient: a random shift moves the tile seams every step. Each tile is read from and its gradient
    # written to the shifted places of x itself (indices wrap round, as np.roll's would), so no rolled copy of a
    # large photo is made; the update is done in the gradient's buffer. A step of a huge photo then holds two
    # copies of it (x and its gradient), not eight.
    sy, sx = (int(v) for v in rng.integers(0, config.tile, size=2))
    grad = np.empty_like(x, dtype=np.float32)
    total, abs_sum = 0.0, 0.0
    spans = [(ys, xs) for ys in _tiles(h, config.tile) for xs in _tiles(w, config.tile)]
    for done, ((y0, y1), (x0, x1)) in enumerate(spans, 1):
        # copied by slices, at most two per side where the tile wraps round (fancy indexing took 4x longer)
        pieces = [(ys, xs, ty, tx) for ys, ty in _wrapped(y0 - sy, y1 - y0, h) for xs, tx in _wrapped(x0 - sx, x1 - x0, w)]
        tile = np.empty((*x.shape[:2], y1 - y0, x1 - x0), np.float32)
        for ys, xs, ty, tx in pieces:
            tile[:, :, ty, tx] = x[:, :, ys, xs]
        value, g = backend.gradient(tile)
        for ys, xs, ty, tx in pieces:
            grad[:, :, ys, xs] = g[:, :, ty, tx]
        total += value * (y1 - y0) * (x1 - x0) / (h * w)
        abs_sum += cv2.norm(g.reshape(-1, g.shape[-1]), cv2.NORM_L1)  # summed in double, with no float64 copy
        if on_tile is not None and done < len(spans):
            on_tile(done, len(spans))
    lo, hi = getattr(backend, "value_range", (0.0, 1.0))
    grad *= config.step_size / (abs_sum / grad.size + STEP_EPS)
    grad += x
    return np.clip(grad, lo, hi, out=grad), total


def dream(backend: Backend, image: np.ndarray, config: DreamConfig = DreamConfig(), *,
          rng: np.random.Generator | int | None = None, progress: ProgressFn | None = None,
          tile_progress: ProgressFn | None = None) -> np.ndarray:
    """DeepDream one image.

    Args:
        backend: an ``ort`` or ``torch`` backend built for the objective.
        image: HxWx3 RGB, float in [0, 1] or uint8 (grey and RGBA are converted; see
            :func:`vis.engine._image_array.as_rgb`).
        config: octaves, iterations, step, jitter, tile size.
        rng: random generator of the jitter, or its seed (a fresh unseeded one when ``None``).
        progress: called after every step with a :class:`DreamProgress`.
        tile_progress: called within a tiled step after each tile but the last (a step of a 24 MP photo takes 20 s
            on 2 cores); the device loop does not tile.

    Returns:
        The dreamed image, HxWx3 float32 in [0, 1], same size as ``image``.

    An ORT backend whose loop is on the device (``loop="device"``, or ``auto`` on a GPU provider) runs this in
    :class:`vis.engine._device_dream.DeviceDreamer`: the same steps and jitter draws, the pyramid shrunk by an
    antialiased linear filter instead of OpenCV's area filter.
    """
    # a Generator passes through, a seed starts one; what a caller passes is checked here, once (not per frame)
    return _dream(backend, as_rgb(image), config, np.random.default_rng(rng), progress, tile_progress)


def _dream(backend: Backend, base: np.ndarray, config: DreamConfig, rng: np.random.Generator,
           progress: ProgressFn | None = None, tile_progress: ProgressFn | None = None) -> np.ndarray:
    """:func:`dream` of ``base``, HxWx3 float32 RGB in [0, 1] already (the video and zoom loops' own frames)."""
    dreamer = _device_dreamer(backend, base.shape[:2], config)
    if dreamer is not None:
        return dreamer.dream(base, config, rng=rng, progress=progress)
    sizes = octave_sizes(base.shape[:2], config)
    pyramid = [base]
    for size in sizes[1:]:
        pyramid.append(resize(pyramid[-1], size))
    octaves = len(pyramid)
    detail = np.zeros_like(pyramid[-1])
    for level in range(octaves):
        # levels are dropped once dreamed and the detail once added, so a large photo's last octave holds the photo,
        # the image being dreamed and one step's gradient (36 bytes a pixel), not the whole pyramid beside them
        octave_base = pyramid.pop()
        start, detail = resize(detail, octave_base.shape[:2]), None
        start += octave_base
        x, start = np.ascontiguousarray(start.transpose(2, 0, 1)[None]), None
        for i in range(config.iterations):
            where = DreamProgress(level, octaves, i, config.iterations, math.nan, octave_base.shape[:2])
            on_tile = None if tile_progress is None else _tile_reporter(tile_progress, where)
            x, value = ascent_step(backend, x, config, rng, on_tile)
            if progress is not None:
                progress(replace(where, value=value))
        if level == octaves - 1:
            return np.ascontiguousarray(x[0].transpose(1, 2, 0), dtype=np.float32)
        detail, x = x[0].transpose(1, 2, 0) - octave_base, None


def _tile_reporter(report: ProgressFn, where: DreamProgress) -> Callable[[int, int], None]:
    """``on_tile`` of :func:`ascent_step` for the step at ``where``."""
    return lambda done, total: report(replace(where, tile=done, tiles=total))


def uses_device_loop(backend: Backend, shape: tuple[int, int], config: DreamConfig) -> bool:
    """Whether ``backend`` dreams an image of ``shape`` (h, w, after any --max-size) on its device: then frames can be
    handed over as decoded (uint8 BGR) and come back so, converted on the device."""
    return _device_dreamer(backend, shape, config) is not None


def _device_dreamer(backend: Backend, shape: tuple[int, int], config: DreamConfig):
    """The backend's device loop for this image, if it has one and wants it (see ``OrtBackend.device_dreamer``)."""
    choose = getattr(backend, "device_dreamer", None)  # only backends that can keep images on a device have it
    return None if choose is None else choose(shape, config.tile)


def zoom_in(image: np.ndarray, zoom: float) -> np.ndarray:
    """Crop the centre ``1 - zoom`` of the image and scale it back to the full size: the seminar's
    ``affine_transform(frame, [1-s, 1-s, 1], [h*s/2, w*s/2, 0])``, a magnification of 1 / (1 - zoom)."""
    h, w = image.shape[:2]
    s = 1.0 / (1.0 - zoom)
    m = np.float32([[s, 0, (1 - s) * w / 2], [0, s, (1 - s) * h / 2]])
    out = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return out.reshape(image.shape)


def dream_zoom(backend: Backend, image: np.ndarray, frames: int, zoom: float = 0.05,
               config: DreamConfig = DreamConfig(), *, rng: np.random.Generator | int | None = None,
               progress: ProgressFn | None = None) -> Iterator[np.ndarray]:
    """Zoom feedback: dream, zoom into the centre by ``zoom``, dream again; yields each of ``frames`` dreams."""
    if frames < 1 or not 0.0 <= zoom < 1.0:
        raise DreamError(f"zoom needs frames >= 1 and 0 <= zoom < 1, got {frames} and {zoom}")
    rng = np.random.default_rng(rng)
    current = as_rgb(image)
    for _ in range(frames):
        current = _dream(backend, current, config, rng, progress)
        yield current
        current = zoom_in(current, zoom)


def dream_frames(backend: Backend, frames: Iterable[np.ndarray], config: DreamConfig = DreamConfig(),
                 video: VideoDreamConfig = VideoDreamConfig(), *, max_size: int | None = None,
                 rng: np.random.Generator | int | None = None, progress: ProgressFn | None = None,
                 live: bool = False, previous: tuple[np.ndarray, np.ndarray] | None = None) -> Iterator[np.ndarray]:
    """Dream a sequence of frames with temporal coherence.

    Each frame after the first starts from ``blend * warp(previous dream) + (1 - blend) * frame``, the warp being the
    optical flow from the current input frame to the previous one, so a static scene stays still and the dream
    moves with the objects; it then gets ``video.octaves_per_frame`` x ``video.iterations_per_frame`` steps.

    Args:
        frames: HxWx3 RGB frames, float in [0, 1] or uint8 (as :func:`dream` takes images); where
            :func:`uses_device_loop` is true, uint8 frames are taken as OpenCV decodes them (BGR).
        max_size: dream at most this long side (the result is scaled back to the frame's size).
        live: the frames come from a camera that keeps only its newest: none is taken before it is dreamed (the
            device loop would otherwise read one ahead, and dream a frame a dream old).
        previous: the frame before the first and its dream, in the frames' layout and size (a resumed dream's last
            kept frame): the first frame then goes on from it, as later frames go on from theirs.

    Yields:
        Dreamed frames, each the size of its input frame.

    With a device loop (see :func:`dream`) the previous dream stays on the device and is warped and blended there.
    """
    from vis.engine._flow import FlowTracker, warp

    rng = np.random.default_rng(rng)
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        return
    frames = itertools.chain([first], frames)
    dreamer = _device_dreamer(backend, fitted_size(first.shape[:2], max_size), config)
    if dreamer is not None:
        yield from dreamer.dream_frames(frames, config, video, max_size=max_size, rng=rng, progress=progress,
                                        live=live, previous=previous)
        return
    later = video.later(config)
    flow_of = FlowTracker(video.flow, video.flow_size) if video.uses_flow else None
    prev_dream: np.ndarray | None = None
    if previous is not None:
        before, dreamed = (fit_max_size(as_rgb(image, "frame"), max_size) for image in previous)
        if flow_of is not None:
            flow_of(before, before.shape[:2])  # the flow to the first frame starts from it
        prev_dream = dreamed
    for frame in frames:
        frame = as_rgb(frame, "frame")
        small = fit_max_size(frame, max_size)
        flow = flow_of(frame, small.shape[:2]) if flow_of is not None else None
        if not video.continues(None if prev_dream is None else prev_dream.shape, small.shape):
            out = _dream(backend, small, config, rng, progress)
        else:
            warped = prev_dream if flow is None else warp(prev_dream, flow)
            start = video.blend * warped + (1.0 - video.blend) * small
            out = _dream(backend, start, later, rng, progress)
        prev_dream = out
        yield resize(out, frame.shape[:2])
