"""Image parameterisations and transformation robustness for activation maximisation (after lucid).

Two ways to hold the image being optimised:

- pixels (the thesis, chapter 4.1.1): the image itself, started from grey with a little coloured noise;
- :class:`FFTImage` (lucid's ``param.image(fft=True, decorrelate=True)``): a Fourier spectrum scaled by 1/f,
  a decorrelated colour space and a sigmoid to [0, 1].
  Olah et al., "Feature Visualization", Distill 2017, https://distill.pub/2017/feature-visualization/

The parameterisation and the transforms are differentiable torch code: the image gradient that a backend
(ORT or torch) returns for the transformed image is carried back to the parameters exactly by torch autograd on
this small graph (the network itself is never run in torch here).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

# lucid's colour correlation matrix (the square root of ImageNet's colour covariance, from its SVD), used to
# decorrelate the colour channels of the parameterisation; columns normalised to a largest norm of 1.
COLOR_CORRELATION_SVD_SQRT = np.array(
    [[0.26, 0.09, 0.02],
     [0.27, 0.00, -0.05],
     [0.27, -0.09, 0.03]], dtype=np.float32)
COLOR_CORRELATION = COLOR_CORRELATION_SVD_SQRT / np.max(np.linalg.norm(COLOR_CORRELATION_SVD_SQRT, axis=0))


def rfft2d_freqs(h: int, w: int) -> np.ndarray:
    """|frequency| of each bin of a real 2D FFT of an h x w image, shape (h, w // 2 + 1)."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    return np.sqrt(fx * fx + fy * fy)


class FFTImage:
    """lucid's FFT parameterisation with decorrelated colour: ``sigmoid(M · irfft2(spectrum / f) / 4)``.

    Args:
        rngs: one generator per image of the batch, seeding its initial spectrum (normal, standard deviation
            ``sd``): each image's start is independent of the others in the batch.
        channels, height, width: shape of each image produced (the batch is NCHW).
        sd: standard deviation of the initial spectrum.
        decay_power: the spectrum is scaled by ``1 / f ** decay_power`` (1: natural-image statistics).
        decorrelate: mix colours with :data:`COLOR_CORRELATION` (3-channel images only).
    """

    def __init__(self, rngs: Sequence[np.random.Generator], channels: int, height: int, width: int,
                 sd: float = 0.01, decay_power: float = 1.0, decorrelate: bool = True):
        self.shape = (len(rngs), channels, height, width)
        freqs = rfft2d_freqs(height, width)
        scale = 1.0 / np.maximum(freqs, 1.0 / max(height, width)) ** decay_power * np.sqrt(height * width)
        self.scale = torch.from_numpy(scale.astype(np.float32))
        init = np.stack([r.normal(size=(2, channels, *freqs.shape)) for r in rngs], axis=1) * sd
        self.spectrum = torch.tensor(init, dtype=torch.float32, requires_grad=True)
        self.color = torch.from_numpy(COLOR_CORRELATION) if decorrelate and channels == 3 else None

    def parameters(self) -> list[torch.Tensor]:
        return [self.spectrum]

    def image(self) -> torch.Tensor:
        """The image (N, C, H, W) in (0, 1), differentiable in the spectrum."""
        _, _, h, w = self.shape
        spectrum = torch.complex(self.spectrum[0], self.spectrum[1]) * self.scale
        x = torch.fft.irfft2(spectrum, s=(h, w)) / 4.0  # lucid's magic 4: keeps the initial image near grey
        if self.color is not None:
            x = torch.einsum("nchw,dc->ndhw", x, self.color)
        return torch.sigmoid(x)


@dataclass(frozen=True)
class Transforms:
    """lucid's ``standard_transforms``: pad, jitter, random scale, random rotation, jitter.

    Scale and rotation are one bilinear resampling on the same canvas (the gradient of ``grid_sample`` is exact);
    each jitter is a random crop ``jitter`` pixels smaller. The output is ``2 * pad - jitter - final_jitter``
    pixels larger than the input (12 with the defaults) unless a fixed ``out_size`` is asked.
    """

    pad: int = 12
    jitter: int = 8
    scales: tuple[float, ...] = tuple(1 + (i - 5) / 50.0 for i in range(11))
    angles: tuple[float, ...] = tuple(range(-10, 11)) + (0,) * 5
    final_jitter: int = 4
    pad_value: float = 0.5

    def apply(self, x: torch.Tensor, rng: np.random.Generator, out_size: tuple[int, int] | None = None) -> torch.Tensor:
        """Transform a batch (N, C, H, W) with one random draw from ``rng`` (the same for every image)."""
        if self.pad:
            x = F.pad(x, (self.pad,) * 4, value=self.pad_value)
        x = _random_crop(x, self.jitter, rng)
        scale = float(rng.choice(self.scales))
        angle = math.radians(float(rng.choice(self.angles)))
        if scale != 1.0 or angle != 0.0:
            cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
            theta = torch.tensor([[cos, -sin, 0.0], [sin, cos, 0.0]], dtype=x.dtype).expand(x.shape[0], 2, 3)
            grid = F.affine_grid(theta, list(x.shape), align_corners=False)
            x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        x = _random_crop(x, self.final_jitter, rng)
        if out_size is not None and tuple(x.shape[2:]) != tuple(out_size):
            x = F.interpolate(x, size=out_size, mode="bilinear", align_corners=False)
        return x


def _random_crop(x: torch.Tensor, d: int, rng: np.random.Generator) -> torch.Tensor:
    if d <= 0:
        return x
    dy, dx = (int(v) for v in rng.integers(0, d + 1, size=2))
    h, w = x.shape[2] - d, x.shape[3] - d
    return x[:, :, dy : dy + h, dx : dx + w]


def grey_noise_image(rngs: Sequence[np.random.Generator], channels: int, height: int, width: int,
                     noise: float) -> np.ndarray:
    """The thesis's start (figure 4.2): grey, 0.5, perturbed by uniform colour noise of total width ``noise``; a
    batch of one image per generator (each image's noise independent of the batch)."""
    draws = np.stack([r.random((channels, height, width)) for r in rngs])
    return (0.5 + (draws - 0.5) * noise).astype(np.float32)


def total_variation_grad(x: np.ndarray) -> np.ndarray:
    """Gradient of ``mean (dI/dy)^2 + mean (dI/dx)^2`` per image, for x of shape (N, C, H, W)."""
    g = np.zeros_like(x)
    dy = x[:, :, 1:, :] - x[:, :, :-1, :]
    dx = x[:, :, :, 1:] - x[:, :, :, :-1]
    ny, nx = dy[0].size or 1, dx[0].size or 1
    g[:, :, 1:, :] += 2 * dy / ny
    g[:, :, :-1, :] -= 2 * dy / ny
    g[:, :, :, 1:] += 2 * dx / nx
    g[:, :, :, :-1] -= 2 * dx / nx
    return g
