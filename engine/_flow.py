"""Optical flow between consecutive video frames, and the warp that moves the previous dream along it.

The flow is computed on small grey uint8 copies of the frames (OpenCV's DIS or Farneback): a warp needs no more
detail, and at 1280x720 converting and shrinking full float frames cost more than DIS itself (measured 2026-11-23:
35 ms per frame for the old float path at 640 px against 17 ms of DIS in it). A field computed at a smaller size
than the image it warps is in the small copy's pixels; :func:`warp` (and the device's warp graph) scale it up.
"""

from __future__ import annotations

import cv2
import numpy as np

from vis.engine._images import fitted_size, to_uint8

FLOW_METHODS = ("dis", "farneback")


def grey(frame: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """A uint8 grey copy of ``frame`` (uint8 BGR as OpenCV decodes it, or float32 RGB in [0, 1]) of ``size`` (h, w).

    Shrinks before a float frame becomes uint8, so a large frame is read once.
    """
    if frame.dtype == np.uint8:
        g = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    else:
        g = cv2.cvtColor(np.asarray(frame, np.float32), cv2.COLOR_RGB2GRAY)
    h, w = size if size is not None else g.shape
    if (h, w) != g.shape:
        g = cv2.resize(g, (w, h), interpolation=cv2.INTER_AREA)
    return g if g.dtype == np.uint8 else to_uint8(g)


def _solver(method: str):
    if method == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        return lambda a, b: dis.calc(a, b, None)
    if method == "farneback":
        return lambda a, b: cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    raise ValueError(f"flow must be one of {', '.join(FLOW_METHODS)}, got {method!r}")


def scale_flow(flow: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``flow`` (h', w', 2) in its own pixels -> the same motion as an (h, w, 2) field in pixels of ``size``."""
    h, w = size
    fh, fw = flow.shape[:2]
    if (fh, fw) == (h, w):
        return flow
    flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
    flow[..., 0] *= w / fw
    flow[..., 1] *= h / fh
    return flow


class FlowTracker:
    """The flow from each frame of a stream to the one before, each frame reduced once to a small grey copy.

    Args:
        method: ``"dis"`` or ``"farneback"``.
        max_side: the long side the flow is computed at (``None``: the size it is asked for).
    """

    def __init__(self, method: str = "dis", max_side: int | None = None):
        self._solve = _solver(method)
        self.max_side = max_side
        self._previous: np.ndarray | None = None

    def __call__(self, frame: np.ndarray, size: tuple[int, int]) -> np.ndarray | None:
        """The flow from ``frame`` seen at ``size`` (h, w) to the previous frame, in the pixels of a copy at most
        ``max_side`` long (pass it to :func:`warp`, which scales it); ``None`` for the first frame and after a change
        of size."""
        current = grey(frame, fitted_size(size, self.max_side))
        previous, self._previous = self._previous, current
        if previous is None or previous.shape != current.shape:
            return None
        return self._solve(current, previous)


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample ``image`` at each pixel displaced by ``flow``: moves the previous frame's image onto the current one.

    A ``flow`` smaller than ``image`` is in its own pixels and is scaled to the image first.
    """
    h, w = image.shape[:2]
    flow = scale_flow(flow, (h, w))
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    out = cv2.remap(image, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return out.reshape(image.shape)
