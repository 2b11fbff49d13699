"""What ``--webcam`` names: a camera by its index, or a live stream by its URL (an IP camera, a phone's webcam app,
an OBS or ffmpeg stream), how vis names either in what it prints, and the source that reads the newest frame of one."""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import cv2
import numpy as np

from vis.engine._closing import ClosedOnExit
from vis.engine._images import opencv_errors_only
from vis.engine._video import VideoSourceError, from_bgr
from vis.errors import VisError

# the protocols of live video that OpenCV's FFmpeg opens; a file:// or a plain path is a video file, read whole
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt", "rtp")
_MAX_INDEX = 2**31 - 1  # OpenCV takes a C int


def camera_of(text: str) -> int | str:
    """``--webcam``'s value: a camera's index (``"0"``) or a live stream's URL, as given.

    Raises:
        VisError: neither a whole number in OpenCV's range nor a URL of one of :data:`STREAM_SCHEMES`.
    """
    text = text.strip()
    if re.fullmatch(r"[0-9]+", text):
        if int(text) > _MAX_INDEX:
            raise VisError(f"a camera's index is at most {_MAX_INDEX}, got {text}")
        return int(text)
    scheme = stream_scheme(text)
    if scheme and len(text) > len(scheme) + 3:
        return text
    raise VisError(f"expected a camera's index (0, 1, ...) or a live stream's URL (rtsp://, http://, udp://, srt://, "
                   f"...), got {text!r}")


def stream_scheme(text: str) -> str | None:
    """The scheme of ``text`` when it is a live stream's URL (``rtsp``), else None. A path that lost a slash of its
    URL (``Path("rtsp://cam")`` reads ``rtsp:/cam``) counts too, so that an INPUT argument can be told apart."""
    match = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):/", text)
    scheme = match.group(1).lower() if match else None
    return scheme if scheme in STREAM_SCHEMES else None


def shown_camera(camera: int | str) -> str:
    """``webcam 0``, or ``stream rtsp://user:***@cam.local/live``: a password in the URL is not printed."""
    if isinstance(camera, int):
        return f"webcam {camera}"
    parts = urlsplit(camera)
    if parts.password:
        host = parts.netloc.rsplit("@", 1)[1]
        camera = parts._replace(netloc=f"{parts.username}:***@{host}").geturl()
    return f"stream {camera}"


class WebcamSource(ClosedOnExit):
    """The newest frame of a webcam or a live stream: a reader thread keeps only the latest frame and drops the rest.

    ``camera`` is a webcam's index or a live stream's URL (see :func:`vis.engine._cameras.camera_of`). Iterating
    yields each new frame once (waiting for the next when the consumer is faster than the camera). It ends when the
    camera is lost: its reads have failed for ``READ_GRACE`` seconds (one failed read, as cameras have while they
    start, is not the end) or no frame came for ``timeout`` seconds (10 for a stream, whose first key frame may take
    a while); ``lost`` then says which.

    Raises:
        VideoSourceError: no camera at the index, a stream that does not open, or no frame from either.
    """

    pixel_aspect = None  # a camera's pixels are taken as square
    pixel_components = ()  # not known: the driver decodes them
    damaged = ()  # stretches read past: none, a camera has no file to be damaged
    held_to = start_damaged = None  # (see FileFrames) none: nothing is read past
    live = True  # frames come with the clock: a recording is timed by when each dream was made, not by the camera's fps
    READ_GRACE = 1.0  # seconds of failed reads before the camera counts as gone

    def __init__(self, camera: int | str, timeout: float | None = None):
        self.camera = camera
        self.name = shown_camera(camera)
        self.raw = False  # as VideoSource.raw
        timeout = timeout if timeout is not None else 5.0 if isinstance(camera, int) else 10.0
        with opencv_errors_only():  # a missing camera is our one-line error, not OpenCV's backend warnings too
            self._cap = _live_capture(camera, timeout)
        if not self._cap.isOpened():
            self._cap.release()
            raise VideoSourceError(f"no webcam at index {camera} (is one connected and free?)" if isinstance(camera, int)
                                   else f"cannot open {self.name}: is it reachable, and a live video stream?")
        self._stop = threading.Event()
        first = self._read_one(deadline=time.monotonic() + timeout)
        if first is None:
            self._cap.release()
            raise VideoSourceError(f"{self.name} opened but delivers no frames")
        self.height, self.width = first.shape[:2]
        reported = float(self._cap.get(cv2.CAP_PROP_FPS))
        self.fps = reported if math.isfinite(reported) and reported > 0 else 30.0  # some drivers say 0, -1 or NaN
        self.frame_count = 0
        self.frames_read = 0
        self.dropped = 0
        self.truncated = False
        self.lost = ""  # why the frames stopped, when the camera (not the user) ended the run
        self.timeout = timeout
        self._latest: np.ndarray | None = first
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, name=self.name.replace(" ", "-"), daemon=True)
        self._thread.start()

    def _read_one(self, deadline: float) -> np.ndarray | None:
        """The next frame, reading again after a failed read until ``deadline`` (None when it passed)."""
        while True:
            ok, frame = self._cap.read()
            if ok and frame is not None:
                return frame
            if time.monotonic() >= deadline or self._stop.is_set():
                return None
            time.sleep(0.02)

    def _read(self) -> None:
        while not self._stop.is_set():
            frame = self._read_one(deadline=time.monotonic() + self.READ_GRACE)
            with self._cond:
                if frame is None:
                    if not self._stop.is_set():
                        self.lost = "stopped delivering frames"
                    self._stop.set()
                else:
                    self.dropped += self._latest is not None
                    self._latest = frame
                self._cond.notify_all()

    def __iter__(self) -> Iterator[np.ndarray]:
        with self._cond:
            self.dropped = 0  # count what the dreams skipped, not the frames that came while the model was built
        while True:
            with self._cond:
                came = self._cond.wait_for(lambda: self._latest is not None or self._stop.is_set(), timeout=self.timeout)
                frame, self._latest = self._latest, None
                if not came and not self.lost:
                    self.lost = f"delivered no frame for {self.timeout:g} s"
            if frame is None:
                return
            self.frames_read += 1
            yield frame if self.raw else from_bgr(frame)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        if not self._thread.is_alive():  # a read stuck in the driver still uses the capture: leave it to the exit
            self._cap.release()


def _live_capture(camera: int | str, timeout: float) -> Any:
    """OpenCV's capture of a webcam, or of a stream through FFmpeg, whose opening and reads give up after ``timeout``
    seconds (an unreachable host would otherwise hold the run for FFmpeg's 30 s)."""
    if isinstance(camera, int):
        return cv2.VideoCapture(camera)
    milliseconds = int(timeout * 1000)
    return cv2.VideoCapture(camera, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, milliseconds,
                                                     cv2.CAP_PROP_READ_TIMEOUT_MSEC, milliseconds])
