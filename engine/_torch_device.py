"""Where torch computes: the device a PyTorch-side job (training, style transfer) runs on, checked before any work,
and how many CPU threads it may take."""

from __future__ import annotations

import torch

from vis._text import counted
from vis.errors import VisError


def torch_device(name: str | None) -> torch.device:
    """``None``: CUDA when available, else the CPU; otherwise the named device, which must exist here.

    Raises:
        VisError: a name torch does not know, or a CUDA device on a machine (or torch build) without one.
    """
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise VisError(f"unknown device {name!r}: use cpu or cuda (cuda:N for the N-th GPU)") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise VisError(f"--device {name}: this torch has no CUDA device (CUDA build: "
                           f"{torch.version.cuda or 'no'}); use --device cpu")
        if device.index is not None and device.index >= count:
            raise VisError(f"--device {name}: there {'is' if count == 1 else 'are'} only "
                           f"{counted(count, 'CUDA device')}")
    elif device.type in ("mps", "xpu"):  # Apple's and Intel's GPUs: torch knows the names on every build
        backend = torch.backends.mps if device.type == "mps" else getattr(torch, "xpu", None)
        if backend is None or not backend.is_available():
            raise VisError(f"--device {name}: this machine (or torch build) has no {device.type} device; use --device cpu")
    elif device.type != "cpu":
        raise VisError(f"--device {name}: vis runs on cpu or cuda")
    return device


def limit_torch_threads(threads: int) -> None:
    """Apply a ``--threads`` value (0 leaves torch's default, all cores): a shared machine keeps its other cores."""
    if threads:
        torch.set_num_threads(threads)
