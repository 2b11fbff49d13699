"""vis's native CPU kernels (MaxPoolGrad, ReluGrad) and the rewrite that puts recorded routes on them."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper

from vis.engine import _native
from vis.engine._session import SessionConfig, _with_native_kernels, create_session
from vis.exporters import gradient_graph, parse_objective
from vis.exporters._gradient import step_graph
from vis.exporters._native_routes import NATIVE_DOMAIN, apply_native_routes, native_routes
from vis.models import get_model

LIBRARY = _native.library_path()
needs_library = pytest.mark.skipif(LIBRARY is None, reason="no C++ compiler to build vis's native kernels")


def _session(proto: onnx.ModelProto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.register_custom_ops_library(str(LIBRARY))
    options.intra_op_num_threads = 2
    return ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _one_node(op: str, **attrs) -> onnx.ModelProto:
    node = helper.make_node(op, ["a", "b"], ["out"], domain=NATIVE_DOMAIN, **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in "ab"],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(NATIVE_DOMAIN, 1)])


@needs_library
@pytest.mark.parametrize("shape, kernel, stride, pad, ceil", [
    ((1, 64, 56, 56), 3, 2, 0, True),    # GoogLeNet's strided pools
    ((2, 5, 17, 23), 3, 1, 1, False),    # inception branch pools, batch of two
    ((1, 3, 8, 10), 2, 2, 0, False),     # VGG's pools
    ((1, 4, 11, 13), 3, 2, 1, True),     # padding and a ragged last window
    ((1, 2, 9, 9), (2, 3), (1, 2), 0, False),
])
@pytest.mark.parametrize("ties", [False, True])
def test_maxpool_grad_equals_torch_autograd(shape, kernel, stride, pad, ceil, ties):
    rng = np.random.default_rng(0)
    values = rng.integers(0, 3, shape) if ties else rng.standard_normal(shape)  # ties: first maximum wins
    x = torch.tensor(values, dtype=torch.float32, requires_grad=True)
    y = torch.nn.functional.max_pool2d(x, kernel, stride, pad, ceil_mode=ceil)
    g = torch.tensor(rng.standard_normal(y.shape), dtype=torch.float32)
    y.backward(g)
    k = [kernel] * 2 if isinstance(kernel, int) else list(kernel)
    s = [stride] * 2 if isinstance(stride, int) else list(stride)
    proto = _one_node("MaxPoolGrad", kernel_shape=k, strides=s, pads=[pad] * 4)
    got = _session(proto).run(None, {"a": x.detach().numpy(), "b": g.numpy()})[0]
    np.testing.assert_allclose(got, x.grad.numpy(), rtol=1e-6, atol=1e-6)


@needs_library
def test_relu_grad_passes_the_gradient_where_the_output_is_positive():
    rng = np.random.default_rng(1)
    y = np.maximum(rng.standard_normal((2, 7, 33, 65)), 0).astype(np.float32)  # not a multiple of the chunk size
    g = rng.standard_normal(y.shape).astype(np.float32)
    got = _session(_one_node("ReluGrad")).run(None, {"a": y, "b": g})[0]
    np.testing.assert_array_equal(got, np.where(y > 0, g, 0))


@needs_library
def test_mismatched_inputs_fail_with_the_kernels_message():
    y, g = np.zeros((1, 2, 3, 4), np.float32), np.zeros((1, 2, 3, 5), np.float32)
    with pytest.raises(Exception, match="Y and dY must have the same shape"):
        _session(_one_node("ReluGrad")).run(None, {"a": y, "b": g})


@needs_library
def test_bad_attributes_fail_with_the_kernels_message():
    with pytest.raises(Exception, match="kernel_shape, strides and pads"):
        _session(_one_node("MaxPoolGrad", kernel_shape=[3], strides=[2], pads=[0, 0]))


@pytest.fixture(scope="module")
def googlenet_grad() -> onnx.ModelProto:
    return gradient_graph("googlenet", get_model("googlenet", "random"), parse_objective("inception4a", "googlenet"),
                          weights="random")


def test_exported_graphs_record_routes_but_stay_standard_onnx(googlenet_grad):
    routes = native_routes(googlenet_grad)
    assert {r["op"] for r in routes} == {"MaxPoolGrad", "ReluGrad"}
    assert all(n.domain in ("", "ai.onnx") for n in googlenet_grad.graph.node)
    onnx.checker.check_model(googlenet_grad, full_check=True)


def test_the_index_free_variant_records_no_routes():
    grad = gradient_graph("googlenet", get_model("googlenet", "random"), parse_objective("inception3a", "googlenet"),
                          variant="tensorrt_safe", weights="random")
    assert native_routes(grad) == []


@needs_library
def test_rewrite_swaps_every_route_and_keeps_the_gradient(googlenet_grad):
    rewritten, applied = apply_native_routes(googlenet_grad)
    assert applied == len(native_routes(googlenet_grad)) > 0
    assert native_routes(rewritten) == []
    ops = [n.op_type for n in rewritten.graph.node]
    assert "ScatterElements" not in ops and "Greater" not in ops
    assert all(len(n.output) == 1 for n in rewritten.graph.node if n.op_type == "MaxPool")  # no Indices: fast pool
    x = {"image": np.random.default_rng(2).random((1, 3, 99, 131), dtype=np.float32)}
    plain = ort.InferenceSession(googlenet_grad.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, x)
    native = _session(rewritten).run(None, x)
    np.testing.assert_allclose(native[0], plain[0], rtol=1e-6)
    # the scatter-add and the native kernel add a window's overlapping contributions in different orders
    assert np.linalg.norm(native[1] - plain[1]) <= 1e-6 * np.linalg.norm(plain[1])


@needs_library
def test_step_graphs_keep_their_routes(googlenet_grad):
    step = step_graph(googlenet_grad)
    rewritten, applied = apply_native_routes(step)
    assert applied == len(native_routes(googlenet_grad))
    onnx.checker.check_model(step, full_check=True)


def test_routes_whose_tensors_are_gone_are_skipped(googlenet_grad):
    edited = onnx.ModelProto()
    edited.CopyFrom(googlenet_grad)
    victim = native_routes(edited)[0]["output"]
    for node in edited.graph.node:
        for i, name in enumerate(node.output):
            if name == victim:
                node.output[i] = "renamed"
        for i, name in enumerate(node.input):
            if name == victim:
                node.input[i] = "renamed"
    rewritten, applied = apply_native_routes(edited)
    assert applied == len(native_routes(edited)) - 1


@needs_library
def test_cpu_sessions_use_the_kernels_unless_switched_off(googlenet_grad, monkeypatch):
    options = ort.SessionOptions()
    used = _with_native_kernels(googlenet_grad, options)
    assert any(n.domain == NATIVE_DOMAIN for n in used.graph.node)
    monkeypatch.setenv("VIS_NATIVE", "0")
    assert _with_native_kernels(googlenet_grad, ort.SessionOptions()) is googlenet_grad
    create_session(googlenet_grad, SessionConfig("cpu", 1))  # the standard graph still runs


def test_no_compiler_means_no_library_and_standard_graphs(googlenet_grad, monkeypatch, tmp_path):
    monkeypatch.setenv("CXX", "/bin/false")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    _native._build.cache_clear()
    try:
        assert _native.library_path() is None
        assert _with_native_kernels(googlenet_grad, ort.SessionOptions()) is googlenet_grad
        # a compiler that is there but fails is named, with its exit status: gradients are just slower
        assert _native.describe() == "unavailable (/bin/false failed (exit 1); standard ONNX graphs run)"
        monkeypatch.setenv("CXX", "/no/such/compiler")
        _native._build.cache_clear()
        assert _native.describe() == ("unavailable (no C++ compiler at CXX=/no/such/compiler; standard ONNX graphs "
                                      "run)")
    finally:
        _native._build.cache_clear()


def test_a_library_that_does_not_load_leaves_the_standard_graph(googlenet_grad, monkeypatch, tmp_path):
    junk = tmp_path / "libvis_ops-junk.so"
    junk.write_bytes(b"not a shared library")
    monkeypatch.setattr(_native, "library_path", lambda: junk)
    assert _with_native_kernels(googlenet_grad, ort.SessionOptions()) is googlenet_grad


@needs_library
def test_the_library_is_built_once_per_source_and_cpu(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    _native._build.cache_clear()
    try:
        first = _native.library_path()
        assert first is not None and first.parent == tmp_path / "vis" / "native"
        _native._build.cache_clear()
        mtime = first.stat().st_mtime_ns
        assert _native.library_path() == first and first.stat().st_mtime_ns == mtime  # loaded, not rebuilt
    finally:
        _native._build.cache_clear()


def test_float16_graphs_drop_the_routes(googlenet_grad):
    from vis.exporters._fp16 import to_float16

    assert native_routes(to_float16(googlenet_grad)) == []


@pytest.mark.parametrize("env, expected", [({"VIS_CACHE": "{tmp}/mine"}, "{tmp}/mine"),
                                           ({"XDG_CACHE_HOME": "{tmp}/xdg"}, "{tmp}/xdg/vis")])
def test_everything_vis_caches_follows_its_cache_folder(monkeypatch, tmp_path, env, expected) -> None:
    from vis.engine._session import provider_list
    from vis._cache import cache_dir

    monkeypatch.delenv("VIS_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value.format(tmp=tmp_path))
    base = expected.format(tmp=tmp_path)
    assert str(cache_dir()) == base
    assert str(_native.cache_dir()) == f"{base}/native"
    trt = dict(provider_list("tensorrt")[0][1])
    assert trt["trt_engine_cache_path"] == f"{base}/trt"
