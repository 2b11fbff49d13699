"""The ONNX Runtime backend: gradient and fused-step graphs built once, run through cached sessions."""

from __future__ import annotations

import numpy as np
import onnx

from vis.engine._session import BoundRunner, SessionConfig, create_session
from vis.exporters._gradient import gradient_graph, model_value_range, step_graph
from vis.exporters._objectives import GUIDE_INPUT, Objective
from vis.models import StagedNet


class OrtBackend:
    """Objective, input gradient and DeepDream step on ONNX Runtime; images stay in OrtValues within a step."""

    name = "ort"

    def __init__(self, model_name: str, model: StagedNet, objective: Objective, *, variant: str = "fast",
                 session: SessionConfig = SessionConfig(), guide: np.ndarray | None = None, weights: str = ""):
        self.objective = objective
        self.grad_proto: onnx.ModelProto = gradient_graph(model_name, model, objective, variant=variant, weights=weights)
        self.step_proto: onnx.ModelProto | None = None
        self.value_range = model_value_range(model_name)
        self.session_config = session
        self.guide = None if guide is None else np.ascontiguousarray(guide, dtype=np.float32)
        self._grad_runner: BoundRunner | None = None
        self._step_runner: BoundRunner | None = None

    def set_guide(self, guide: np.ndarray) -> None:
        self.guide = np.ascontiguousarray(guide, dtype=np.float32)

    def _extra(self) -> dict[str, np.ndarray]:
        if self.objective.needs_guide():
            if self.guide is None:
                from vis.exporters._objectives import ObjectiveError

                raise ObjectiveError("the guide objective needs guide features (--guide IMAGE)")
            return {GUIDE_INPUT: self.guide}
        return {}

    def gradient(self, image: np.ndarray) -> tuple[float, np.ndarray]:
        """Objective (summed over the batch) and d objective / d image for an NCHW float32 image."""
        if self._grad_runner is None:
            self._grad_runner = BoundRunner(create_session(self.grad_proto, self.session_config))
        value, grad = self._grad_runner.run({"image": np.asarray(image, np.float32), **self._extra()})
        return float(value.numpy()), grad.numpy()

    def step(self, image: np.ndarray, shift: tuple[int, int], step_size: float) -> tuple[np.ndarray, float]:
        """One fused ascent step (roll, gradient, unroll, normalise, update, clip) in a single ORT run."""
        if self._step_runner is None:
            self.step_proto = step_graph(self.grad_proto, self.value_range)
            self._step_runner = BoundRunner(create_session(self.step_proto, self.session_config))
        out, value = self._step_runner.run({
            "image": np.asarray(image, np.float32),
            "shift": np.asarray(shift, np.int64),
            "step_size": np.asarray(step_size, np.float32),
            **self._extra(),
        })
        return out.numpy(), float(value.numpy())
