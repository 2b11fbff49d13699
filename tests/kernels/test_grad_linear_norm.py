"""Gemm/MatMul, BatchNormalization, reductions and softmax gradients vs torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _vis_gradcheck import TOL, check_graph, check_module
from onnx import TensorProto, helper

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
T = torch.nn


class Head(T.Module):
    def __init__(self, fn, cin: int = 3) -> None:  # noqa: ANN001
        super().__init__()
        self.fn = fn
        self.conv = T.Conv2d(cin, 4, 3, padding=1)
        self.fc = T.Linear(4 * 5 * 6, 7)
        self.bn = T.BatchNorm2d(4)
        self.w = T.Parameter(torch.randn(6, 3))
        with torch.no_grad():
            self.bn.running_mean.uniform_(-1, 1)
            self.bn.running_var.uniform_(0.5, 2)
            self.bn.weight.uniform_(0.5, 1.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(self, x)


CASES = {
    "linear": lambda m, x: m.fc(torch.flatten(m.conv(x), 1)),
    "matmul": lambda m, x: m.conv(x) @ m.w,
    "matmul_both": lambda m, x: m.conv(x) @ m.conv(x).transpose(2, 3),
    "matmul_vec": lambda m, x: m.conv(x) @ m.w[:, 0],
    "batchnorm": lambda m, x: m.bn(m.conv(x)),
    "reduce_mean": lambda m, x: m.conv(x).mean(dim=(2, 3)),
    "reduce_mean_keep": lambda m, x: m.conv(x).mean(dim=-1, keepdim=True),
    "reduce_sum": lambda m, x: m.conv(x).sum(dim=1),
    "reduce_sum_all": lambda m, x: m.conv(x).sum().reshape(1),
    "reduce_max": lambda m, x: m.conv(x).amax(dim=(2, 3)),
    "softmax": lambda m, x: torch.softmax(m.conv(x), dim=1),
    "softmax_last": lambda m, x: torch.softmax(m.conv(x), dim=-1),
    "log_softmax": lambda m, x: torch.log_softmax(m.fc(torch.flatten(m.conv(x), 1)), dim=1),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_linear_norm_reduce(name: str) -> None:
    torch.manual_seed(0)
    assert check_module(Head(CASES[name]), (2, 3, 5, 6)) < TOL


@pytest.mark.parametrize("ta,tb", [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_gemm_transposes(ta: int, tb: int) -> None:
    rng = np.random.default_rng(ta * 2 + tb)
    b = rng.standard_normal((5, 4) if tb else (4, 5)).astype(np.float32)
    c = rng.standard_normal((1, 5)).astype(np.float32)
    nodes = [
        helper.make_node("Reshape", ["image", "shp"], ["a"]),
        helper.make_node("Gemm", ["a", "b", "c"], ["y"], transA=ta, transB=tb, alpha=0.7, beta=1.3),
    ]
    shp = np.array([4, 3] if ta else [3, 4], dtype=np.int64)
    bt, ct = torch.from_numpy(b).double(), torch.from_numpy(c).double()

    def ref(x: torch.Tensor) -> torch.Tensor:
        a = x.reshape(*shp.tolist())
        a = a.T if ta else a
        return 0.7 * a @ (bt.T if tb else bt) + 1.3 * ct

    inits = [("b", b), ("c", c), ("shp", shp)]
    assert check_graph(nodes, (1, 3, 2, 2), "y", ref, initializers=inits) < TOL


def test_gemm_both_operands_depend() -> None:
    nodes = [
        helper.make_node("Reshape", ["image", "shp"], ["a"]),
        helper.make_node("Tanh", ["a"], ["t"]),
        helper.make_node("Gemm", ["a", "t"], ["y"], transB=1),
    ]
    inits = [("shp", np.array([3, 4], dtype=np.int64))]
    ref = lambda x: x.reshape(3, 4) @ torch.tanh(x.reshape(3, 4)).T  # noqa: E731
    assert check_graph(nodes, (1, 3, 2, 2), "y", ref, initializers=inits) < TOL


@pytest.mark.parametrize("keepdims", [0, 1])
def test_reduce_mean_axes_attribute(keepdims: int) -> None:
    nodes = [helper.make_node("ReduceMean", ["image"], ["y"], axes=[1, -1], keepdims=keepdims)]
    ref = lambda x: x.mean(dim=(1, -1), keepdim=bool(keepdims))  # noqa: E731
    assert check_graph(nodes, (2, 3, 4, 5), "y", ref) < TOL


def test_reduce_mean_axes_input_opset18() -> None:
    nodes = [helper.make_node("ReduceMean", ["image", "ax"], ["y"], keepdims=0)]
    inits = [("ax", np.array([2, 3], dtype=np.int64))]
    err = check_graph(nodes, (2, 3, 4, 5), "y", lambda x: x.mean(dim=(2, 3)), initializers=inits, opset=18)
    assert err < TOL


@pytest.mark.parametrize("keepdims", [0, 1])
def test_reduce_sum_axes_input(keepdims: int) -> None:
    nodes = [helper.make_node("ReduceSum", ["image", "ax"], ["y"], keepdims=keepdims)]
    inits = [("ax", np.array([0, 2], dtype=np.int64))]
    ref = lambda x: x.sum(dim=(0, 2), keepdim=bool(keepdims))  # noqa: E731
    assert check_graph(nodes, (2, 3, 4, 5), "y", ref, initializers=inits) < TOL


NORMS = {
    "layer_norm_last": lambda m, x: torch.nn.functional.layer_norm(m.conv(x), (6,), m.w[:, 0] + 1.0, m.w[:, 1]),
    "layer_norm_chw": lambda m, x: torch.nn.functional.layer_norm(m.conv(x), (4, 5, 6)),
    "instance_norm": lambda m, x: torch.nn.functional.instance_norm(m.conv(x), weight=m.bn.weight, bias=m.bn.bias),
    "group_norm": lambda m, x: torch.nn.functional.group_norm(m.conv(x), 2, m.bn.weight, m.bn.bias),
}


@pytest.mark.parametrize("name", sorted(NORMS))
def test_normalisations_whose_statistics_come_from_the_image(name: str) -> None:
    """ConvNeXt's LayerNorm (over the last axis and over C x H x W), InstanceNorm (style nets) and GroupNorm, as torch
    exports them at opset 17 (GroupNorm as InstanceNormalization between two reshapes)."""
    torch.manual_seed(3)
    assert check_module(Head(NORMS[name]), (2, 3, 5, 6)) < TOL


def test_group_normalization_as_one_op() -> None:
    """GroupNormalization at opset 21, its scale one per channel (onnx's checker refuses opset 18's, one per group)."""
    rng = np.random.default_rng(4)
    scale, bias = rng.uniform(0.5, 1.5, 4).astype(np.float32), rng.standard_normal(4).astype(np.float32)
    node = helper.make_node("GroupNormalization", ["image", "scale", "bias"], ["y"], num_groups=2, epsilon=1e-5)
    # onnx infers no type for it: torch's exporter writes every tensor's, as here
    typed = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4, 3, 5])

    def reference(x: torch.Tensor) -> torch.Tensor:
        s, b = torch.from_numpy(scale).double(), torch.from_numpy(bias).double()
        return torch.nn.functional.group_norm(x, 2, s, b, eps=1e-5)

    error = check_graph([node], (2, 4, 3, 5), "y", reference, opset=21, value_info=[typed],
                        initializers=[("scale", scale), ("bias", bias)])
    assert error < TOL
