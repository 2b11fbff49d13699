"""The float16 gradient graph, run through the CPU provider: same interface, accuracy measured against float32."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from vis.exporters import gradient_graph, parse_objective, step_graph
from vis.exporters._fp16 import to_float16
from vis.models import get_model


# ORT's CPU provider has no float16 ScatterElements(add): graphs with max-pool use the index-free variant here.
@pytest.mark.parametrize("name,spec,variant", [("googlenet", "inception4c", "tensorrt_safe"), ("efficientnet_lite0", "block10", "fast")])
def test_fp16_gradient_close_to_fp32(name, spec, variant) -> None:
    model = get_model(name, weights="random")
    fp32 = gradient_graph(name, model, parse_objective(spec, name), variant=variant)
    fp16 = to_float16(fp32)
    onnx.checker.check_model(fp16, full_check=True)
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in fp16.graph.initializer)
    x = np.random.default_rng(0).random((1, 3, 96, 112), dtype=np.float32)
    v32, g32 = ort.InferenceSession(fp32.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"image": x})
    v16, g16 = ort.InferenceSession(fp16.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"image": x})
    assert g16.dtype == np.float32 and g16.shape == x.shape
    assert abs(v16 - v32) / abs(v32) < 2e-2
    cosine = float((g16 * g32).sum() / np.linalg.norm(g16) / np.linalg.norm(g32))
    # Measured: cosine 0.989 (random GoogLeNet, index-free variant), 0.99+ (EfficientNet-Lite0). A DeepDream step
    # only needs the direction: mean|g| normalises the size.
    assert cosine > 0.98, cosine


def test_fp16_inside_the_fused_step() -> None:
    model = get_model("googlenet", weights="random")
    grad = gradient_graph("googlenet", model, parse_objective("inception3b", "googlenet"), variant="tensorrt_safe")
    x = np.random.default_rng(1).random((1, 3, 64, 64), dtype=np.float32)
    feeds = {"image": x, "shift": np.array([3, 5], np.int64), "step_size": np.array(0.02, np.float32)}
    outs = [ort.InferenceSession(step_graph(g).SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
            for g in (grad, to_float16(grad))]
    moved32, moved16 = outs[0] - x, outs[1] - x
    assert np.abs(moved16 - moved32).mean() < 0.1 * np.abs(moved32).mean()


@pytest.mark.parametrize("name,spec,size", [("efficientnet_lite0", "block10", (96, 112)),
                                            ("efficientnet_lite0", "class:3 + 0.05*l2", (224, 224))])
def test_objective_in_float32_and_a_scaled_seed_give_the_same_gradient(name, spec, size) -> None:
    # float16 overflows a mean of squares and underflows the seed's 1/N on a GPU: the objective's nodes stay
    # float32 (the l2 term reads the float32 image itself), the seed is SEED_SCALE and each gradient is divided back
    from vis.exporters._fp16 import SEED_SCALE

    model = get_model(name, weights="random")
    fp32 = gradient_graph(name, model, parse_objective(spec, name), variant="fast")
    fp16 = to_float16(fp32)
    onnx.checker.check_model(fp16, full_check=True)
    types = {v.name: v.type.tensor_type.elem_type for v in onnx.shape_inference.infer_shapes(fp16).graph.value_info}
    objective_nodes = [n for n in fp16.graph.node if n.name.startswith("objective/")]
    assert objective_nodes and all(types.get(o) in (None, onnx.TensorProto.FLOAT, onnx.TensorProto.INT64)
                                   for n in objective_nodes for o in n.output)
    seed = next(n for n in fp16.graph.node if n.op_type == "ConstantOfShape" and "seed" in n.output[0])
    assert onnx.numpy_helper.to_array(seed.attribute[0].t).tolist() == [SEED_SCALE]
    x = np.random.default_rng(0).random((1, 3, *size), dtype=np.float32)
    v32, g32 = ort.InferenceSession(fp32.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"image": x})
    v16, g16 = ort.InferenceSession(fp16.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"image": x})
    assert np.linalg.norm(g16) / np.linalg.norm(g32) == pytest.approx(1.0, abs=0.1)  # not SEED_SCALE times larger
    cosine = float((g16 * g32).sum() / np.linalg.norm(g16) / np.linalg.norm(g32))
    assert cosine > 0.94, cosine  # measured 0.99 (block10), 0.95 (class logit through the classifier, random weights)
    assert abs(v16 - v32) < 2e-2 * abs(v32) + 5e-3  # the random net's class logit is near 0 (-0.13)


def test_true_float16_arithmetic_keeps_the_gradient_of_a_mean_over_more_than_65504_elements() -> None:
    # ORT's CPU provider runs the float16 graph mostly in float32 (it has no float16 Conv); onnx's reference evaluator
    # computes in numpy float16, as a GPU would. A mean over 6 x 154 x 154 = 142296 activations: its backward divides
    # by that count, which is infinite in float16, so before the count stayed float32 every gradient came out 0 (what
    # the H100 showed at 224 px and up).
    from onnx.reference import ReferenceEvaluator

    fp32 = gradient_graph("lenet5", get_model("lenet5", weights="random"), parse_objective("conv1", "lenet5"),
                          variant="tensorrt_safe")
    x = np.random.default_rng(2).random((1, 1, 160, 160), dtype=np.float32)
    v32, g32 = ort.InferenceSession(fp32.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"image": x})
    v16, g16 = ReferenceEvaluator(to_float16(fp32)).run(None, {"image": x})
    assert np.isfinite(g16).all() and g16.dtype == np.float32
    assert np.linalg.norm(g16 - g32) / np.linalg.norm(g32) < 1e-2  # measured 9e-4; 1.0 before the fix
    assert abs(v16 - v32) / abs(v32) < 1e-3
