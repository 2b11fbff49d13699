"""The dream served live over HTTP as MJPEG (``--serve``): a browser on this or another machine watches a dream made
on a server with no display (a GPU machine), and any program that reads a stream (vis itself, OpenCV, ffplay, OBS)
takes it in."""

from __future__ import annotations

import http.server
import re
import socket
import threading

import cv2
import numpy as np

from vis.engine._closing import ClosedOnExit
from vis.engine._video import as_bgr_uint8
from vis.errors import VisError

_PAGE = b"""<!doctype html><title>vis dream</title>
<body style="margin:0;background:#111;display:flex;height:100vh;align-items:center;justify-content:center">
<img src="stream" style="max-width:100%;max-height:100%" alt="the dream, live"></body>
"""
_BOUNDARY = b"visframe"
_JPEG_QUALITY = 85  # a browser's view of a live dream: small frames over a LAN, no visible blocks


def served_address(text: str) -> tuple[str, int]:
    """``--serve``'s PORT or HOST:PORT as (host, port); the host is 127.0.0.1 (this machine only) unless named.

    Raises:
        VisError: not a port (0-65535), with or without a host before it.
    """
    match = re.fullmatch(r"(?:\[?([^\[\]]*?)\]?:)?([0-9]{1,5})", text.strip())
    if not match or int(match.group(2)) > 65535:
        raise VisError(f"--serve takes PORT or HOST:PORT (8080, 0.0.0.0:8080 for other machines too), got {text!r}")
    return match.group(1) or "127.0.0.1", int(match.group(2))


class _IPv6Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6


class ServedStream(ClosedOnExit):
    """An HTTP server on ``host``:``port`` (see :func:`served_address`; port 0: one the system picks) showing the
    frames it is sent: ``/`` is a page with the dream, ``/stream`` the MJPEG stream, ``/frame.jpg`` the newest frame.
    Each viewer gets the newest frame as soon as it can take one, so a slow one skips frames rather than falling
    behind; frames are encoded only while someone watches.

    Raises:
        VisError: the address cannot be served (a port in use, a host that is not this machine's).
    """

    def __init__(self, host: str, port: int):
        self._frame: np.ndarray | None = None  # the newest frame sent
        self._jpeg: bytes | None = None  # it encoded, once a viewer asked for it
        self._number = 0  # counts the frames sent, so that a viewer knows when one is new
        self.viewers = 0
        self._closed = False
        self._changed = threading.Condition()
        server_class = _IPv6Server if ":" in host else http.server.ThreadingHTTPServer
        try:
            self._server = server_class((host, port), self._handler())
        except OSError as e:
            raise VisError(f"cannot serve the dream on {host}:{port}: {e.strerror or e}") from None
        self._server.daemon_threads = True  # a viewer still connected does not keep vis from exiting
        bound_host, bound_port = self._server.server_address[:2]
        shown_host = ("localhost" if bound_host in ("127.0.0.1", "::1") else
                      f"[{bound_host}]" if ":" in bound_host else bound_host)
        self.url = f"http://{shown_host}:{bound_port}/"
        self._thread = threading.Thread(target=self._server.serve_forever, name="served-dream", daemon=True)
        self._thread.start()

    def send(self, frame: np.ndarray) -> None:
        """Show ``frame`` (float RGB or uint8 BGR) to every viewer. It is encoded in a viewer's thread, once for all,
        and only while someone watches: the dream's loop pays nothing for it."""
        with self._changed:
            self._frame, self._jpeg, self._number = frame, None, self._number + 1
            self._changed.notify_all()

    def _newest(self, after: int) -> tuple[bytes | None, int]:
        """The newest frame's JPEG once there is one newer than number ``after``; (None, _) when serving stopped."""
        with self._changed:
            self._changed.wait_for(lambda: self._closed or (self._number > after and self._frame is not None))
            if self._closed:
                return None, self._number
            frame, jpeg, number = self._frame, self._jpeg, self._number
        if jpeg is None:  # outside the lock: the dream's next send does not wait for it
            jpeg = cv2.imencode(".jpg", as_bgr_uint8(frame), [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])[1].tobytes()
            with self._changed:
                if self._number == number:
                    self._jpeg = jpeg  # the other viewers take it as it is
        return jpeg, number

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        served = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # the dream's progress line is the output, not a log
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                path = self.path.split("?", 1)[0]
                if path == "/":
                    self._reply("text/html; charset=utf-8", _PAGE)
                elif path == "/frame.jpg":
                    jpeg, _ = served._newest(after=-1)
                    if jpeg is not None:
                        self._reply("image/jpeg", jpeg)
                elif path == "/stream":
                    self._stream()
                else:
                    self.send_error(404, "the dream is at / (a page), /stream (MJPEG) and /frame.jpg")

            def _reply(self, kind: str, body: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def _stream(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={_BOUNDARY.decode()}")
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                with served._changed:
                    served.viewers += 1
                try:
                    shown = -1
                    while True:
                        jpeg, shown = served._newest(after=shown)
                        if jpeg is None:
                            return
                        self.wfile.write(b"--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                                         % (_BOUNDARY, len(jpeg)) + jpeg + b"\r\n")
                except OSError:  # the viewer went away
                    pass
                finally:
                    with served._changed:
                        served.viewers -= 1

        return Handler

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=2.0)
