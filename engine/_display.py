"""Where a dream is shown live: an OpenCV preview window or a virtual camera (pyvirtualcam)."""

from __future__ import annotations

import os

import cv2
import numpy as np

from vis.engine._closing import ClosedOnExit
from vis.engine._video import as_bgr_uint8
from vis.errors import VisError


class NoDisplayError(VisError):
    """A preview window was asked for where none can be opened."""


class Preview(ClosedOnExit):
    """An OpenCV window; refuses clearly where OpenCV has no GUI or there is no display."""

    def __init__(self, title: str = "vis dream"):
        if os.name == "posix" and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise NoDisplayError("--preview needs a display (no DISPLAY set); watch the dream in a browser with "
                                 "--serve PORT, write it to a file with -o, or send it to a virtual camera with "
                                 "--virtual-cam")
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        except cv2.error as e:
            raise NoDisplayError("--preview needs OpenCV with GUI support, and vis installs the headless one (it "
                                 "runs on servers without libGL); for a window: pip uninstall -y "
                                 "opencv-python-headless && pip install opencv-python; or watch it in a browser "
                                 "with --serve PORT, write to a file with -o or send the dream to --virtual-cam") from e
        self.title = title

    def show(self, frame: np.ndarray, text: str = "") -> bool:
        """Show a frame (float RGB or uint8 BGR); returns False when the user closed the window or pressed q/Esc."""
        img = as_bgr_uint8(frame).copy()
        if text:
            cv2.putText(img, text, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2, cv2.LINE_AA)
        cv2.imshow(self.title, img)
        key = cv2.waitKey(1) & 0xFF
        return key not in (ord("q"), 27) and self._open()

    def _open(self) -> bool:
        """Whether the window is still there: a window closed with the mouse would otherwise reopen at the next
        frame. Backends that cannot tell count as open."""
        try:
            return cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) >= 1
        except cv2.error:
            return True

    def close(self) -> None:
        cv2.destroyWindow(self.title)


def check_virtual_cam():
    """pyvirtualcam (an optional dependency), or a :class:`VisError` that says how to get it; cheap, so a command can
    ask before it builds its model."""
    try:
        import pyvirtualcam
    except ImportError as e:
        raise VisError("--virtual-cam needs pyvirtualcam (pip install pyvirtualcam) and a virtual camera "
                       "driver (v4l2loopback on Linux, OBS elsewhere)") from e
    return pyvirtualcam


class VirtualCamera(ClosedOnExit):
    """Sends frames to a virtual camera through pyvirtualcam (optional dependency)."""

    def __init__(self, width: int, height: int, fps: float):
        pyvirtualcam = check_virtual_cam()
        try:
            self._cam = pyvirtualcam.Camera(width=width, height=height, fps=fps)
        except Exception as e:  # noqa: BLE001 - pyvirtualcam raises RuntimeError and others when no device exists
            raise VisError(f"cannot open a virtual camera: {e}") from e
        self.size = (width, height)

    def send(self, frame: np.ndarray) -> None:
        """Send a frame (float RGB or uint8 BGR); one of another size (a camera that switched resolution) is
        scaled to the size the virtual camera was opened at, which it cannot change."""
        img = as_bgr_uint8(frame)
        if (img.shape[1], img.shape[0]) != self.size:
            img = cv2.resize(img, self.size, interpolation=cv2.INTER_AREA)
        self._cam.send(np.ascontiguousarray(img[..., ::-1]))  # pyvirtualcam takes RGB

    def close(self) -> None:
        self._cam.close()
