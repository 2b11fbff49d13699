"""The fused ascent step equals a plain reference of google/deepdream's make_step."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from vis.engine import make_backend
from vis.exporters import gradient_graph, parse_objective, step_graph
from vis.models import get_model


def reference_make_step(model, layer: str, image: np.ndarray, shift: tuple[int, int], step: float) -> np.ndarray:
    """google/deepdream's make_step written plainly (L2 objective, jitter roll, normalised step, clip to [0, 1])."""
    ox, oy = shift[1], shift[0]
    src = np.roll(np.roll(image, ox, -1), oy, -2)
    x = torch.from_numpy(src).requires_grad_(True)
    (acts,) = model.forward_layers(x, [layer])
    (acts * acts).flatten(1).mean(1).sum().backward()
    g = x.grad.numpy()
    src = src + step / (np.abs(g).mean() + 1e-8) * g
    src = np.clip(src, 0.0, 1.0)
    return np.roll(np.roll(src, -ox, -1), -oy, -2)


@pytest.mark.parametrize("shift", [(0, 0), (5, -7), (-33, 40), (130, -200)])
def test_step_graph_equals_make_step(shift) -> None:
    model = get_model("googlenet", weights="random")
    backend = make_backend("ort", "googlenet", model, parse_objective("inception3b", "googlenet"))
    image = np.random.default_rng(2).random((1, 3, 67, 90), dtype=np.float32) * 0.8 + 0.1
    got, value = backend.step(image, shift, 1.5)
    want = reference_make_step(model, "inception3b", image, shift, 1.5)
    assert got.shape == image.shape
    assert np.abs(got - want).max() < 1e-4
    assert value > 0


def test_step_graph_is_valid_and_dynamic() -> None:
    model = get_model("lenet5", weights="random")
    proto = step_graph(gradient_graph("lenet5", model, parse_objective("tanh2", "lenet5")))
    onnx.checker.check_model(proto, full_check=True)
    assert [i.name for i in proto.graph.input] == ["image", "shift", "step_size"]
    assert [o.name for o in proto.graph.output] == ["image_out", "objective"]


def test_torch_and_ort_steps_agree() -> None:
    model = get_model("efficientnet_lite0", weights="random")
    objective = parse_objective("block5", "efficientnet_lite0")
    image = np.random.default_rng(3).random((1, 3, 61, 75), dtype=np.float32)
    a, va = make_backend("ort", "efficientnet_lite0", model, objective).step(image, (3, 9), 0.02)
    b, vb = make_backend("torch", "efficientnet_lite0", model, objective).step(image, (3, 9), 0.02)
    assert np.abs(a - b).max() < 1e-4 and np.isclose(va, vb, rtol=1e-4)


@pytest.fixture(scope="module")
def lenet_grad_graph():
    return gradient_graph("lenet5", get_model("lenet5", weights="random"), parse_objective("tanh2", "lenet5"))


@pytest.mark.parametrize("shift", [(0, 0), (5, -7), (-33, 40), (130, -200), (-28, 33)])
def test_fixed_size_gather_roll_equals_the_slice_roll(lenet_grad_graph, shift) -> None:
    import onnxruntime as ort

    plain = ort.InferenceSession(step_graph(lenet_grad_graph).SerializeToString(), providers=["CPUExecutionProvider"])
    fixed_proto = step_graph(lenet_grad_graph, size=(28, 33))
    onnx.checker.check_model(fixed_proto, full_check=True)
    fixed = ort.InferenceSession(fixed_proto.SerializeToString(), providers=["CPUExecutionProvider"])
    assert fixed.get_inputs()[0].shape[2:] == [28, 33]
    # the rolls read the shift as data on the device: no Slice offsets or shapes taken from it
    step_ops = {n.op_type for n in fixed_proto.graph.node if n.name.startswith("step/")}
    assert "Gather" in step_ops and not step_ops & {"Slice", "Shape", "Concat"}
    feed = {"image": np.random.default_rng(0).random((1, 1, 28, 33), dtype=np.float32),
            "shift": np.asarray(shift, np.int64), "step_size": np.asarray(0.1, np.float32)}
    for a, b in zip(plain.run(None, feed), fixed.run(None, feed)):
        assert np.array_equal(a, b)
    with pytest.raises(Exception, match="dimensions"):  # a fixed-size graph refuses other sizes
        fixed.run(None, {**feed, "image": feed["image"][..., :30]})


def test_fixed_size_must_be_positive(lenet_grad_graph) -> None:
    from vis.errors import VisError

    with pytest.raises(VisError, match="size"):
        step_graph(lenet_grad_graph, size=(0, 5))
