"""The device dream loop on the CPU provider with CPU OrtValues: equal to a host reference built from the same graphs,
ping-pong buffers bound once, the fixed-shape (CUDA graph) variant, frames and video, wiring and errors.

A random-weight net's step amplifies input differences of 1e-6 to 1e-2 within three steps, so host and device runs
are compared through references that run the very same graphs; there they agree to float32 rounding or exactly.
"""

from __future__ import annotations

import types

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from vis.engine import make_backend
from vis.engine._device_dream import DeviceDreamer
from vis.engine._dream import (
    DreamConfig,
    DreamError,
    VideoDreamConfig,
    dream,
    dream_frames,
    fitted_size,
    octave_sizes,
)
from vis.engine._ort_backend import OrtBackend
from vis.engine._session import CudaGraphError, SessionConfig
from vis.errors import UnknownNameError, VisError
from vis.exporters import _frame_graphs as fg
from vis.exporters import parse_objective
from vis.models import get_model

MODEL, LAYER = "efficientnet_lite0", "block10"
SMALL = DreamConfig(octaves=2, iterations=2, min_size=16)


@pytest.fixture(scope="module")
def net():
    return get_model(MODEL, "random")


@pytest.fixture(scope="module")
def backend(net):
    # ORT's basic optimisations only: at "all" the fixed-size graphs' static shapes let ORT fuse differently, a
    # float32 rounding difference that ReLU6 mask flips carry through the steps (their folding is exact:
    # tests/exporters/test_fold.py)
    return OrtBackend(MODEL, net, parse_objective(LAYER, MODEL), weights="random", loop="device",
                      session=SessionConfig("cpu", 2, optimization="basic"))


@pytest.fixture(scope="module")
def graphs() -> dict[str, ort.InferenceSession]:
    build = {"resize": fg.resize_graph(), "carry": fg.detail_carry_graph(), "warp": fg.warp_graph(),
             "blend": fg.blend_graph(), **{f"pre_{k}": fg.preprocess_graph(k) for k in fg.FRAME_SOURCES},
             **{f"post_{k}": fg.postprocess_graph(k) for k in fg.FRAME_SOURCES}}
    return {k: ort.InferenceSession(p.SerializeToString(), providers=["CPUExecutionProvider"]) for k, p in build.items()}


def call(graphs, kind: str, **inputs) -> np.ndarray:
    return graphs[kind].run(None, {k: np.asarray(v) for k, v in inputs.items()})[0]


def reference_dream(backend, graphs, base: np.ndarray, config: DreamConfig, rng: np.random.Generator) -> np.ndarray:
    """The pyramid loop on host arrays: the frame graphs through plain session.run and the backend's numpy step."""
    sizes = octave_sizes(base.shape[2:], config)
    pyramid = [base]
    for size in sizes[1:]:
        pyramid.append(call(graphs, "resize", image=pyramid[-1], size=np.array(size, np.int64)))
    x = previous = None
    for octave_base in reversed(pyramid):
        x = octave_base.copy() if x is None else call(graphs, "carry", dreamed=x, base=previous, next_base=octave_base)
        for _ in range(config.iterations):
            dy, dx = rng.integers(-config.jitter, config.jitter + 1, size=2)
            x, _ = backend.step(x, (int(dy), int(dx)), config.step_size)
        previous = octave_base
    return x


def nchw(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image.transpose(2, 0, 1)[None])


@pytest.fixture(scope="module")
def photo(sample_photo) -> np.ndarray:
    from vis.engine import load_image
    from vis.engine._dream import fit_max_size

    return fit_max_size(load_image(sample_photo), 96)  # 64x96


