"""add_input_gradient: errors, pruning, dynamic H/W, checker, variants, and an end-to-end mini-GoogLeNet."""

from __future__ import annotations

import io

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from vis.errors import VisError
from vis.exporters._autodiff import AutodiffError, UnsupportedOperatorError, add_input_gradient
from vis.kernels import NON_DIFFERENTIABLE_OPS, supported_ops

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
T = torch.nn


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _export(module: T.Module, x: torch.Tensor, outputs: list[str]) -> onnx.ModelProto:
    f = io.BytesIO()
    axes = {"image": {0: "batch", 2: "height", 3: "width"}}
    torch.onnx.export(module.eval(), (x,), f, input_names=["image"], output_names=outputs, dynamo=False,
                      opset_version=17, dynamic_axes=axes)
    return onnx.load_from_string(f.getvalue())


class ConvBNReLU(T.Sequential):
    def __init__(self, cin: int, cout: int, k: int, stride: int = 1) -> None:
        super().__init__(T.Conv2d(cin, cout, k, stride, k // 2, bias=False), T.BatchNorm2d(cout, eps=1e-3), T.ReLU())


class Inception(T.Module):
    def __init__(self, cin: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, pp: int) -> None:
        super().__init__()
        self.b1 = ConvBNReLU(cin, c1, 1)
        self.b2 = T.Sequential(ConvBNReLU(cin, c3r, 1), ConvBNReLU(c3r, c3, 3))
        self.b3 = T.Sequential(ConvBNReLU(cin, c5r, 1), ConvBNReLU(c5r, c5, 3))
        self.b4 = T.Sequential(T.MaxPool2d(3, 1, 1, ceil_mode=True), ConvBNReLU(cin, pp, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)


class MiniGoogLeNet(T.Module):
    """conv/bn/relu, maxpool ceil_mode, two inception blocks, a classifier head after the objective's layer."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = T.Sequential(ConvBNReLU(3, 8, 7, 2), T.MaxPool2d(3, 2, ceil_mode=True), ConvBNReLU(8, 12, 3))
        self.pool = T.MaxPool2d(3, 2, ceil_mode=True)
        self.inc3a = Inception(12, 4, 4, 6, 2, 3, 3)
        self.inc3b = Inception(16, 6, 6, 8, 3, 4, 4)
        self.head_pool = T.AdaptiveAvgPool2d(1)
        self.fc = T.Linear(22, 5)
        for m in self.modules():
            if isinstance(m, T.Conv2d):
                T.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if isinstance(m, T.BatchNorm2d):
                with torch.no_grad():
                    m.running_mean.uniform_(-0.1, 0.1)
                    m.running_var.uniform_(0.8, 1.2)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.inc3a(self.pool(self.stem(image)))
        objective = (a * a).mean()  # L2 objective on an inner layer
        logits = self.fc(torch.flatten(self.head_pool(self.inc3b(a)), 1))
        return objective, logits


@pytest.fixture(scope="module")
def mini() -> tuple[MiniGoogLeNet, onnx.ModelProto]:
    torch.manual_seed(0)
    net = MiniGoogLeNet().eval()
    return net, _export(net, torch.randn(1, 3, 64, 64), ["objective", "logits"])


def _torch_grad(net: T.Module, x: np.ndarray) -> np.ndarray:
    xd = torch.from_numpy(x).double().requires_grad_()
    obj, _ = net.double()(xd)
    (g,) = torch.autograd.grad(obj, xd)
    net.float()
    return g.numpy()


@pytest.mark.parametrize("variant", ["fast", "tensorrt_safe"])
def test_mini_googlenet_end_to_end(mini: tuple[MiniGoogLeNet, onnx.ModelProto], variant: str) -> None:
    net, model = mini
    grad_model = add_input_gradient(model, variant=variant)
    onnx.checker.check_model(grad_model, full_check=True)
    assert [o.name for o in grad_model.graph.output] == ["objective", "grad"]
    assert grad_model.opset_import[0].version == 17
    sess = _session(grad_model)
    rng = np.random.default_rng(0)
    for shape in [(1, 3, 64, 64), (2, 3, 37, 53), (1, 3, 50, 41)]:  # dynamic H/W, odd non-square
        x = rng.standard_normal(shape).astype(np.float32)
        obj, grad = sess.run(None, {"image": x})
        assert grad.shape == x.shape
        assert _rel(grad, _torch_grad(net, x)) < 1e-5


def test_pruning_drops_the_head(mini: tuple[MiniGoogLeNet, onnx.ModelProto]) -> None:
    _, model = mini
    grad_model = add_input_gradient(model)
    names = [n.name for n in grad_model.graph.node]
    assert not [n for n in names if n.startswith(("/inc3b/", "/fc/", "/head_pool/"))]
    assert any(n.startswith("/inc3a/") for n in names)
    used = {i for n in grad_model.graph.node for i in n.input}
    assert all(t.name in used for t in grad_model.graph.initializer)
    assert not any("fc.weight" in t.name for t in grad_model.graph.initializer)


def test_variants_differ_in_maxpool_backward(mini: tuple[MiniGoogLeNet, onnx.ModelProto]) -> None:
    _, model = mini
    fast = add_input_gradient(model, variant="fast")
    safe = add_input_gradient(model, variant="tensorrt_safe")
    assert any(n.op_type == "MaxPool" and len([o for o in n.output if o]) == 2 for n in fast.graph.node)
    assert any(n.op_type == "ScatterElements" for n in fast.graph.node)
    assert not any(n.op_type == "MaxPool" and len([o for o in n.output if o]) == 2 for n in safe.graph.node)
    assert not any(n.op_type in ("ScatterElements", "ScatterND", "MaxUnpool") for n in safe.graph.node)
    # stride-1 convolutions become Conv with flipped weights in the fast variant only
    assert not any(n.op_type == "ConvTranspose" and n.name.startswith("vjp/") and
                   _attr(n, "strides", [1, 1]) == [1, 1] for n in fast.graph.node)


def _attr(node: onnx.NodeProto, name: str, default: object) -> object:
    for a in node.attribute:
        if a.name == name:
            return list(helper.get_attribute_value(a))
    return default


def _graph(nodes: list[onnx.NodeProto], inits: dict[str, np.ndarray], out_shape: list[int]) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("objective", TensorProto.FLOAT, out_shape)],
        initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_unsupported_operator_message() -> None:
    nodes = [
        helper.make_node("Hardmax", ["image"], ["h"], name="my_hardmax", axis=1),
        helper.make_node("ReduceSum", ["h"], ["objective"], keepdims=0),
    ]
    with pytest.raises(UnsupportedOperatorError) as info:
        add_input_gradient(_graph(nodes, {}, []))
    msg = str(info.value)
    assert "'Hardmax'" in msg and "'my_hardmax'" in msg
    listed = msg.split("Operators with one: ")[1].split(", ")
    assert listed == sorted(listed) == [op for op in supported_ops("fast") if op not in NON_DIFFERENTIABLE_OPS]
    assert "Conv" in listed and "Shape" not in listed
    assert isinstance(info.value, VisError)
    assert info.value.op_type == "Hardmax" and info.value.node_name == "my_hardmax"


def test_unsupported_configuration_names_reason() -> None:
    nodes = [
        helper.make_node("Pad", ["image", "pads"], ["p"], name="reflect_pad", mode="reflect"),
        helper.make_node("ReduceSum", ["p"], ["objective"], keepdims=0),
    ]
    with pytest.raises(UnsupportedOperatorError, match="reflect_pad.*reflect.*channel axis") as info:  # H and W are fine
        add_input_gradient(_graph(nodes, {"pads": np.array([0, 1, 1, 1, 0, 1, 1, 1], np.int64)}, []))
    assert "Operators with one" not in str(info.value)  # Pad has a rule: no list that names it again


def test_ops_off_the_path_need_no_rule() -> None:
    # Hardmax on a constant branch and a Shape-derived scale: no gradient rule is needed for either.
    w = np.random.default_rng(0).standard_normal((1, 3, 1, 1)).astype(np.float32)
    nodes = [
        helper.make_node("Hardmax", ["w"], ["hw"], axis=1),
        helper.make_node("Shape", ["image"], ["s"]),
        helper.make_node("Cast", ["s"], ["sf"], to=TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["sf", "ax0"], ["ssum"], keepdims=0),
        helper.make_node("Mul", ["image", "hw"], ["a"]),
        helper.make_node("Div", ["a", "ssum"], ["b"]),
        helper.make_node("Mul", ["b", "b"], ["b2"]),
        helper.make_node("ReduceSum", ["b2"], ["objective"], keepdims=1),
    ]
    model = _graph(nodes, {"w": w, "ax0": np.array([0], np.int64)}, [1, 1, 1, 1])
    grad_model = add_input_gradient(model)
    onnx.checker.check_model(grad_model, full_check=True)
    x = np.random.default_rng(1).standard_normal((2, 3, 5, 7)).astype(np.float32)
    obj, grad = _session(grad_model).run(None, {"image": x})
    hw = (w == w.max(axis=1, keepdims=True)).astype(np.float32)
    s = float(sum(x.shape))
    np.testing.assert_allclose(grad, 2 * x * hw * hw / s**2, rtol=1e-5, atol=1e-7)


def test_objective_independent_of_image_gives_zeros() -> None:
    nodes = [helper.make_node("ReduceSum", ["w"], ["objective"], keepdims=0),
             helper.make_node("Relu", ["image"], ["unused"])]
    grad_model = add_input_gradient(_graph(nodes, {"w": np.ones((2, 2), np.float32)}, []))
    onnx.checker.check_model(grad_model, full_check=True)
    assert not any(n.op_type == "Relu" for n in grad_model.graph.node)
    x = np.ones((1, 3, 4, 5), np.float32)
    obj, grad = _session(grad_model).run(None, {"image": x})
    assert float(obj) == 4.0 and grad.shape == x.shape and not grad.any()


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"wrt": "input"}, AutodiffError, "no input 'input'"),
        ({"objective": "loss"}, AutodiffError, "no tensor 'loss'"),
        ({"grad_name": "h"}, AutodiffError, "already used"),
        ({"variant": "turbo"}, ValueError, "turbo"),
    ],
)
def test_argument_errors(kwargs: dict, error: type[Exception], match: str) -> None:
    nodes = [helper.make_node("Relu", ["image"], ["h"]), helper.make_node("ReduceSum", ["h"], ["objective"])]
    with pytest.raises(error, match=match):
        add_input_gradient(_graph(nodes, {}, [1, 1, 1, 1]), **kwargs)


def test_old_opset_is_rejected() -> None:
    nodes = [helper.make_node("Relu", ["image"], ["objective"])]
    model = _graph(nodes, {}, ["n", 3, "h", "w"])
    model.opset_import[0].version = 11
    with pytest.raises(AutodiffError, match="opset 11"):
        add_input_gradient(model)


def test_input_model_is_not_modified(mini: tuple[MiniGoogLeNet, onnx.ModelProto]) -> None:
    _, model = mini
    before = model.SerializeToString()
    add_input_gradient(model)
    assert model.SerializeToString() == before
