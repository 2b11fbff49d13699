"""Where vis keeps what it downloads or builds once: weights, MNIST, native kernels, TensorRT engines."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$VIS_CACHE``, else ``$XDG_CACHE_HOME/vis``, else ``~/.cache/vis``."""
    if os.environ.get("VIS_CACHE"):
        return Path(os.environ["VIS_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vis"
