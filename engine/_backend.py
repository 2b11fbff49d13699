"""One interface, two implementations: ``ort`` (default, ONNX graphs) and ``torch`` (autograd reference)."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from vis._text import dims
from vis.engine._session import SessionConfig, check_provider_name, resolve_provider
from vis.errors import UnknownNameError, VisError
from vis.exporters._objectives import Objective
from vis.models import StagedNet, check_model

BACKENDS = ("ort", "torch")
LOOPS = ("auto", "host", "device")  # the ort backend's dream loops (see OrtBackend)


class Backend(Protocol):
    """What every loop needs from a backend. Images are float32 NCHW in the model's value range ([0, 1])."""

    name: str
    value_range: tuple[float, float]
    """The model's pixel range, to which every step clips."""

    def gradient(self, image: np.ndarray) -> tuple[float, np.ndarray]:
        """Objective value (summed over the batch) and its gradient with respect to ``image``."""

    def step(self, image: np.ndarray, shift: tuple[int, int], step_size: float) -> tuple[np.ndarray, float]:
        """google/deepdream's make_step: jitter roll, normalised gradient step, clip; returns (image, objective)."""

    def set_guide(self, guide: np.ndarray) -> None:
        """Guide features (C, K) for a guided objective."""


def check_backend(kind: str, provider: str, loop: str = "auto", cuda_graph: bool = False) -> None:
    """Fail on a backend, provider or ORT loop option that cannot run here, before any model loads.

    Raises:
        UnknownNameError: an unknown backend, provider or loop name.
        VisError: a provider this machine lacks (ORT's providers, or CUDA for torch); a loop or CUDA graphs asked of
            the torch backend, which has neither.
    """
    if kind not in BACKENDS:
        raise UnknownNameError("backend", kind, BACKENDS)
    if loop not in LOOPS:
        raise UnknownNameError("dream loop", loop, LOOPS)
    if kind == "torch" and (loop != "auto" or cuda_graph):
        raise VisError("--loop and --cuda-graph are the ort backend's (torch keeps its tensors on its device): "
                       "use --backend ort, or leave them out")
    if kind == "ort":
        resolve_provider(provider)
        return
    check_provider_name(provider)
    if provider in ("cuda", "tensorrt") and not _torch_cuda():
        raise VisError(f"--backend torch --provider {provider} runs torch on CUDA, and this torch has no CUDA device; "
                       "use --provider cpu")


def make_backend(kind: str, model_name: str, model: StagedNet, objective: Objective, *, provider: str = "auto",
                 threads: int = 0, variant: str = "fast", guide: np.ndarray | None = None, weights: str = "",
                 loop: str = "auto", cuda_graph: bool = False) -> Backend:
    """Build the ``ort`` or ``torch`` backend for ``objective`` on ``model``.

    ``guide``: for a ``guide:LAYER`` objective, the guide image (HxWx3, seen ``GUIDE_SIDE`` px long as `vis dream
    --guide` sees it) or its features at LAYER, (C, H*W) (:func:`vis.engine._dream.guide_features_of`).
    ``loop`` and ``cuda_graph`` are the ORT backend's (see :class:`vis.engine._ort_backend.OrtBackend`); asking the
    torch backend for a device loop or CUDA graphs is an error.

    Raises:
        VisError: also for a guide given to an objective with no guide term, or a guide of another shape.
    """
    if kind in BACKENDS:  # an unknown kind is named below
        check_backend(kind, provider, loop, cuda_graph)
    check_model(model_name, model)
    guide = None if guide is None else _guide_features(model, objective, guide)
    if kind == "torch":
        from vis.engine._torch_backend import TorchBackend
        from vis.engine._torch_device import limit_torch_threads

        limit_torch_threads(threads)
        from vis.engine._dream import runs_on_gpu
        from vis.exporters._gradient import model_value_range

        device = "cuda" if runs_on_gpu(provider, "torch") else "cpu"
        return TorchBackend(model, objective, model_value_range(model_name), guide, device=device)
    if kind == "ort":
        from vis.engine._ort_backend import OrtBackend

        return OrtBackend(model_name, model, objective, variant=variant, guide=guide, weights=weights, loop=loop,
                          session=SessionConfig(provider, threads, cuda_graph=cuda_graph))
    raise UnknownNameError("backend", kind, BACKENDS)


def _guide_features(model: StagedNet, objective: Objective, guide: np.ndarray) -> np.ndarray:
    """make_backend's ``guide`` as the (C, K) features its objective takes."""
    layer = objective.needs_guide()
    if not layer:
        raise VisError("a guide was given, but the objective has no guide:LAYER term to use it (the dream would "
                       "ignore it)")
    array = np.asarray(guide)
    if array.ndim == 2:
        return array
    if array.ndim == 3:
        from vis.engine._dream import guide_features_of
        from vis.engine._image_array import as_rgb

        return guide_features_of(model, layer, as_rgb(array, "guide"))
    raise VisError(f"guide is {dims(array.shape)}: pass the guide image (HxWx3) or its features at "
                   f"{layer}, (C, H*W)")


def _torch_cuda() -> bool:
    import torch

    return torch.cuda.is_available()
