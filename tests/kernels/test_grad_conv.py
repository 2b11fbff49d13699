"""Conv input gradient vs torch autograd: groups, depthwise, strides, pads (asymmetric), dilations, bias."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from _vis_gradcheck import TOL, check_module
from onnx import TensorProto, helper

from vis.kernels._conv import transposed_weight
from vis.kernels._emitter import Emitter

T = torch.nn


class AsymPadConv(T.Module):
    """Asymmetric padding: torch exports F.pad + Conv; folded into Conv pads or kept as Pad."""

    def __init__(self, pads: tuple[int, int, int, int], stride: int) -> None:
        super().__init__()
        self.pads = pads
        self.conv = T.Conv2d(4, 6, 3, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(T.functional.pad(x, self.pads))


CASES = [
    # (cin, cout, k, stride, pad, dilation, groups, bias, shape)
    (3, 8, 3, 1, 1, 1, 1, True, (2, 3, 9, 11)),
    (3, 8, 3, 1, 0, 1, 1, False, (1, 3, 8, 7)),
    (4, 6, 5, 2, 2, 1, 1, True, (2, 4, 13, 10)),
    (4, 6, 3, 2, 1, 1, 2, True, (1, 4, 12, 9)),
    (6, 6, 3, 2, 1, 1, 6, False, (2, 6, 11, 11)),  # depthwise stride 2
    (6, 6, 5, 2, 2, 1, 6, True, (1, 6, 15, 16)),  # depthwise 5x5 stride 2
    (6, 12, 3, 1, 1, 1, 6, True, (1, 6, 7, 9)),  # channel multiplier 2
    (3, 5, 3, 1, 2, 2, 1, True, (1, 3, 10, 9)),  # dilation
    (3, 5, 3, 3, 4, 2, 1, True, (1, 3, 17, 14)),  # dilation + stride + big pad
    (3, 4, 7, 2, 3, 1, 1, True, (1, 3, 19, 21)),  # stem-like
    (4, 4, 1, 1, 0, 1, 1, False, (2, 4, 5, 6)),  # 1x1
    (4, 4, 1, 2, 0, 1, 1, True, (1, 4, 7, 6)),  # 1x1 stride 2 (skipped rows)
]


@pytest.mark.parametrize("variant", ["fast", "tensorrt_safe"])
@pytest.mark.parametrize("case", CASES, ids=[f"c{i}" for i in range(len(CASES))])
def test_conv(case: tuple, variant: str) -> None:
    cin, cout, k, s, p, d, g, bias, shape = case
    torch.manual_seed(1)
    conv = T.Conv2d(cin, cout, k, stride=s, padding=p, dilation=d, groups=g, bias=bias)
    assert check_module(conv, shape, variant=variant) < TOL


@pytest.mark.parametrize("dynamic", [True, False])
@pytest.mark.parametrize("pads,stride", [((1, 0, 2, 0), 1), ((0, 2, 1, 0), 2), ((2, 1, 0, 3), 2)])
def test_conv_asymmetric_pads(pads: tuple[int, int, int, int], stride: int, dynamic: bool) -> None:
    torch.manual_seed(2)
    assert check_module(AsymPadConv(pads, stride), (1, 4, 11, 10), dynamic=dynamic) < TOL


def test_conv_1d() -> None:
    torch.manual_seed(3)
    conv = T.Conv1d(3, 5, 3, stride=2, padding=1)
    assert check_module(conv, (2, 3, 17), dynamic=False) < TOL


@pytest.mark.parametrize("group", [1, 2, 4])
def test_transposed_weight_equals_conv_transpose(group: int) -> None:
    rng = np.random.default_rng(0)
    w = rng.standard_normal((8, 4 // group, 3, 3)).astype(np.float32)
    g = torch.from_numpy(rng.standard_normal((1, 8, 6, 7)).astype(np.float32))
    ctx = Emitter(taken={"w"}, opset=17, types={}, constants={"w": w}, variant="fast")
    out = transposed_weight(ctx, "w", w.shape, group)
    graph = helper.make_graph(ctx.nodes, "wt", [helper.make_tensor_value_info("w", TensorProto.FLOAT, w.shape)],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)], ctx.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    (value,) = ort.InferenceSession(model.SerializeToString()).run(None, {"w": w})
    wt = torch.from_numpy(value)
    via_conv = torch.nn.functional.conv2d(g, wt, padding=1, groups=group)
    via_transpose = torch.nn.functional.conv_transpose2d(g, torch.from_numpy(w), padding=1, groups=group)
    np.testing.assert_allclose(via_conv.numpy(), via_transpose.numpy(), rtol=1e-5, atol=1e-5)


TRANSPOSED = [
    # (cin, cout, k, stride, pad, output_padding, dilation, groups, shape): U-Net and GAN decoders
    (4, 3, 2, 2, 0, 0, 1, 1, (2, 4, 5, 6)),  # the U-Net up-convolution, 2x2 stride 2
    (4, 6, 3, 2, 1, 1, 1, 1, (1, 4, 5, 7)),  # 3x3 stride 2 with output_padding: exactly twice the size
    (4, 4, 3, 1, 1, 0, 1, 2, (1, 4, 6, 5)),  # grouped, stride 1
    (3, 5, 3, 2, 2, 0, 2, 1, (1, 3, 6, 6)),  # dilated
    (6, 6, 4, 2, 1, 0, 1, 6, (1, 6, 4, 5)),  # depthwise 4x4 stride 2 (a DCGAN layer, per channel)
]


@pytest.mark.parametrize("dynamic", [True, False])
@pytest.mark.parametrize("case", TRANSPOSED, ids=[f"t{i}" for i in range(len(TRANSPOSED))])
def test_conv_transpose(case: tuple, dynamic: bool) -> None:
    cin, cout, k, s, p, op, d, g, shape = case
    torch.manual_seed(7)
    layer = T.ConvTranspose2d(cin, cout, k, stride=s, padding=p, output_padding=op, dilation=d, groups=g)
    assert check_module(T.Sequential(layer, T.Tanh()), shape, dynamic=dynamic) < TOL
