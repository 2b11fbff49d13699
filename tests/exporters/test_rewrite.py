"""Symmetric ConvTranspose pads for ORT's CUDA provider: the same values, every ConvTranspose symmetric."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from vis.exporters import gradient_graph, parse_objective
from vis.exporters._rewrite import symmetric_conv_transpose_pads
from vis.models import get_model


def _run(proto, feeds):
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)


def _pads(proto):
    return [list(a.ints) for n in proto.graph.node if n.op_type == "ConvTranspose" for a in n.attribute if a.name == "pads"]


@pytest.mark.parametrize("pads, strides, output_padding", [([3, 3, 0, 0], [2, 2], [0, 0]), ([0, 1, 2, 0], [2, 3], [1, 0]),
                                                           ([1, 2, 1, 2], [1, 1], [0, 0])])
def test_asymmetric_pads_become_a_crop_with_the_same_values(pads, strides, output_padding):
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((4, 3, 5, 4)).astype(np.float32), "w")
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], pads=pads, strides=strides, kernel_shape=[5, 4],
                            output_padding=output_padding)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 9, 11])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, None, None])], [w])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    fixed = symmetric_conv_transpose_pads(proto)
    onnx.checker.check_model(fixed)
    assert all(p[:2] == p[2:] for p in _pads(fixed))
    x = {"x": rng.standard_normal((1, 4, 9, 11)).astype(np.float32)}
    np.testing.assert_array_equal(_run(fixed, x)[0], _run(proto, x)[0])
    if pads[:2] == pads[2:]:
        assert fixed is proto  # nothing to do, nothing copied


def test_gradient_graphs_for_the_gpu_are_exact():
    model = get_model("googlenet", "random")
    grad = gradient_graph("googlenet", model, parse_objective("inception3b", "googlenet"), weights="random")
    assert any(p[:2] != p[2:] for p in _pads(grad))  # conv1's begin padding: what ORT's CUDA provider refuses
    fixed = symmetric_conv_transpose_pads(grad)
    assert all(p[:2] == p[2:] for p in _pads(fixed))
    x = {"image": np.random.default_rng(1).random((1, 3, 67, 83), dtype=np.float32)}
    for want, got in zip(_run(grad, x), _run(fixed, x)):
        np.testing.assert_array_equal(got, want)
