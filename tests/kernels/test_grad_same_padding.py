"""Conv and pooling with ``auto_pad`` SAME_UPPER / SAME_LOWER (tf2onnx's TensorFlow ``padding="SAME"``) vs torch
autograd on explicitly padded inputs, on images of static and of run-time size. The objective check inside
``check_graph`` also pins the pad split to ONNX Runtime's forward."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _vis_gradcheck import TOL, check_graph
from onnx import helper


F = torch.nn.functional


def same_pads(size: int, k_eff: int, stride: int, mode: str) -> tuple[int, int]:
    out = -(-size // stride)
    total = max(0, (out - 1) * stride + k_eff - size)
    small, large = total // 2, total - total // 2
    return (small, large) if mode == "SAME_UPPER" else (large, small)


def torch_pad(x: torch.Tensor, k_eff: tuple[int, int], stride: tuple[int, int], mode: str,
              value: float = 0.0) -> torch.Tensor:
    top, bottom = same_pads(x.shape[2], k_eff[0], stride[0], mode)
    left, right = same_pads(x.shape[3], k_eff[1], stride[1], mode)
    return F.pad(x, (left, right, top, bottom), value=value)


CONV_CASES = [
    # (kernel, stride, dilation, groups, x shape)
    (3, 2, 1, 1, (1, 3, 9, 10)),
    (5, 2, 1, 1, (2, 3, 8, 7)),
    (1, 2, 1, 1, (1, 3, 6, 7)),  # the total would be negative at even sizes: no pad
    (4, 2, 1, 1, (1, 3, 9, 12)),  # even kernel: UPPER and LOWER split differently
    (4, 1, 1, 1, (1, 3, 7, 6)),  # stride 1: static pads whatever the size
    (3, 3, 1, 1, (1, 3, 11, 13)),  # (ONNX Runtime refuses dilations under SAME)
    (3, 2, 1, 3, (1, 3, 9, 8)),  # depthwise
]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "k{}s{}d{}g{}".format(*c[:4]))
@pytest.mark.parametrize("mode", ["SAME_UPPER", "SAME_LOWER"])
@pytest.mark.parametrize("static", [False, True], ids=["runtime-size", "static-size"])
def test_conv_same(case: tuple, mode: str, static: bool) -> None:
    k, stride, dil, groups, shape = case
    rng = np.random.default_rng(1)
    w = rng.standard_normal((6, shape[1] // groups, k, k)).astype(np.float32)
    node = helper.make_node("Conv", ["image", "w"], ["y"], auto_pad=mode, kernel_shape=[k, k], strides=[stride] * 2,
                            dilations=[dil] * 2, group=groups)
    k_eff = (k - 1) * dil + 1

    def ref(x: torch.Tensor) -> torch.Tensor:
        xp = torch_pad(x, (k_eff, k_eff), (stride, stride), mode)
        return F.conv2d(xp, torch.from_numpy(w).double(), stride=stride, dilation=dil, groups=groups)

    for variant in ("fast", "tensorrt_safe"):
        assert check_graph([node], shape, "y", ref, initializers=[("w", w)], variant=variant, static=static) < TOL


POOL_SHAPES = [(1, 2, 10, 9), (2, 2, 11, 12)]  # odd and even sides: the pad totals differ


@pytest.mark.parametrize("mode", ["SAME_UPPER", "SAME_LOWER"])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("static", [False, True], ids=["runtime-size", "static-size"])
def test_maxpool_same(mode: str, stride: int, static: bool) -> None:
    """Every route: indices (opset 16+), the dense index-free one (opset 13, TensorRT) and the stride-1 one."""
    node = helper.make_node("MaxPool", ["image"], ["y"], auto_pad=mode, kernel_shape=[3, 3], strides=[stride] * 2)

    def ref(x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(torch_pad(x, (3, 3), (stride, stride), mode, value=-np.inf), 3, stride)

    for shape in POOL_SHAPES:
        for variant, opset in (("fast", 17), ("fast", 13), ("tensorrt_safe", 17)):
            error = check_graph([node], shape, "y", ref, static=static, variant=variant, opset=opset)
            assert error < TOL, (shape, variant, opset)


@pytest.mark.parametrize("mode", ["SAME_UPPER", "SAME_LOWER"])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("static", [False, True], ids=["runtime-size", "static-size"])
@pytest.mark.parametrize("include_pad", [0, 1])
def test_avgpool_same(mode: str, stride: int, static: bool, include_pad: int) -> None:
    """TensorFlow's SAME average excludes the padding (count_include_pad=0); ONNX allows counting it too."""
    node = helper.make_node("AveragePool", ["image"], ["y"], auto_pad=mode, kernel_shape=[4, 4],
                            strides=[stride] * 2, count_include_pad=include_pad)

    def ref(x: torch.Tensor) -> torch.Tensor:
        def window_sum(t: torch.Tensor) -> torch.Tensor:
            return F.avg_pool2d(torch_pad(t, (4, 4), (stride, stride), mode), 4, stride) * 16

        return window_sum(x) / (16 if include_pad else window_sum(torch.ones_like(x)))

    for shape in POOL_SHAPES:
        for variant in ("fast", "tensorrt_safe"):
            assert check_graph([node], shape, "y", ref, static=static, variant=variant) < TOL, (shape, variant)
