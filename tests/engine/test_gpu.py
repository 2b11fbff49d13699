"""On a CUDA machine only (`pytest -m gpu`; deselected by default): what the CPU cannot check.

Written after the first GPU measurements (BENCHMARKS.md, 2026-11-23); run them in the next session that has a GPU.
"""

import numpy as np
import onnxruntime as ort
import pytest

from vis.engine._dream import DreamConfig
from vis.engine._ort_backend import OrtBackend
from vis.engine._session import SessionConfig, create_session
from vis.exporters import gradient_graph, parse_objective, step_graph
from vis.models import get_model

pytestmark = [pytest.mark.gpu, pytest.mark.skipif("CUDAExecutionProvider" not in ort.get_available_providers(),
                                                   reason="needs onnxruntime-gpu and a CUDA device")]


def test_gradient_runs_wholly_on_the_gpu_and_agrees_with_the_cpu():
    net = get_model("googlenet", "random")
    grad = gradient_graph("googlenet", net, parse_objective("inception4c", "googlenet"), weights="random")
    x = np.random.default_rng(0).random((1, 3, 224, 224), dtype=np.float32)
    cpu = create_session(grad, SessionConfig("cpu")).run(None, {"image": x})[1]
    cuda = create_session(grad, SessionConfig("cuda")).run(None, {"image": x})[1]
    # TF32 convolutions: ~7e-2 from float32 on this random net (BENCHMARKS.md)
    assert np.linalg.norm(cuda - cpu) / np.linalg.norm(cpu) < 0.15


def test_captured_fixed_step_equals_the_plain_step():
    net = get_model("googlenet", "random")
    grad = gradient_graph("googlenet", net, parse_objective("inception4c", "googlenet"), weights="random")
    fixed = step_graph(grad, (0.0, 1.0), size=(96, 128))
    x = np.random.default_rng(1).random((1, 3, 96, 128), dtype=np.float32)
    feeds = {"image": x, "shift": np.array([5, -7], np.int64), "step_size": np.asarray(0.01, np.float32)}
    plain = create_session(fixed, SessionConfig("cuda")).run(None, feeds)[0]
    # creation fails if any node is left on the CPU ("not all nodes partitioned to the CUDAExecutionProvider")
    captured = create_session(fixed, SessionConfig("cuda", cuda_graph=True))
    binding = captured.io_binding()
    outs = [ort.OrtValue.ortvalue_from_shape_and_type(x.shape, np.float32, "cuda", 0),
            ort.OrtValue.ortvalue_from_shape_and_type((), np.float32, "cuda", 0)]
    inputs = {name: ort.OrtValue.ortvalue_from_numpy(value, "cuda", 0) for name, value in feeds.items()}
    for name, value in inputs.items():
        binding.bind_ortvalue_input(name, value)
    binding.bind_ortvalue_output("image_out", outs[0])
    binding.bind_ortvalue_output("objective", outs[1])
    # ORT captures on a graph's third run; the runs after replay it, and must read inputs updated in place
    for run, shift in enumerate([(5, -7)] * 3 + [(1, 2), (-30, 31), (0, 0)]):
        inputs["shift"].update_inplace(np.asarray(shift, np.int64))
        binding.synchronize_inputs()
        captured.run_with_iobinding(binding)
        want = create_session(fixed, SessionConfig("cuda")).run(None, {**feeds, "shift": np.asarray(shift, np.int64)})[0]
        np.testing.assert_allclose(outs[0].numpy(), want, atol=1e-5, err_msg=f"run {run}, shift {shift}")
    np.testing.assert_allclose(create_session(fixed, SessionConfig("cuda")).run(None, feeds)[0], plain, atol=1e-5)


def test_device_dream_with_cuda_graphs_raises_the_objective(sample_photo):
    from vis.engine import load_image
    from vis.engine._dream import fit_max_size

    net = get_model("efficientnet_lite0", "random")
    backend = OrtBackend("efficientnet_lite0", net, parse_objective("block10", "efficientnet_lite0"),
                         weights="random", session=SessionConfig("cuda", cuda_graph=True))
    plain = OrtBackend("efficientnet_lite0", net, parse_objective("block10", "efficientnet_lite0"),
                       weights="random", session=SessionConfig("cuda"))
    image = fit_max_size(load_image(sample_photo), 160)
    config = DreamConfig(octaves=2, iterations=8)  # 4 runs per ping-pong direction: captured on the 3rd, replayed
    values = []
    out = backend.device_dreamer(image.shape[:2], 2048).dream(
        image, config, rng=np.random.default_rng(0), progress=lambda p: values.append(p.value))
    assert out.shape == image.shape and np.isfinite(out).all()
    assert values[-1] > values[8]  # the top octave's objective rises
    # the replays compute what plain runs do (TF32 aside): same seed, same jitter, same dream
    again = plain.device_dreamer(image.shape[:2], 2048).dream(image, config, rng=np.random.default_rng(0))
    assert np.abs(out - again).mean() < 5e-3, np.abs(out - again).mean()  # not calibrated on a GPU yet
