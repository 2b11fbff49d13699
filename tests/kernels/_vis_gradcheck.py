"""Shared helpers of the gradient-rule tests: export a tiny torch module with a weighted-sum objective, build the
gradient graph, run it in ONNX Runtime and compare with torch autograd in float64."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto, helper, numpy_helper

from vis.exporters._autodiff import add_input_gradient

TOL = 1e-5


class WeightedSum(torch.nn.Module):
    """objective = sum(body(image) * w) with a fixed random w, or 0.5 * sum(body(image)**2) when w is None
    (shape-agnostic, for runs on several input sizes)."""

    def __init__(self, body: torch.nn.Module, w: torch.Tensor | None) -> None:
        super().__init__()
        self.body = body
        self.register_buffer("w", w)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        y = self.body(image)
        if self.w is None:
            return (y * y).sum() * 0.5
        return (y * self.w).sum()


class Lambda(torch.nn.Module):
    """A 3 -> ``channels`` conv and a per-channel parameter ``p``; ``fn(self, x)`` is the case under test."""

    def __init__(self, fn, channels: int = 4) -> None:  # noqa: ANN001
        super().__init__()
        self.fn = fn
        self.conv = torch.nn.Conv2d(3, channels, 3, padding=1)
        self.p = torch.nn.Parameter(torch.randn(channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(self, x)


def session(model: onnx.ModelProto) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def rel_err(got: np.ndarray, ref: np.ndarray) -> float:
    return float(np.linalg.norm(got - ref) / max(np.linalg.norm(ref), 1e-30))


def export(module: torch.nn.Module, x: torch.Tensor, dynamic: bool = True, opset: int = 17) -> onnx.ModelProto:
    f = io.BytesIO()
    axes = {"image": {0: "batch", 2: "height", 3: "width"}} if dynamic and x.dim() == 4 else None
    torch.onnx.export(module, (x,), f, input_names=["image"], output_names=["objective"], dynamo=False,
                      opset_version=opset, dynamic_axes=axes)
    return onnx.load_from_string(f.getvalue())


def torch_grad(module: torch.nn.Module, x: np.ndarray) -> tuple[float, np.ndarray]:
    xd = torch.from_numpy(x).double().requires_grad_()
    obj = module.double()(xd)
    (g,) = torch.autograd.grad(obj, xd)
    module.float()
    return float(obj), g.numpy()


def check_module(
    body: torch.nn.Module,
    shape: Sequence[int],
    *,
    variant: str = "fast",
    dynamic: bool = True,
    x: np.ndarray | None = None,
    run_shapes: Sequence[Sequence[int]] = (),
    seed: int = 0,
) -> float:
    """Worst relative L2 gradient error of ORT vs torch (float64) over ``shape`` and ``run_shapes``."""
    gen = torch.Generator().manual_seed(seed)
    body = body.eval()
    x0 = torch.randn(*shape, generator=gen) if x is None else torch.from_numpy(x)
    w = None
    if not run_shapes:
        with torch.no_grad():
            w = torch.randn(body(x0).shape, generator=gen)
    module = WeightedSum(body, w).eval()
    model = export(module, x0, dynamic=dynamic)
    grad_model = add_input_gradient(model, variant=variant)
    onnx.checker.check_model(grad_model, full_check=True)
    sess = session(grad_model)
    worst = 0.0
    for xs in [x0.numpy()] + [torch.randn(*s, generator=gen).numpy() for s in run_shapes]:
        obj, grad = sess.run(None, {"image": xs})
        ref_obj, ref = torch_grad(module, xs)
        assert grad.shape == xs.shape
        assert np.isclose(float(np.asarray(obj).reshape(())), ref_obj, rtol=1e-4, atol=1e-4), (obj, ref_obj)
        worst = max(worst, rel_err(grad, ref))
    return worst


def check_graph(
    nodes: Sequence[onnx.NodeProto],
    x_shape: Sequence[int],
    out_name: str,
    reference: Callable[[torch.Tensor], torch.Tensor],
    *,
    initializers: Sequence[tuple[str, np.ndarray]] = (),
    variant: str = "fast",
    x: np.ndarray | None = None,
    seed: int = 0,
    opset: int = 17,
    value_info: Sequence[onnx.ValueInfoProto] = (),
    static: bool = False,
) -> float:
    """Gradient error for a handmade graph ``image -> nodes -> out_name`` with objective ``sum(out * w)``.

    ``reference`` computes ``out_name`` from the image in torch (float64). ``value_info``: types an exporter would
    have written for tensors that onnx's shape inference leaves open. A 4-D image has symbolic dims unless
    ``static``.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(np.float32) if x is None else x
    with torch.no_grad():
        out_shape = tuple(reference(torch.from_numpy(x).double()).shape)
    w = rng.standard_normal(out_shape).astype(np.float32)
    inits = [numpy_helper.from_array(v, n) for n, v in initializers] + [numpy_helper.from_array(w, "obj_w")]
    objective_nodes = [
        helper.make_node("Mul", [out_name, "obj_w"], ["obj_prod"]),
        helper.make_node("ReduceSum", ["obj_prod"], ["objective"], keepdims=0),
    ]
    graph = helper.make_graph(
        list(nodes) + objective_nodes, "g",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", "c", "h", "w"][: len(x_shape)])
         if len(x_shape) == 4 and not static else helper.make_tensor_value_info("image", TensorProto.FLOAT, list(x_shape))],
        [helper.make_tensor_value_info("objective", TensorProto.FLOAT, [])],
        initializer=inits,
        value_info=list(value_info),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    grad_model = add_input_gradient(model, variant=variant)
    onnx.checker.check_model(grad_model, full_check=True)
    obj, grad = session(grad_model).run(None, {"image": x})
    xd = torch.from_numpy(x).double().requires_grad_()
    ref_obj = (reference(xd) * torch.from_numpy(w).double()).sum()
    (ref,) = torch.autograd.grad(ref_obj, xd)
    assert np.isclose(float(obj), float(ref_obj), rtol=1e-4, atol=1e-4), (float(obj), float(ref_obj))
    return rel_err(grad, ref.numpy())
