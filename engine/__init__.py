"""Runtime: ORT sessions, the loops (dream, maximize, inspect), the torch backend, image and video IO.

Names are re-exported lazily: importing one submodule (the CLI reads a few defaults at start) does not import
torch, ORT and OpenCV for all the others."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "Attribution": "vis.engine._attribution",
    "SaliencyConfig": "vis.engine._attribution",
    "BACKENDS": "vis.engine._backend",
    "Backend": "vis.engine._backend",
    "make_backend": "vis.engine._backend",
    "DeviceDreamer": "vis.engine._device_dream",
    "DreamConfig": "vis.engine._dream",
    "VideoDreamConfig": "vis.engine._dream",
    "dream": "vis.engine._dream",
    "dream_frames": "vis.engine._dream",
    "dream_zoom": "vis.engine._dream",
    "guide_features_of": "vis.engine._dream",
    "IMAGE_SUFFIXES": "vis.engine._images",
    "load_image": "vis.engine._images",
    "save_image": "vis.engine._images",
    "feature_maps": "vis.engine._inspect",
    "filter_weights": "vis.engine._inspect",
    "scan_images": "vis.engine._inspect",
    "MaximizeConfig": "vis.engine._maximize",
    "atlas": "vis.engine._atlas",
    "maximize": "vis.engine._maximize",
    "maximize_units": "vis.engine._atlas",
    "Prediction": "vis.engine._predict",
    "predict": "vis.engine._predict",
    "BoundRunner": "vis.engine._session",
    "CudaGraphError": "vis.engine._session",
    "ProviderUnavailableError": "vis.engine._session",
    "SessionConfig": "vis.engine._session",
    "available_providers": "vis.engine._session",
    "create_session": "vis.engine._session",
    "resolve_providers": "vis.engine._session",
    "StyleConfig": "vis.engine._style",
    "style_transfer": "vis.engine._style",
    "TrainConfig": "vis.engine._train",
    "train_lenet": "vis.engine._train",
    "VideoSink": "vis.engine._video_sink",
    "VideoSource": "vis.engine._video",
    "WebcamSource": "vis.engine._cameras",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vis.engine' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    """The public names, lazy ones included, so that tab completion shows them."""
    return sorted(__all__)
