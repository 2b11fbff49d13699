"""Objective specs: parsing, errors that name the bad part, and ONNX values equal to torch values."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from vis.errors import UnknownNameError
from vis.exporters import (
    ChannelObjective,
    ClassObjective,
    LayerObjective,
    NeuronObjective,
    ObjectiveError,
    objective_graph,
    parse_objective,
)
from vis.exporters._objectives import GuideObjective, L2Penalty, Sum, TVPenalty, guide_features
from vis.models import get_model


@pytest.mark.parametrize("spec,kind,text", [
    ("inception4c", LayerObjective, "inception4c"),
    ("mixed4c", LayerObjective, "inception4c"),
    ("inception4c:97", ChannelObjective, "inception4c:97"),
    ("inception4a:12@7,7", NeuronObjective, "inception4a:12@7,7"),
    ("neuron:inception4a:12", NeuronObjective, "inception4a:12@"),
    ("class:319", ClassObjective, "class:319"),
    ("class:dragonfly", ClassObjective, "class:319"),
    ("prob:dragonfly", ClassObjective, "prob:319"),
    ("l2:0.5", L2Penalty, "l2:0.5"),
    ("tv", TVPenalty, "tv:1"),
    ("guide:inception3b", GuideObjective, "guide:inception3b"),
])
def test_parse_terms(spec, kind, text) -> None:
    objective = parse_objective(spec, "googlenet")
    assert isinstance(objective, kind) and str(objective) == text


def test_parse_sums_and_weights() -> None:
    objective = parse_objective("inception3a:1 + 0.5*inception4d + 1e-3*l2:2", "googlenet")
    assert isinstance(objective, Sum)
    weights = [w for w, _ in objective.terms()]
    assert weights == [1.0, 0.5, 1e-3]
    assert objective.layers() == ("inception3a", "inception4d")


def test_composition_operators() -> None:
    a, b = LayerObjective("inception4c"), ChannelObjective("inception3b", 3)
    combined = 2 * a - b * 0.5
    assert [w for w, _ in combined.terms()] == [2.0, -0.5]


@pytest.mark.parametrize("spec,match", [
    ("inception4c:512", "out of range.*512 channels"),
    ("inception4c:x", "not an integer"),
    ("class:1000", "out of range"),
    ("class:", "class index or name"),
    ("a++b", "empty term"),
    ("fc:3@1,1", "no spatial map"),
    ("inception4a:1@7", "y,x"),
    ("l2:abc", "not a number"),
    ("", "empty"),
])
def test_bad_specs_name_the_part(spec, match) -> None:
    with pytest.raises(ObjectiveError, match=match):
        parse_objective(spec, "googlenet")


@pytest.mark.parametrize("spec,closest", [("inception4x", "inception4c"), ("class:dragonfy", "dragonfly"), ("guide:incepton3b", "inception3b")])
def test_unknown_names_suggest(spec, closest) -> None:
    with pytest.raises(UnknownNameError, match=closest):
        parse_objective(spec, "googlenet")


@pytest.mark.parametrize("name,spec,size", [
    ("googlenet", "inception4c + 0.3*inception3b:5 + tv:0.5", (64, 80)),
    ("googlenet", "inception4a:12@ + inception4a:3@1,2", (65, 97)),
    ("googlenet", "class:319 + 0.1*prob:dragonfly + l2:0.001", (64, 64)),
    ("efficientnet_lite0", "block10:3 + head", (64, 80)),
    ("vgg19", "conv4_1 + relu2_1:4", (48, 40)),
    ("lenet5", "fc4:3 + tanh1:2@4,5", (28, 28)),
])
def test_onnx_value_equals_torch_value(name, spec, size) -> None:
    model = get_model(name, weights="random")
    objective = parse_objective(spec, name)
    proto = objective_graph(name, model, objective)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((2, model.input_mean.shape[1], *size), dtype=np.float32)
    (got,) = session.run(None, {"image": x})
    layers = list(objective.layers())
    with torch.no_grad():
        t = torch.from_numpy(x)
        want = objective.torch_value(dict(zip(layers, model.forward_layers(t, layers))), t)
    assert got.shape == ()
    assert np.isclose(got, float(want), rtol=1e-4, atol=1e-5)


def test_guide_objective_value_and_input() -> None:
    model = get_model("googlenet", weights="random")
    objective = parse_objective("guide:inception3b", "googlenet")
    with torch.no_grad():
        (guide_acts,) = model.forward_layers(torch.rand(1, 3, 48, 48), ["inception3b"])
    guide = guide_features(guide_acts).numpy()
    proto = objective_graph("googlenet", model, objective)
    assert [i.name for i in proto.graph.input] == ["image", "guide"]
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).random((1, 3, 64, 64), dtype=np.float32)
    (got,) = session.run(None, {"image": x, "guide": guide})
    with torch.no_grad():
        (acts,) = model.forward_layers(torch.from_numpy(x), ["inception3b"])
        want = objective.torch_value({"inception3b": acts}, torch.from_numpy(x), torch.from_numpy(guide))
    assert np.isclose(got, float(want), rtol=1e-4)


def test_guide_gradient_matches_finite_differences() -> None:
    """The guide objective's gradient, ORT and torch, against a float64 central difference.

    This caught a torch 2.13 CPU bug: a non-contiguous gradient arriving at the network's last layer gave wrong input
    gradients, so the torch backend makes layer gradients contiguous.
    """
    import copy

    from vis.engine import make_backend

    torch.manual_seed(0)
    model = get_model("efficientnet_lite0", weights="imagenet")
    objective = parse_objective("guide:block10", "efficientnet_lite0")
    with torch.no_grad():
        guide = guide_features(model.forward_layers(torch.rand(1, 3, 48, 64), ["block10"])[0])
    x = np.random.default_rng(0).random((1, 3, 64, 96), dtype=np.float32)
    direction = np.random.default_rng(5).standard_normal(x.shape)
    model64 = copy.deepcopy(model).double()

    def value(z: np.ndarray) -> float:
        with torch.no_grad():
            (acts,) = model64.forward_layers(torch.from_numpy(z), ["block10"])
            return float(objective.torch_value({"block10": acts}, None, guide.double()))

    eps = 1e-5
    x64 = x.astype(np.float64)
    numeric = (value(x64 + eps * direction) - value(x64 - eps * direction)) / (2 * eps)
    for kind in ("ort", "torch"):
        _, grad = make_backend(kind, "efficientnet_lite0", model, objective, guide=guide.numpy()).gradient(x)
        assert float((grad * direction).sum()) == pytest.approx(numeric, rel=0.05), kind


@pytest.mark.parametrize("opset", [13, 18, 21])
@pytest.mark.parametrize("name,spec,size", [("lenet5", "fc4:3 + tanh1:2@4,5 + tanh2", (28, 28)),
                                            ("efficientnet_lite0", "block10:3 + head", (64, 80))])
def test_gradient_graph_at_every_opset_matches_torch(name, spec, size, opset) -> None:
    """From opset 18 a Reduce*'s axes are an input, not an attribute: the graph must load and be right at each."""
    from vis.exporters import gradient_graph

    model = get_model(name, weights="random")
    objective = parse_objective(spec, name)
    proto = gradient_graph(name, model, objective, opset=opset)
    assert proto.opset_import[0].version == opset
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((1, model.input_mean.shape[1], *size), dtype=np.float32)
    value, grad = session.run(None, {"image": x})
    t = torch.from_numpy(x).requires_grad_(True)
    layers = list(objective.layers())
    want = objective.torch_value(dict(zip(layers, model.forward_layers(t, layers))), t)
    want.backward()
    assert np.isclose(value, float(want), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(grad, t.grad.numpy(), rtol=1e-3, atol=1e-3 * np.abs(t.grad.numpy()).max())
