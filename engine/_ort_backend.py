"""The ONNX Runtime backend: gradient and fused-step graphs built once, run through cached sessions."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import onnx

from vis.engine._backend import LOOPS
from vis.engine._session import BoundRunner, SessionConfig, create_session
from vis.errors import UnknownNameError, VisError
from vis.exporters._gradient import gradient_graph, model_value_range, step_graph
from vis.exporters._objectives import GUIDE_INPUT, NEEDS_GUIDE, Objective
from vis.models import StagedNet

if TYPE_CHECKING:
    from vis.engine._device_dream import DeviceDreamer


class OrtBackend:
    """Objective, input gradient and DeepDream step on ONNX Runtime; images stay in OrtValues within a step.

    Args:
        loop: where the dream loop keeps the image between steps: ``host`` (numpy, one ORT run per step),
            ``device`` (:class:`vis.engine._device_dream.DeviceDreamer`: OrtValues on the session's device for the
            whole frame), or ``auto``: the device loop on cuda/tensorrt, the host loop on cpu.
    """

    name = "ort"

    def __init__(self, model_name: str, model: StagedNet, objective: Objective, *, variant: str = "fast",
                 session: SessionConfig = SessionConfig(), guide: np.ndarray | None = None, weights: str = "",
                 loop: str = "auto"):
        if loop not in LOOPS:
            raise UnknownNameError("dream loop", loop, LOOPS)
        if session.cuda_graph:
            if loop == "host":
                raise VisError("CUDA graphs replay the device loop's fixed buffers: use --loop device or auto")
            session.providers()  # CUDA graphs off the cuda provider: fail before the slow graph build
        self.objective = objective
        self.loop = loop
        self.grad_proto: onnx.ModelProto = gradient_graph(model_name, model, objective, variant=variant, weights=weights)
        self.step_proto: onnx.ModelProto | None = None
        self._fixed_step_protos: dict[tuple[int, int], onnx.ModelProto] = {}
        self.value_range = model_value_range(model_name)
        self.session_config = session
        # gradient() and step() bind new arrays every call: CUDA graph capture is for the device loop's sessions only
        self._run_config = replace(session, cuda_graph=False)
        self.guide = None if guide is None else np.ascontiguousarray(guide, dtype=np.float32)
        self._grad_runner: BoundRunner | None = None
        self._step_runner: BoundRunner | None = None
        self._dreamer: DeviceDreamer | None = None

    def set_guide(self, guide: np.ndarray) -> None:
        self.guide = np.ascontiguousarray(guide, dtype=np.float32)

    def extra_inputs(self) -> dict[str, np.ndarray]:
        """Inputs besides image, shift and step size: the guide features of a guided objective."""
        if self.objective.needs_guide():
            if self.guide is None:
                from vis.exporters._objectives import ObjectiveError

                raise ObjectiveError(NEEDS_GUIDE)
            return {GUIDE_INPUT: self.guide}
        return {}

    def step_proto_for(self, size: tuple[int, int] | None) -> onnx.ModelProto:
        """The step graph for any size (``None``) or the fixed-size one with the device-side roll (built once each)."""
        if size is None:
            if self.step_proto is None:
                self.step_proto = step_graph(self.grad_proto, self.value_range)
            return self.step_proto
        if size not in self._fixed_step_protos:
            self._fixed_step_protos[size] = step_graph(self.grad_proto, self.value_range, size=size)
        return self._fixed_step_protos[size]

    def gradient(self, image: np.ndarray) -> tuple[float, np.ndarray]:
        """Objective (summed over the batch) and d objective / d image for an NCHW float32 image."""
        if self._grad_runner is None:
            self._grad_runner = BoundRunner(create_session(self.grad_proto, self._run_config))
        value, grad = self._grad_runner.run({"image": np.asarray(image, np.float32), **self.extra_inputs()})
        return float(value.numpy()), grad.numpy()

    def step(self, image: np.ndarray, shift: tuple[int, int], step_size: float) -> tuple[np.ndarray, float]:
        """One fused ascent step (roll, gradient, unroll, normalise, update, clip) in a single ORT run."""
        if self._step_runner is None:
            self._step_runner = BoundRunner(create_session(self.step_proto_for(None), self._run_config))
        out, value = self._step_runner.run({
            "image": np.asarray(image, np.float32),
            "shift": np.asarray(shift, np.int64),
            "step_size": np.asarray(step_size, np.float32),
            **self.extra_inputs(),
        })
        return out.numpy(), float(value.numpy())

    def device_dreamer(self, shape: tuple[int, int], tile: int) -> DeviceDreamer | None:
        """The device loop for an image of ``shape`` (h, w), or ``None`` where the host loop should run it.

        ``auto`` picks the device loop on a GPU provider when the image fits in one tile (the host loop tiles larger
        ones); a forced ``device`` loop raises for an image larger than ``tile`` instead of quietly tiling.
        """
        if self.loop == "host":
            return None
        if self.loop == "auto" and (self._run_config.device()[0] == "cpu" or max(shape[:2]) > tile):
            return None
        if self._dreamer is None:
            from vis.engine._device_dream import DeviceDreamer

            self._dreamer = DeviceDreamer(self)
        return self._dreamer