@pytest.mark.parametrize("fixed_shapes", [False, True])
@pytest.mark.parametrize("shape", [(64, 96), (61, 97), (33, 40)])
def test_device_loop_equals_host_reference(backend, graphs, photo, fixed_shapes, shape) -> None:
    image = np.ascontiguousarray(photo[: shape[0], : shape[1]])
    dreamer = DeviceDreamer(backend, fixed_shapes=fixed_shapes)
    got = dreamer.dream(image, SMALL, rng=np.random.default_rng(1))
    want = reference_dream(backend, graphs, nchw(image), SMALL, np.random.default_rng(1))[0].transpose(1, 2, 0)
    assert got.shape == image.shape and got.dtype == np.float32
    assert np.abs(got - want).max() < 1e-6
    assert np.abs(got - image).mean() > 1e-3


def test_one_octave_equals_the_host_loop(net, backend, photo) -> None:
    """Without a pyramid nothing is resized: the device loop is google's loop exactly, shifts included."""
    host = OrtBackend(MODEL, net, parse_objective(LAYER, MODEL), weights="random", loop="host",
                      session=backend.session_config)
    config = DreamConfig(octaves=1, iterations=3)
    a = dream(host, photo, config, rng=np.random.default_rng(5))
    b = dream(backend, photo, config, rng=np.random.default_rng(5))
    assert np.array_equal(a, b)


def test_objective_rises_and_progress_reports_each_step(backend, photo) -> None:
    seen = []
    # no jitter: the value is taken on the rolled image, and a random net's value of a 64x96 image moves +-15% with
    # the roll alone, which would hide the rise (with jitter 0 it is ~2x in 4 steps)
    DeviceDreamer(backend).dream(photo, DreamConfig(octaves=2, iterations=4, min_size=16, jitter=0),
                                 rng=np.random.default_rng(0), progress=seen.append)
    assert [(p.octave, p.iteration) for p in seen] == [(o, i) for o in range(2) for i in range(4)]
    assert seen[0].shape == (46, 69) and seen[-1].shape == (64, 96)
    top = [p.value for p in seen if p.octave == 1]
    assert top[-1] > top[0] * 1.3


class StepSpy:
    """Stands in for an octave's step session and records the addresses each step reads and writes."""

    def __init__(self, session: ort.InferenceSession):
        self.session, self.steps = session, []

    def run_with_iobinding(self, binding, options=None) -> None:
        self.session.run_with_iobinding(binding, options)
        self.steps.append(binding.get_outputs()[0].data_ptr())


@pytest.mark.parametrize("fixed_shapes", [False, True])
def test_steps_ping_pong_between_two_buffers_bound_once(backend, photo, fixed_shapes) -> None:
    dreamer = DeviceDreamer(backend, fixed_shapes=fixed_shapes)
    config = DreamConfig(octaves=1, iterations=5)
    dreamer.dream(photo, config, rng=np.random.default_rng(0))
    small_values = [dreamer.shift.data_ptr(), dreamer.step_size.data_ptr(), dreamer.value.data_ptr()]
    (octave,) = dreamer._octaves.values()
    a, b = (buf.data_ptr() for buf in octave.buffers)
    spy = octave.session = StepSpy(octave.session)
    for _ in range(2):  # a second frame reuses the same buffers and bindings
        out = dreamer.dream_on_device(dreamer.upload(nchw(photo)), config, np.random.default_rng(0))
        assert out.data_ptr() == b  # five steps from buffer a end in buffer b
    assert spy.steps == [b, a, b, a, b] * 2
    assert all(v.device_name() == "cpu" for v in octave.buffers)
    assert dreamer._octaves[(64, 96)] is octave and [v.data_ptr() for v in octave.buffers] == [a, b]
    # shift, step size and objective stay the same small OrtValues, rewritten in place
    assert [dreamer.shift.data_ptr(), dreamer.step_size.data_ptr(), dreamer.value.data_ptr()] == small_values


def test_fixed_shapes_build_one_step_session_per_octave_size(backend, photo) -> None:
    dreamer = DeviceDreamer(backend, fixed_shapes=True)
    dreamer.dream(photo, DreamConfig(octaves=3, iterations=1, min_size=16), rng=np.random.default_rng(0))
    sessions = {size: o.session for size, o in dreamer._octaves.items()}
    assert sorted(sessions) == [(33, 49), (46, 69), (64, 96)]
    assert len({id(s) for s in sessions.values()}) == 3
    for (h, w), session in sessions.items():
        assert session.get_inputs()[0].shape[2:] == [h, w]


