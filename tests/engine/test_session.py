"""ORT sessions: provider resolution, the cache, IOBinding with CPU OrtValues."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from vis.engine import BoundRunner, ProviderUnavailableError, SessionConfig, create_session, resolve_providers
from vis.engine._session import clear_session_cache
from vis.errors import UnknownNameError
from vis.exporters import gradient_graph, parse_objective
from vis.models import get_model


@pytest.fixture(scope="module")
def lenet_grad():
    model = get_model("lenet5", weights="random")
    return model, gradient_graph("lenet5", model, parse_objective("tanh2", "lenet5"))


def test_cpu_and_auto_resolve() -> None:
    assert resolve_providers("cpu") == ["CPUExecutionProvider"]
    assert resolve_providers("auto")[-1] == "CPUExecutionProvider"


@pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(), reason="this machine has CUDA")
@pytest.mark.parametrize("provider", ["cuda", "tensorrt"])
def test_missing_provider_is_an_error_not_a_fallback(provider) -> None:
    with pytest.raises(ProviderUnavailableError, match=f"{provider} execution provider is not available"):
        resolve_providers(provider)


def test_unknown_provider() -> None:
    with pytest.raises(UnknownNameError, match="cuda"):
        resolve_providers("cudaa")


def test_session_cache_keys(lenet_grad) -> None:
    _, proto = lenet_grad
    clear_session_cache()
    a = create_session(proto, SessionConfig("cpu", 1))
    assert create_session(proto, SessionConfig("cpu", 1)) is a
    assert create_session(proto, SessionConfig("cpu", 2)) is not a
    assert create_session(proto, SessionConfig("cpu", 1), shape=(1, 1, 28, 28)) is not a


def test_cpu_threads_do_not_spin_between_runs(lenet_grad) -> None:
    """Spinning ORT threads took the cores the video loop's flow, decoder and encoder need (BENCHMARKS.md)."""
    _, proto = lenet_grad
    clear_session_cache()
    options = create_session(proto, SessionConfig("cpu", 2)).get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_iobinding_with_cpu_ortvalues_matches_plain_run(lenet_grad) -> None:
    _, proto = lenet_grad
    session = create_session(proto, SessionConfig("cpu", 1))
    x = np.random.default_rng(0).random((3, 1, 28, 28), dtype=np.float32)
    plain = session.run(None, {"image": x})
    runner = BoundRunner(session)
    bound = runner.run({"image": runner.to_device(x)})
    assert all(isinstance(v, ort.OrtValue) for v in bound)
    for p, b in zip(plain, bound):
        assert np.array_equal(p, b.numpy())
    # outputs can be fed back as inputs without a host round trip
    assert runner.run({"image": ort.OrtValue.ortvalue_from_numpy(x)})[1].numpy().shape == x.shape


@pytest.mark.parametrize("provider, kwargs, expected", [
    ("cpu", {}, ["CPUExecutionProvider"]),
    ("cuda", {}, ["CUDAExecutionProvider", "CPUExecutionProvider"]),
    ("cuda", {"cuda_graph": True},
     [("CUDAExecutionProvider", {"device_id": "0", "enable_cuda_graph": "1"}), "CPUExecutionProvider"]),
    ("cuda", {"cuda_graph": True, "device_id": 1},
     [("CUDAExecutionProvider", {"device_id": "1", "enable_cuda_graph": "1"}), "CPUExecutionProvider"]),
    ("cuda", {"device_id": 2}, [("CUDAExecutionProvider", {"device_id": "2"}), "CPUExecutionProvider"]),
])
def test_provider_options_without_a_device(provider, kwargs, expected) -> None:
    from vis.engine._session import provider_list

    assert provider_list(provider, **kwargs) == expected


@pytest.mark.parametrize("provider", ["cpu", "tensorrt"])
def test_cuda_graphs_need_the_cuda_provider(provider) -> None:
    from vis.engine._session import CudaGraphError, provider_list

    with pytest.raises(CudaGraphError, match="cuda execution provider"):
        provider_list(provider, cuda_graph=True)
    if provider == "cpu":
        with pytest.raises(CudaGraphError):
            SessionConfig("cpu", cuda_graph=True).providers()


def test_create_session_hands_ort_the_cuda_graph_options(monkeypatch, lenet_grad) -> None:
    """What create_session gives ORT for cuda with CUDA graphs, on a pretend CUDA machine, no CUDA session made."""
    import vis.engine._session as session_module

    monkeypatch.setattr(session_module, "available_providers", lambda: ["cpu", "cuda"])
    calls = []

    class StartedSession:  # a session that started every provider it was given
        def __init__(self, model, options, providers):
            calls.append(providers)
            self.names = [p if isinstance(p, str) else p[0] for p in providers]

        def get_providers(self):
            return self.names

    monkeypatch.setattr(session_module.ort, "InferenceSession", StartedSession)
    captured = SessionConfig("cuda", 1, cuda_graph=True, device_id=1)
    assert captured.device() == ("cuda", 1) and SessionConfig("cpu").device() == ("cpu", 0)
    clear_session_cache()
    try:
        # plain sessions are cached; captured ones never (a second user would replay the first one's graph ids)
        for config in (captured, SessionConfig("cuda", 1), captured, SessionConfig("cuda", 1)):
            create_session(lenet_grad[1], config, shape=(1, 1, 28, 28))
    finally:
        clear_session_cache()
    assert calls == [
        [("CUDAExecutionProvider", {"device_id": "1", "enable_cuda_graph": "1"}), "CPUExecutionProvider"],
        ["CUDAExecutionProvider", "CPUExecutionProvider"],
        [("CUDAExecutionProvider", {"device_id": "1", "enable_cuda_graph": "1"}), "CPUExecutionProvider"],
    ]


