"""ORT sessions: provider resolution, the cache, IOBinding with CPU OrtValues."""

from __future__ import annotations

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