@pytest.mark.parametrize("layout", ["bgr_uint8", "rgb_float"])
@pytest.mark.parametrize("shape, max_size", [((75, 101, 3), 64), ((49, 63, 3), None)])
def test_dream_frame_keeps_layout_and_size(backend, graphs, layout, shape, max_size) -> None:
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, shape, dtype=np.uint8)
    if layout == "rgb_float":
        frame = np.ascontiguousarray(frame[..., ::-1], dtype=np.float32) / np.float32(255.0)
    got = next(DeviceDreamer(backend).dream_frames([frame], SMALL, max_size=max_size, rng=np.random.default_rng(2)))
    assert got.shape == frame.shape and got.dtype == frame.dtype
    small = call(graphs, f"pre_{layout}", frame=frame, size=np.array(fitted_size(shape, max_size), np.int64))
    dreamed = reference_dream(backend, graphs, small, SMALL, np.random.default_rng(2))
    want = call(graphs, f"post_{layout}", image=dreamed, size=np.array(shape[:2], np.int64))
    if layout == "bgr_uint8":
        assert np.array_equal(got, want)
    else:
        assert np.abs(got - want).max() < 1e-6


def moving_frames(n: int, shape=(48, 72)) -> list[np.ndarray]:
    """uint8 BGR frames of a blurred noise texture panning 3 px per frame."""
    rng = np.random.default_rng(4)
    wide = cv2.GaussianBlur(rng.integers(0, 256, (shape[0], shape[1] + 3 * n, 3), dtype=np.uint8), (0, 0), 2)
    return [np.ascontiguousarray(wide[:, 3 * i: 3 * i + shape[1]]) for i in range(n)]


@pytest.mark.parametrize("flow, flow_size", [("farneback", 640), ("dis", 24), ("none", 640)])
def test_video_frames_equal_a_reference_video_loop(backend, graphs, flow, flow_size) -> None:
    from vis.engine._flow import FlowTracker

    frames = moving_frames(3)
    # flow_size 24: the field is computed on a copy smaller than the frames and scaled up by the device's warp
    video = VideoDreamConfig(blend=0.7, iterations_per_frame=1, octaves_per_frame=1, flow=flow, flow_size=flow_size)
    got = list(DeviceDreamer(backend).dream_frames(frames, SMALL, video, rng=np.random.default_rng(6)))
    rng = np.random.default_rng(6)
    later = DreamConfig(octaves=1, iterations=1, min_size=16)
    track = FlowTracker("dis" if flow == "none" else flow, video.flow_size)
    prev = None
    for i, frame in enumerate(frames):
        moved = track(frame, frame.shape[:2])
        small = call(graphs, "pre_bgr_uint8", frame=frame, size=np.array(frame.shape[:2], np.int64))
        if prev is None:
            start, config = small, SMALL
        else:
            warped = prev if flow == "none" else call(graphs, "warp", image=prev, flow=moved)
            start, config = call(graphs, "blend", warped=warped, frame=small, blend=np.float32(0.7)), later
        prev = reference_dream(backend, graphs, start, config, rng)
        want = call(graphs, "post_bgr_uint8", image=prev, size=np.array(frame.shape[:2], np.int64))
        assert got[i].shape == frame.shape and got[i].dtype == np.uint8
        assert np.array_equal(got[i], want), i


