"""Exported inference graphs: parity with torch, dynamic sizes, pruning, metadata, checker."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from vis.errors import UnknownNameError
from vis.exporters import ExportConfig, export_onnx, save_onnx
from vis.errors import OutputExistsError
from vis.models import get_model

PARITY_CASES = {
    "lenet5": (("tanh1", "pool2", "fc2", "fc4"), [(28, 28)]),
    "vgg19": (("relu1_1", "conv3_2", "conv4_1"), [(224, 224), (225, 301)]),
    "googlenet": (("conv1", "inception3b", "inception4c", "fc"), [(224, 224), (225, 301)]),
    "efficientnet_lite0": (("stem", "block5", "block15", "fc"), [(224, 224), (225, 301)]),
}


def run(proto: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"image": x})


@pytest.mark.parametrize("name", list(PARITY_CASES))
def test_parity_with_torch(name: str) -> None:
    layers, sizes = PARITY_CASES[name]
    model = get_model(name, weights="random")
    proto = export_onnx(name, model, ExportConfig(layers=layers, weights="random"))
    assert [o.name for o in proto.graph.output] == list(layers)
    for size in sizes:
        x = torch.rand(2, model.input_mean.shape[1], *size, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            expected = model.forward_layers(x, list(layers))
        for layer, got, want, output in zip(layers, run(proto, x.numpy()), expected, proto.graph.output):
            want = want.numpy()
            assert got.shape == want.shape, layer
            # each declared size (a name stands for any) is what comes out: LeNet-5's conv1 was (batch, 6, batch, ?)
            declared = [d.dim_param or d.dim_value for d in output.type.tensor_type.shape.dim]
            assert declared[0] == "batch" and len(declared) == got.ndim, (layer, declared)
            assert all(isinstance(d, str) and d != "batch" or d == n for d, n in zip(declared[1:], got.shape[1:])), (layer, declared)
            err = np.abs(got - want).max() / np.abs(want).max()
            assert err < 1e-4, f"{name} {layer} {size}: {err:.2e}"


def test_dynamic_axes_and_pruning() -> None:
    proto = export_onnx("vgg19", get_model("vgg19", weights="random"), ExportConfig(layers=("conv4_1",)))
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3, "height", "width"]
    out_dims = [d.dim_param or d.dim_value for d in proto.graph.output[0].type.tensor_type.shape.dim]
    assert out_dims == ["batch", 512, "conv4_1_height", "conv4_1_width"]  # an eighth of the image's, not its own
    ops = {n.op_type for n in proto.graph.node}
    assert "Gemm" not in ops and "MatMul" not in ops
    # conv4_1 is the 9th convolution (2 + 2 + 4 + 1): nothing deeper is in the file
    assert sum(n.op_type == "Conv" for n in proto.graph.node) == 9


def test_classifier_graph_is_fixed_size() -> None:
    proto = export_onnx("vgg19", get_model("vgg19", weights="random"), ExportConfig())
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3, 224, 224]
    assert [o.name for o in proto.graph.output] == ["fc8"]


def test_metadata_and_checker() -> None:
    proto = export_onnx("googlenet", get_model("googlenet", weights="random"), ExportConfig(layers=("inception4c",), weights="random"))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["vis.model"] == "googlenet" and meta["vis.weights"] == "random"
    assert meta["vis.layers"] == "inception4c"
    assert json.loads(meta["vis.preprocessing"])["mean"] == [0.5, 0.5, 0.5]
    assert json.loads(meta["vis.preprocessing"])["classification_transform"]["centre_crop"] == 224
    onnx.checker.check_model(proto, full_check=True)


def test_unknown_layer_suggests() -> None:
    with pytest.raises(UnknownNameError, match="inception4c"):
        export_onnx("googlenet", get_model("googlenet", weights="random"), ExportConfig(layers=("inception4x",)))


def test_save_refuses_overwrite(tmp_path) -> None:
    proto = export_onnx("lenet5", get_model("lenet5", weights="random"))
    path = save_onnx(proto, tmp_path / "new" / "lenet.onnx")
    assert path.exists()
    with pytest.raises(OutputExistsError):
        save_onnx(proto, path)