def test_a_provider_that_fails_to_start_is_an_error_not_a_quiet_cpu_run(monkeypatch) -> None:
    # Asked for a provider it cannot start (here one this build lacks; on a GPU machine, missing CUDA libraries),
    # ORT only logs and runs everything on the CPU: vis must say so instead.
    import vis.engine._session as session_module

    monkeypatch.setattr(session_module, "resolve_providers",
                        lambda *a, **k: ["TensorrtExecutionProvider", "CPUExecutionProvider"])
    with pytest.raises(ProviderUnavailableError, match="could not start the tensorrt provider"):
        create_session(_identity_graph(), SessionConfig("tensorrt"))


def _identity_graph():
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    return helper.make_model(helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y]))


def test_tensorrt_counts_only_when_its_library_loads(monkeypatch) -> None:
    # onnxruntime-gpu lists TensorRT even where libnvinfer is missing (seen on an H100 machine)
    import vis.engine._session as session_module

    listed = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(session_module.ort, "get_available_providers", lambda: listed)
    monkeypatch.setattr(session_module, "tensorrt_loads", lambda: False)
    assert session_module.available_providers() == ["cpu", "cuda"]
    monkeypatch.setattr(session_module, "tensorrt_loads", lambda: True)
    assert session_module.available_providers() == ["cpu", "cuda", "tensorrt"]


def test_tensorrt_sessions_get_an_engine_cache_of_their_own_graph(monkeypatch, tmp_path) -> None:
    """TensorRT names cached engines by the graph's names and shapes, not its weights, and makes no parent folders:
    each graph gets a folder, made before the session starts, that a graph with other weights does not share."""
    import vis.engine._session as session_module

    monkeypatch.setenv("VIS_CACHE", str(tmp_path / "cache"))
    listed = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(session_module.ort, "get_available_providers", lambda: listed)
    monkeypatch.setattr(session_module, "tensorrt_loads", lambda: True)
    made = []

    class Session:  # this machine has no TensorRT: record what the session would be given
        def __init__(self, data, options, providers):
            made.append(providers[0][1]["trt_engine_cache_path"])

        def get_providers(self):
            return listed

    monkeypatch.setattr(session_module.ort, "InferenceSession", Session)
    objective = parse_objective("tanh2", "lenet5")
    for shift in (0.0, 0.5):  # the same graph but for one weight
        net = get_model("lenet5", "random")
        net.conv1.weight.data[0, 0, 0, 0] += shift
        create_session(gradient_graph("lenet5", net, objective), SessionConfig("tensorrt"))
    assert len(set(made)) == 2 and all(Path(p).is_dir() and Path(p).parent == tmp_path / "cache" / "trt" for p in made)


def test_ping_pong_bindings_alternate_the_two_buffers_and_name_their_graphs() -> None:
    from onnx import TensorProto, helper

    from vis.engine._session import ping_pong_bindings

    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, [2])
    s = helper.make_tensor_value_info("step_size", TensorProto.FLOAT, [])
    y = helper.make_tensor_value_info("image_out", TensorProto.FLOAT, [2])
    v = helper.make_tensor_value_info("objective", TensorProto.FLOAT, [])
    graph = helper.make_graph([helper.make_node("Add", ["image", "step_size"], ["image_out"]),
                               helper.make_node("ReduceSum", ["image_out"], ["objective"], keepdims=0)], "g", [x, s], [y, v])
    session = create_session(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), SessionConfig("cpu"))
    buffers = (ort.OrtValue.ortvalue_from_numpy(np.zeros(2, np.float32)),
               ort.OrtValue.ortvalue_from_numpy(np.zeros(2, np.float32)))
    objective = ort.OrtValue.ortvalue_from_numpy(np.zeros((), np.float32))
    step = {"step_size": ort.OrtValue.ortvalue_from_numpy(np.asarray(1.0, np.float32))}
    bindings, options = ping_pong_bindings(session, buffers, step, objective, (3, 4))
    for k in range(3):  # 0 -> 1 -> 0 -> 1
        session.run_with_iobinding(bindings[k % 2], options[k % 2])
    assert buffers[1].numpy().tolist() == [3.0, 3.0] and float(objective.numpy()) == 6.0
    assert [o.get_run_config_entry("gpu_graph_id") for o in options] == ["3", "4"]
    assert ping_pong_bindings(session, buffers, step, objective)[1] == [None, None]
