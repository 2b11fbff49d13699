"""Elementwise gradients vs torch: activations, Clip bounds, arithmetic with broadcasting (both operands
depending on the image), Pow, Sqrt, Neg, Cast, Dropout/Identity."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _vis_gradcheck import TOL, Lambda, check_graph, check_module
from onnx import TensorProto, helper

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
T = torch.nn
F = torch.nn.functional



def _bias_like(m: Lambda, x: torch.Tensor) -> torch.Tensor:
    return m.p


ACTIVATIONS = {
    "relu": lambda m, x: F.relu(m.conv(x)),
    "relu6": lambda m, x: F.relu6(m.conv(x)),
    "hardtanh": lambda m, x: F.hardtanh(m.conv(x), -0.5, 0.7),
    "clamp_min": lambda m, x: torch.clamp(m.conv(x), min=0.1),
    "clamp_max": lambda m, x: torch.clamp(m.conv(x), max=0.2),
    "tanh": lambda m, x: torch.tanh(m.conv(x)),
    "sigmoid": lambda m, x: torch.sigmoid(m.conv(x)),
    "leaky_relu": lambda m, x: F.leaky_relu(m.conv(x), 0.1),
    "neg": lambda m, x: -m.conv(x),
    "sqrt": lambda m, x: torch.sqrt(m.conv(x) ** 2 + 1.0),
    "exp_log": lambda m, x: torch.log(torch.exp(m.conv(x) * 0.3) + 1.0),
    "abs": lambda m, x: torch.abs(m.conv(x)),
    "reciprocal": lambda m, x: 1.0 / (m.conv(x) ** 2 + 1.0),
    "hardsigmoid": lambda m, x: F.hardsigmoid(m.conv(x)),
    "gelu": lambda m, x: F.gelu(m.conv(x)),
    "elu": lambda m, x: F.elu(m.conv(x), 0.7),
    "celu": lambda m, x: F.celu(m.conv(x), 0.6),
    "softplus": lambda m, x: F.softplus(m.conv(x)),
    "pow3": lambda m, x: torch.pow(m.conv(x), 3),
    "pow_frac": lambda m, x: torch.pow(m.conv(x) ** 2 + 0.5, 1.5),
    "cast_roundtrip": lambda m, x: m.conv(x).double().float(),
    "dropout": lambda m, x: F.dropout(m.conv(x), 0.5, training=False),
    "identity": lambda m, x: T.Identity()(m.conv(x)) * 2.0,
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_unary(name: str) -> None:
    torch.manual_seed(0)
    assert check_module(Lambda(ACTIVATIONS[name]), (2, 3, 7, 9)) < TOL


BINARY = {
    # both operands depend on the image
    "add_same": lambda m, x: m.conv(x) + torch.tanh(m.conv(x)),
    "sub_same": lambda m, x: m.conv(x) - 2 * torch.sigmoid(m.conv(x)),
    "mul_same": lambda m, x: m.conv(x) * torch.tanh(m.conv(x)),
    "div_same": lambda m, x: m.conv(x) / (torch.sigmoid(m.conv(x)) + 0.5),
    "square": lambda m, x: m.conv(x) * m.conv(x),
    # broadcasting, both sides depending on the image
    "add_bcast_pooled": lambda m, x: m.conv(x) + m.conv(x).mean(dim=(2, 3), keepdim=True),
    "mul_bcast_pooled": lambda m, x: m.conv(x) * torch.sigmoid(m.conv(x).mean(dim=(2, 3), keepdim=True)),
    "div_bcast_row": lambda m, x: m.conv(x) / (m.conv(x).abs().sum(dim=2, keepdim=True) + 1.0),
    "sub_bcast_channel": lambda m, x: m.conv(x) - m.conv(x).max(dim=1, keepdim=True).values,
    "mul_bcast_rank": lambda m, x: m.conv(x) * m.conv(x)[0, 0],
    # constant operands
    "add_const": lambda m, x: m.conv(x) + m.p,
    "div_const": lambda m, x: m.p / (m.conv(x) ** 2 + 1.0),
    "sub_const_left": lambda m, x: m.p - m.conv(x),
    "pow_exponent_dep": lambda m, x: torch.pow(torch.sigmoid(m.conv(x)) + 0.5, torch.tanh(m.conv(x))),
    "max_min": lambda m, x: torch.maximum(m.conv(x), torch.tanh(m.conv(x))) + torch.minimum(m.conv(x), m.p),
}


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary(name: str) -> None:
    torch.manual_seed(1)
    assert check_module(Lambda(BINARY[name]), (2, 3, 6, 5)) < TOL


@pytest.mark.parametrize("name", ["add_bcast_pooled", "div_bcast_row", "mul_bcast_rank"])
def test_binary_dynamic_sizes(name: str) -> None:
    torch.manual_seed(2)
    assert check_module(Lambda(BINARY[name]), (1, 3, 6, 5), run_shapes=[(2, 3, 9, 4)]) < TOL


def _clip_graph(lo: float | None, hi: float | None) -> float:
    inputs = ["image", "lo" if lo is not None else "", "hi" if hi is not None else ""]
    while inputs[-1] == "":
        inputs.pop()
    inits = [(n, np.array(v, dtype=np.float32)) for n, v in (("lo", lo), ("hi", hi)) if v is not None]
    nodes = [helper.make_node("Clip", inputs, ["y"])]
    ref = (lambda x: x) if lo is None and hi is None else (lambda x: torch.clamp(x, min=lo, max=hi))
    return check_graph(nodes, (2, 3, 5, 4), "y", ref, initializers=inits)


@pytest.mark.parametrize("lo,hi", [(0.0, 6.0), (-0.3, None), (None, 0.4), (None, None)])
def test_clip_bounds_as_inputs(lo: float | None, hi: float | None) -> None:
    assert _clip_graph(lo, hi) < TOL


def test_cast_float_to_double_graph() -> None:
    nodes = [
        helper.make_node("Cast", ["image"], ["d"], to=TensorProto.DOUBLE),
        helper.make_node("Mul", ["d", "d"], ["d2"]),
        helper.make_node("Cast", ["d2"], ["y"], to=TensorProto.FLOAT),
    ]
    assert check_graph(nodes, (1, 2, 3, 3), "y", lambda x: x * x) < TOL


def test_expand_where_sum() -> None:
    inits = [("shape", np.array([2, 3, 4, 5], dtype=np.int64)), ("zero", np.array(0.0, dtype=np.float32))]
    nodes = [
        helper.make_node("ReduceSum", ["image", "ax"], ["r"], keepdims=1),
        helper.make_node("Expand", ["r", "shape"], ["e"]),
        helper.make_node("Greater", ["image", "zero"], ["cond"]),
        helper.make_node("Where", ["cond", "image", "e"], ["wh"]),
        helper.make_node("Sum", ["wh", "image", "e"], ["y"]),
    ]
    inits.append(("ax", np.array([1], dtype=np.int64)))

    def ref(x: torch.Tensor) -> torch.Tensor:
        e = x.sum(1, keepdim=True).expand(2, 3, 4, 5)
        return torch.where(x > 0, x, e) + x + e

    assert check_graph(nodes, (2, 3, 4, 5), "y", ref, initializers=inits) < TOL


@pytest.mark.parametrize("variant", ["fast", "tensorrt_safe"])
def test_relu_mask_is_exact_at_the_edges_of_float32(variant: str) -> None:
    # Zero and negatives block the gradient; the smallest normal float and large values pass it whole (1e37: y * w in
    # the test's objective stays finite).
    tiny = float(np.finfo(np.float32).tiny)
    x = np.array([[[[0.0, -1.0, tiny, 1e-30, 1.0, 3.5, 1e37, -1e37]]]], dtype=np.float32)
    nodes = [helper.make_node("Relu", ["image"], ["y"])]
    assert check_graph(nodes, x.shape, "y", torch.relu, x=x, variant=variant) == 0.0


MORE_ACTIVATIONS = {
    "hardswish": lambda m, x: F.hardswish(m.conv(x) * 3.0),  # spread over both bends at -3 and 3
    "prelu": lambda m, x: F.prelu(m.conv(x), m.p.reshape(-1) * 0.2),
    "selu": lambda m, x: F.selu(m.conv(x)),
    "mish": lambda m, x: F.mish(m.conv(x)),
}


@pytest.mark.parametrize("name", sorted(MORE_ACTIVATIONS))
def test_activations_of_mobile_and_self_normalising_nets(name: str) -> None:
    """MobileNetV3's HardSwish, PReLU (one slope per channel), SELU and Mish, as torch exports them as single ops."""
    torch.manual_seed(2)
    assert check_module(Lambda(MORE_ACTIVATIONS[name]), (2, 3, 7, 9)) < TOL


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_as_one_op(approximate: str) -> None:
    """Opset 20's Gelu (the dynamo exporter's ConvNeXt), exact and tanh-approximated."""
    node = helper.make_node("Gelu", ["image"], ["y"], approximate=approximate)
    assert check_graph([node], (2, 3, 5, 4), "y", lambda x: F.gelu(x * 1.0, approximate=approximate), opset=20) < TOL
