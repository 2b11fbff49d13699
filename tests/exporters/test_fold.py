"""Folding shape arithmetic of fixed-size graphs: the same values, no shape nodes left."""

import collections

import numpy as np
import onnxruntime as ort
import pytest

import vis.exporters._gradient as gradient_module
from vis.exporters import parse_objective
from vis.exporters._fold import fold_static_shapes
from vis.models import get_model, model_spec


def _run(proto, feeds):
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # compare the graphs, not ORT's fusions
    return ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"]).run(None, feeds)


@pytest.mark.parametrize("model, variant", [("googlenet", "fast"), ("googlenet", "tensorrt_safe"),
                                            ("efficientnet_lite0", "fast"), ("vgg19", "tensorrt_safe")])
def test_fixed_step_graph_is_folded_and_computes_the_same(monkeypatch, model, variant):
    net = get_model(model, "random")
    grad = gradient_module.gradient_graph(model, net, parse_objective(model_spec(model).default_layer, model),
                                          variant=variant, weights="random")
    value_range = gradient_module.model_value_range(model)
    folded = gradient_module.step_graph(grad, value_range, size=(40, 56))
    with monkeypatch.context() as m:
        m.setattr(gradient_module, "fold_static_shapes", lambda proto, shapes: proto)
        plain = gradient_module.step_graph(grad, value_range, size=(40, 56))
    ops = collections.Counter(n.op_type for n in folded.graph.node)
    assert ops["Shape"] == ops["Size"] == 0
    assert len(folded.graph.node) < len(plain.graph.node)
    feeds = {"image": np.random.default_rng(0).random((1, 3, 40, 56), dtype=np.float32),
             "shift": np.array([5, -7], np.int64), "step_size": np.asarray(0.01, np.float32)}
    for want, got in zip(_run(plain, feeds), _run(folded, feeds)):
        np.testing.assert_array_equal(got, want)


def test_bad_input_names_and_ranks_are_errors():
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2])
    y = helper.make_tensor_value_info("y", TensorProto.INT64, [2])
    proto = helper.make_model(helper.make_graph([helper.make_node("Shape", ["x"], ["y"])], "g", [x], [y]))
    with pytest.raises(ValueError, match="no input 'z'"):
        fold_static_shapes(proto, {"z": (1, 2)})
    with pytest.raises(ValueError, match="rank 2"):
        fold_static_shapes(proto, {"x": (1, 2, 3)})
    # a graph output is kept as a node, its input now static
    folded = fold_static_shapes(proto, {"x": (4, 2)})
    assert [n.op_type for n in folded.graph.node] == ["Shape"]
    assert [d.dim_value for d in folded.graph.input[0].type.tensor_type.shape.dim] == [4, 2]
