"""vis: look inside convolutional networks and dream in real time.

The public API is re-exported here lazily, so ``import vis`` does no work (no torch import) until a name is used.
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