def test_video_flow_runs_ahead_in_a_worker_and_sessions_are_ready_before_frame_two(backend, monkeypatch) -> None:
    import threading

    from vis.engine._flow import FlowTracker

    threads = []
    real = FlowTracker.__call__

    def recording_flow(*args, **kwargs):
        flow = real(*args, **kwargs)
        if flow is not None:
            threads.append(threading.current_thread().name)
        return flow

    monkeypatch.setattr(FlowTracker, "__call__", recording_flow)
    dreamer = DeviceDreamer(backend)
    video = VideoDreamConfig(blend=0.5, iterations_per_frame=1, octaves_per_frame=1, flow="dis")
    out = dreamer.dream_frames(moving_frames(3), DreamConfig(octaves=1, iterations=1), video, rng=np.random.default_rng(0))
    next(out)
    assert {"blend", "warp"} <= set(dreamer._graphs)  # built with the first frame, not while the second waits
    assert len(list(out)) == 2
    assert threads == ["vis-read-ahead"] * 2  # frames 2 and 3, computed beside the dreaming, not in its thread


def test_dream_frames_takes_the_device_path_when_asked(backend) -> None:
    frames = [f[..., ::-1].astype(np.float32) / np.float32(255.0) for f in moving_frames(2)]
    video = VideoDreamConfig(blend=0.5, flow="none", iterations_per_frame=1)
    config = DreamConfig(octaves=1, iterations=1)
    via_dream = list(dream_frames(backend, frames, config, video, rng=np.random.default_rng(0)))
    direct = list(DeviceDreamer(backend).dream_frames(frames, config, video, rng=np.random.default_rng(0)))
    assert len(via_dream) == 2 and all(np.array_equal(a, b) for a, b in zip(via_dream, direct))
    assert all(a.dtype == np.float32 and a.shape == f.shape for a, f in zip(via_dream, frames))
    assert list(dream_frames(backend, [], config, video)) == []


def test_auto_loop_stays_on_the_host_on_cpu(net) -> None:
    auto = make_backend("ort", MODEL, net, parse_objective(LAYER, MODEL), provider="cpu", threads=2, weights="random")
    assert auto.loop == "auto" and auto.device_dreamer((64, 96), 512) is None


def test_forced_device_loop_refuses_images_larger_than_a_tile(backend) -> None:
    image = np.zeros((70, 130, 3), np.float32)
    with pytest.raises(DreamError, match="tile=64"):
        dream(backend, image, DreamConfig(octaves=1, iterations=1, tile=64))


@pytest.mark.parametrize("frame", [np.zeros((20, 30), np.uint8), np.zeros((20, 30, 4), np.uint8),
                                   np.zeros((20, 30, 3), np.int16)])
def test_bad_frames_are_typed_errors(backend, frame) -> None:
    with pytest.raises(DreamError, match="HxWx3"):
        next(DeviceDreamer(backend).dream_frames([frame]))


def test_cuda_graphs_on_cpu_are_a_clear_error(net) -> None:
    fake = types.SimpleNamespace(session_config=SessionConfig("cpu", 1, cuda_graph=True))
    with pytest.raises(CudaGraphError, match="cuda execution provider"):
        DeviceDreamer(fake)
    with pytest.raises(DreamError, match="fixed_shapes"):
        DeviceDreamer(fake, fixed_shapes=False)
    with pytest.raises(CudaGraphError):  # before the slow gradient-graph build
        make_backend("ort", MODEL, net, parse_objective(LAYER, MODEL), provider="cpu", cuda_graph=True)


@pytest.mark.parametrize("kwargs, error", [
    ({"kind": "ort", "loop": "gpu"}, UnknownNameError),
    ({"kind": "torch", "loop": "device"}, VisError),
    ({"kind": "torch", "loop": "host"}, VisError),  # was silently ignored: torch has no ORT loop to choose
    ({"kind": "torch", "loop": "gpu"}, UnknownNameError),
    ({"kind": "torch", "cuda_graph": True}, VisError),
    ({"kind": "ort", "loop": "host", "cuda_graph": True}, VisError),
])
def test_bad_loop_settings(net, kwargs, error) -> None:
    kind = kwargs.pop("kind")
    with pytest.raises(error):
        make_backend(kind, MODEL, net, parse_objective(LAYER, MODEL), provider="cpu", **kwargs)
