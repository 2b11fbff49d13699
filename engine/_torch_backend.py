"""The torch autograd backend: the reference every ORT graph is checked against, and the fallback."""

from __future__ import annotations

import numpy as np
import torch

from vis._step import STEP_EPS
from vis.exporters._objectives import Objective
from vis.models import StagedNet


class TorchBackend:
    """Objective value and input gradient by torch autograd; the DeepDream step as google/deepdream writes it."""

    name = "torch"

    def __init__(self, model: StagedNet, objective: Objective, value_range: tuple[float, float] = (0.0, 1.0),
                 guide: np.ndarray | None = None, device: str = "cpu", dtype: torch.dtype = torch.float32):
        self.model = model.to(device=device, dtype=dtype).eval()
        self.objective = objective
        self.layers = list(objective.layers())
        self.value_range = value_range
        self.device, self.dtype = device, dtype
        self.guide = None if guide is None else torch.as_tensor(guide, device=device, dtype=dtype)

    def set_guide(self, guide: np.ndarray) -> None:
        self.guide = torch.as_tensor(guide, device=self.device, dtype=self.dtype)

    def gradient(self, image: np.ndarray) -> tuple[float, np.ndarray]:
        """Objective (summed over the batch) and d objective / d image for an NCHW float image."""
        value, grad = self.gradient_tensor(torch.as_tensor(image, device=self.device, dtype=self.dtype))
        return float(value), grad.cpu().numpy().astype(np.float32)

    def gradient_tensor(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Objective and input gradient of a tensor on this backend's device; nothing leaves the device."""
        x = image.detach().requires_grad_(True)
        acts = dict(zip(self.layers, self.model.forward_layers(x, self.layers)))
        for act in acts.values():
            # torch 2.13's CPU backward gives wrong input gradients when the gradient arriving at a layer is
            # non-contiguous (channels-last strides, e.g. from a transposed view); measured against finite
            # differences and the ORT graphs. Making it contiguous costs one copy per layer.
            act.register_hook(lambda g: g.contiguous())
        value = self.objective.torch_value(acts, x, self.guide)
        (grad,) = torch.autograd.grad(value, x)
        return value.detach(), grad.detach()

    def step(self, image: np.ndarray, shift: tuple[int, int], step_size: float) -> tuple[np.ndarray, float]:
        """One ascent step: roll by ``shift``, gradient, roll back, normalise by mean |g|, add, clip."""
        x = torch.as_tensor(image, device=self.device, dtype=self.dtype)
        moved, value = self.step_tensor(x, shift, step_size)
        return moved.cpu().numpy().astype(np.float32), float(value)

    def step_tensor(self, image: torch.Tensor, shift: tuple[int, int], step_size: float) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`step` on a device tensor (what the GPU loop and the step benchmark run)."""
        dy, dx = shift
        value, grad = self.gradient_tensor(torch.roll(image, (dy, dx), dims=(2, 3)))
        grad = torch.roll(grad, (-dy, -dx), dims=(2, 3))
        moved = image + step_size / (grad.abs().mean() + STEP_EPS) * grad
        return moved.clamp(*self.value_range), value
