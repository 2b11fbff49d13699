"""Conv and pooling with ``auto_pad`` SAME_UPPER / SAME_LOWER (tf2onnx's TensorFlow ``padding="SAME"``) vs torch
autograd on explicitly padded inputs, on images of static and of run-time size. The objective check inside
``check_graph`` also pins the pad split to ONNX Runtime's forward."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _vis_gradcheck import TOL, check_graph
from onnx import helper

from vis.exporters._autodiff import UnsupportedOperatorError

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


@pytest.mark.parametrize("mode", ["SAME_UPPER", "SAME_LOWER"])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("static", [False, True], ids=["runtime-size", "static-size"])
def test_maxpool_same(mode: str, stride: int, static: bool) -> None:
    node = helper.make_node("MaxPool", ["image"], ["y"], auto_pad=mode, kernel_shape=[3, 3], strides=[stride] * 2)

    def ref(x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(torch_pad(x, (3, 3), (stride, stride), mode, value=-np.inf), 3, stride)

    assert check_graph([node], (1, 2, 10, 9), "y", ref, static=static) < TOL
    if static or stride == 1:
        assert check_graph([node], (1, 2, 10, 9), "y", ref, variant="tensorrt_safe", static=static) < TOL


@pytest.mark.parametrize("mode", ["SAME_UPPER", "SAME_LOWER"])
@pytest.mark.parametrize("stride,static", [(1, False), (2, True), (3, True)])
def test_avgpool_same_excludes_the_padding(mode: str, stride: int, static: bool) -> None:
    node = helper.make_node("AveragePool", ["image"], ["y"], auto_pad=mode, kernel_shape=[4, 4],
                            strides=[stride] * 2)

    def ref(x: torch.Tensor) -> torch.Tensor:
        def window_sum(t: torch.Tensor) -> torch.Tensor:
            return F.avg_pool2d(torch_pad(t, (4, 4), (stride, stride), mode), 4, stride) * 16

        return window_sum(x) / window_sum(torch.ones_like(x))

    assert check_graph([node], (1, 2, 11, 10), "y", ref, static=static) < TOL


@pytest.mark.parametrize("op,variant", [("AveragePool", "fast"), ("MaxPool", "tensorrt_safe")])
def test_strided_same_pool_of_runtime_size_is_refused(op: str, variant: str) -> None:
    node = helper.make_node(op, ["image"], ["y"], auto_pad="SAME_UPPER", kernel_shape=[3, 3], strides=[2, 2])
    with pytest.raises(UnsupportedOperatorError, match=f"{op} auto_pad=SAME_UPPER with stride > 1 on an input of"):
        check_graph([node], (1, 2, 10, 9), "y", lambda x: x, variant=variant)
