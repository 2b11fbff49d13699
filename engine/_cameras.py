"""What ``--webcam`` names: a camera by its index, or a live stream by its URL (an IP camera, a phone's webcam app,
an OBS or ffmpeg stream), and how vis names either in what it prints."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

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
