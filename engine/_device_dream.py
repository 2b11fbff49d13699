"""DeepDream with the image on the session's device for the whole frame: ORT graphs end to end, bound OrtValues.

The host loop (:func:`vis.engine._dream.dream`) moves the image to the host after every ascent step and resizes
with OpenCV. Here every stage is an ONNX graph (:mod:`vis.exporters._frame_graphs`) run through IOBinding, so on
CUDA the image never leaves the GPU: the frame is uploaded once, the pyramid, the steps, the detail carried between
octaves, the flow warp and blend of video, and the conversion back to a frame run on the device, and only the
finished frame is copied back.

The ascent steps of one octave alternate between two preallocated image buffers (ping-pong): step k reads buffer
``k % 2`` and writes the other, each direction with its own IOBinding bound once, so a step allocates nothing and
copies nothing to the host. The jitter shift and the step size are small OrtValues rewritten in place. With
``fixed_shapes`` every octave size gets its own step session whose roll is computed on the device from the shift
(:func:`vis.exporters.step_graph` with ``size``), and every address a step reads or writes stays the same for the
dreamer's life: what ORT's CUDA graph capture (``SessionConfig(cuda_graph=True)``) needs. The two directions of the
ping-pong are two captured graphs of one session (run option ``gpu_graph_id`` 1 and 2).

Jitter shifts are drawn from the caller's generator in the host loop's order, so both loops see the same shifts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import onnxruntime as ort

from vis.engine._dream import (
    DreamConfig,
    DreamError,
    DreamProgress,
    ProgressFn,
    VideoDreamConfig,
    fitted_size,
    octave_sizes,
)
from vis.engine._session import create_session, ping_pong_bindings
from vis.exporters import _frame_graphs as frame_graphs

if TYPE_CHECKING:
    from vis.engine._ort_backend import OrtBackend

LAYOUTS = {np.dtype(np.uint8): "bgr_uint8", np.dtype(np.float32): "rgb_float"}


@dataclass
class _Octave:
    """The step state of one octave size: two image buffers and one binding per ping-pong direction."""

    size: tuple[int, int]
    session: ort.InferenceSession
    buffers: tuple[ort.OrtValue, ort.OrtValue]
    bindings: tuple[ort.SessionIOBinding, ort.SessionIOBinding]
    run_options: tuple[ort.RunOptions | None, ort.RunOptions | None]


class DeviceDreamer:
    """DeepDream whose image stays in OrtValues on the backend's device from upload to the finished frame.

    Args:
        backend: the ORT backend of the model and objective (its gradient graph, value range, guide, sessions).
        fixed_shapes: one step session per octave size with the device-side roll and fixed buffers (what CUDA graphs
            need; also runs on CPU). Forced on when the backend's session config asks for CUDA graphs.

    Raises:
        DreamError: ``fixed_shapes=False`` together with CUDA graphs.
        CudaGraphError: CUDA graphs asked for on a provider other than cuda.
    """

    def __init__(self, backend: OrtBackend, *, fixed_shapes: bool | None = None):
        config = backend.session_config
        if config.cuda_graph and fixed_shapes is False:
            raise DreamError("CUDA graphs replay fixed shapes and addresses: they need fixed_shapes=True")
        config.providers()  # fail now, with a clear message, for a missing provider or CUDA graphs off cuda
        self.backend = backend
        self.fixed_shapes = config.cuda_graph if fixed_shapes is None else fixed_shapes
        self.cuda_graph = config.cuda_graph
        self.device, self.device_id = config.device()
        # only the fixed-shape step sessions may capture CUDA graphs: every other graph sees new addresses per frame
        self._step_config = config
        self._plain_config = replace(config, cuda_graph=False)
        self.shift = self._alloc((2,), np.int64)
        self.step_size = self._alloc((), np.float32)
        self.value = self._alloc((), np.float32)
        self._octaves: dict[tuple[int, int], _Octave] = {}
        self._graphs: dict[str, ort.InferenceSession] = {}
        self._guide: np.ndarray | None = None
        self._graph_ids = 0

    # ---- device memory and graph runs ---------------------------------------------------------------------------

    def _alloc(self, shape: tuple[int, ...], dtype: type) -> ort.OrtValue:
        return ort.OrtValue.ortvalue_from_shape_and_type(shape, dtype, self.device, self.device_id)

    def upload(self, array: np.ndarray) -> ort.OrtValue:
        """Copy a host array to the device (the one host-to-device copy of a frame)."""
        return ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(array), self.device, self.device_id)

    def _session(self, kind: str) -> ort.InferenceSession:
        if kind not in self._graphs:
            build = {
                "resize": frame_graphs.resize_graph,
                "carry": frame_graphs.detail_carry_graph,
                "copy": frame_graphs.copy_graph,
                "warp": frame_graphs.warp_graph,
                "blend": frame_graphs.blend_graph,
                "pre_bgr_uint8": lambda: frame_graphs.preprocess_graph("bgr_uint8"),
                "pre_rgb_float": lambda: frame_graphs.preprocess_graph("rgb_float"),
                "post_bgr_uint8": lambda: frame_graphs.postprocess_graph("bgr_uint8"),
                "post_rgb_float": lambda: frame_graphs.postprocess_graph("rgb_float"),
            }[kind]
            self._graphs[kind] = create_session(build(), self._plain_config)
        return self._graphs[kind]

    def _run(self, kind: str, inputs: Mapping[str, ort.OrtValue | np.ndarray],
             into: ort.OrtValue | None = None) -> ort.OrtValue:
        """Run a frame graph with device inputs; its one output goes to ``into`` or to new device memory.

        Host arrays among ``inputs`` are small host-side parameters (target sizes), bound as CPU OrtValues: ORT reads
        Resize's sizes on the host even on CUDA.
        """
        session = self._session(kind)
        binding = session.io_binding()
        for name, value in inputs.items():
            if isinstance(value, np.ndarray):
                value = ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(value))
            binding.bind_ortvalue_input(name, value)
        out = session.get_outputs()[0].name
        if into is None:
            binding.bind_output(out, self.device, self.device_id)
        else:
            binding.bind_ortvalue_output(out, into)
        session.run_with_iobinding(binding)
        return into if into is not None else binding.get_outputs()[0]

    def _extras(self) -> dict[str, ort.OrtValue]:
        return {name: self.upload(value) for name, value in self.backend.extra_inputs().items()}

    def _octave(self, size: tuple[int, int]) -> _Octave:
        """The buffers, session and the two bound step directions of one octave size (built once per size)."""
        guide = self.backend.guide
        if guide is not self._guide:  # a new guide: rebind every octave to it
            self._octaves.clear()
            self._guide = guide
        if size in self._octaves:
            return self._octaves[size]
        h, w = size
        if self.fixed_shapes:
            session = create_session(self.backend.step_proto_for(size), self._step_config, shape=(1, 3, h, w))
        else:
            session = create_session(self.backend.step_proto_for(None), self._plain_config)
        buffers = (self._alloc((1, 3, h, w), np.float32), self._alloc((1, 3, h, w), np.float32))
        graph_ids = None
        if self.cuda_graph:  # one captured graph per direction, ids unique across octaves
            graph_ids = (self._graph_ids + 1, self._graph_ids + 2)
            self._graph_ids += 2
        inputs = {"shift": self.shift, "step_size": self.step_size, **self._extras()}
        bindings, run_options = ping_pong_bindings(session, buffers, inputs, self.value, graph_ids)
        octave = _Octave(size, session, buffers, (bindings[0], bindings[1]), (run_options[0], run_options[1]))
        self._octaves[size] = octave
        return octave

    # ---- the loops ------------------------------------------------------------------------------------------------

    def dream_on_device(self, base: ort.OrtValue, config: DreamConfig, rng: np.random.Generator,
                        progress: ProgressFn | None = None) -> ort.OrtValue:
        """DeepDream a (1, 3, H, W) device image; returns the dreamed image, still on the device.

        The result is one of the top octave's ping-pong buffers: the next call overwrites it, so read it (or run
        graphs on it) before dreaming again, and do not pass it back in as ``base``. Objective values are copied to
        the host only when ``progress`` asks for them.
        """
        h, w = base.shape()[2:]
        if max(h, w) > config.tile:
            raise DreamError(f"the device loop dreams whole images of at most tile={config.tile} px a side, got "
                             f"{h}x{w}: raise --tile, shrink with --max-size, or use the host loop")
        sizes = octave_sizes((h, w), config)
        pyramid = [base]
        for size in sizes[1:]:
            pyramid.append(self._run("resize", {"image": pyramid[-1], "size": np.asarray(size, np.int64)}))
        self.step_size.update_inplace(np.asarray(config.step_size, np.float32))
        shift = np.zeros(2, np.int64)
        dreamed: ort.OrtValue | None = None
        previous: ort.OrtValue | None = None
        for level, (size, octave_base) in enumerate(zip(reversed(sizes), reversed(pyramid))):
            octave = self._octave(size)
            if dreamed is None:
                self._run("copy", {"image": octave_base}, into=octave.buffers[0])
            else:
                self._run("carry", {"dreamed": dreamed, "base": previous, "next_base": octave_base},
                          into=octave.buffers[0])
            current = 0
            for i in range(config.iterations):
                shift[:] = rng.integers(-config.jitter, config.jitter + 1, size=2)
                self.shift.update_inplace(shift)
                # a copy from pageable memory may still be in flight when the call returns, and ORT's stream does not
                # wait for it: without this a step could roll by one shift and roll back by another
                octave.bindings[current].synchronize_inputs()
                octave.session.run_with_iobinding(octave.bindings[current], octave.run_options[current])
                current = 1 - current
                if progress is not None:
                    progress(DreamProgress(level, len(sizes), i, config.iterations, float(self.value.numpy()), size))
            dreamed, previous = octave.buffers[current], octave_base
        return dreamed

    def dream(self, image: np.ndarray, config: DreamConfig = DreamConfig(), *, rng: np.random.Generator | None = None,
              progress: ProgressFn | None = None) -> np.ndarray:
        """:func:`vis.engine._dream.dream` on the device: HxWx3 float32 RGB in [0, 1] in, the dreamed image out."""
        rng = rng if rng is not None else np.random.default_rng()
        x = self.upload(np.asarray(image, np.float32).transpose(2, 0, 1)[None])
        out = self.dream_on_device(x, config, rng, progress).numpy()
        return np.ascontiguousarray(out[0].transpose(1, 2, 0))

    def dream_frames(self, frames: Iterable[np.ndarray], config: DreamConfig = DreamConfig(),
                     video: VideoDreamConfig = VideoDreamConfig(), *, max_size: int | None = None,
                     rng: np.random.Generator | None = None, progress: ProgressFn | None = None,
                     live: bool = False, previous: tuple[np.ndarray, np.ndarray] | None = None) -> Iterator[np.ndarray]:
        """:func:`vis.engine._dream.dream_frames` with the previous dream kept on the device.

        Frames are uint8 BGR or float32 RGB (HxWx3); each result has its frame's layout and size. The optical flow
        is computed on the host from the host's own small copies of the frames (OpenCV, as the host loop does), in a
        worker thread one frame ahead, so it overlaps the device's steps on the frame before; the warp of the
        previous dream (which scales the small field up) and the blend run on the device, so only the small field
        goes up. A ``live`` source (a webcam) is not read ahead: its newest frame is taken when the dream before
        is done.
        """
        from vis.engine._read_ahead import read_ahead

        rng = rng if rng is not None else np.random.default_rng()
        later = video.later(config)
        blend = self.upload(np.asarray(video.blend, np.float32))
        uses_flow = video.uses_flow
        # the blend and warp sessions are built now, before the first frame, rather than stalling the second (a GPU
        # session takes ~0.5 s to create: 15 frames of a real-time video)
        for kind in (["blend"] if video.blend > 0.0 else []) + (["warp"] if uses_flow else []):
            self._session(kind)
        before = previous[0] if previous is not None else None
        prepared = (_with_flow(frames, video.flow, max_size, video.flow_size, before) if uses_flow
                    else ((f, None) for f in frames))
        prev_dream: ort.OrtValue | None = None
        if previous is not None:  # a resumed dream's last kept frame, brought to the dream's size on the device
            dreamed = previous[1] if previous[1].dtype == np.uint8 else np.asarray(previous[1], np.float32)
            prev_dream = self._run(f"pre_{_layout(dreamed)}", {"frame": self.upload(dreamed),
                                                               "size": np.asarray(fitted_size(dreamed.shape, max_size),
                                                                                  np.int64)})
        for frame, flow in read_ahead(prepared) if uses_flow and not live else prepared:
            frame = frame if frame.dtype == np.uint8 else np.asarray(frame, np.float32)
            layout = _layout(frame)
            size = fitted_size(frame.shape, max_size)
            small = self._run(f"pre_{layout}", {"frame": self.upload(frame), "size": np.asarray(size, np.int64)})
            if not video.continues(None if prev_dream is None else prev_dream.shape()[2:], size):
                start, settings = small, config
            else:
                warped = prev_dream
                if flow is not None:
                    warped = self._run("warp", {"image": prev_dream, "flow": self.upload(flow)})
                # the warp and blend read prev_dream before the next dream overwrites its buffer
                start = self._run("blend", {"warped": warped, "frame": small, "blend": blend})
                settings = later
            prev_dream = self.dream_on_device(start, settings, rng, progress)
            yield self._run(f"post_{layout}", {"image": prev_dream, "size": np.asarray(frame.shape[:2], np.int64)}).numpy()


def _with_flow(frames: Iterable[np.ndarray], method: str, max_size: int | None, flow_size: int | None,
               before: np.ndarray | None = None) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """Each frame with the optical flow from it to the previous frame at dream size, in the pixels of the flow's
    small copy (``None`` for the first frame, unless ``before`` is the frame before it, and after a change of
    size)."""
    from vis.engine._flow import FlowTracker

    flow_of = FlowTracker(method, flow_size)
    if before is not None:
        flow_of(before, fitted_size(before.shape, max_size))
    for frame in frames:
        _layout(frame)  # a malformed frame fails here with vis's message, not inside OpenCV
        yield frame, flow_of(frame, fitted_size(frame.shape, max_size))


def _layout(frame: np.ndarray) -> str:
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype not in LAYOUTS:
        raise DreamError(f"a frame must be HxWx3 uint8 BGR or float32 RGB, got {frame.dtype} {frame.shape}")
    return LAYOUTS[frame.dtype]


