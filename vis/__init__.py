"""vis: look inside convolutional networks and dream in real time.

The public API is re-exported here lazily, so ``import vis`` does no work (no torch import) until a name is used::

    import vis
    net = vis.get_model("efficientnet_lite0")                 # weights="imagenet" | "random" | a file
    objective = vis.parse_objective("block10", "efficientnet_lite0")
    backend = vis.make_backend("ort", "efficientnet_lite0", net, objective)
    dreamed = vis.dream(backend, vis.load_image("photo.jpg"), vis.DreamConfig(octaves=4), rng=0)
    vis.save_image("dreamed.png", dreamed)

Images are HxWx3 RGB arrays, float in [0, 1] or uint8 (grey and RGBA are converted). More (attribution, feature
maps, atlases, video, style transfer) is in :mod:`vis.engine`; ONNX export and gradient graphs in
:mod:`vis.exporters`; architectures and weights in :mod:`vis.models`.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "get_model": "vis.models",
    "list_models": "vis.models",
    "model_spec": "vis.models",
    "layer_table": "vis.models",
    "load_image": "vis.engine",
    "save_image": "vis.engine",
    "make_backend": "vis.engine",
    "dream": "vis.engine",
    "DreamConfig": "vis.engine",
    "maximize": "vis.engine",
    "MaximizeConfig": "vis.engine",
    "predict": "vis.engine",
    "export_onnx": "vis.exporters",
    "parse_objective": "vis.exporters",
    "gradient_graph": "vis.exporters",
    "step_graph": "vis.exporters",
    "VisError": "vis.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vis' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    """The public names, lazy ones included, so that tab completion shows them."""
    return sorted(__all__)
