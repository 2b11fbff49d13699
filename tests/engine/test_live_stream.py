"""Live streams through ``--webcam URL``: a phone's webcam app or an IP camera serving MJPEG over HTTP, stood in for
by a server on this machine's loopback; the stream is read as a webcam is (newest frame, the end reported)."""

from __future__ import annotations

import http.server
import socketserver
import threading
import time

import av
import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from vis.cli import app
from vis.engine._cameras import camera_of, shown_camera, stream_scheme
from vis.engine._cameras import WebcamSource
from vis.errors import VisError

FAST = ["--model", "efficientnet_lite0", "--weights", "random", "--octaves", "1", "--iterations", "1", "--threads", "2",
        "-q"]


class _MJPEGStream(http.server.BaseHTTPRequestHandler):
    """Frames 0, 1, 2, ... (the number is the grey level) as multipart JPEG, ``period`` s apart, ``count`` in all."""

    count, period = 60, 1 / 30

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        self.end_headers()
        try:
            for number in range(self.count):
                jpeg = cv2.imencode(".jpg", np.full((48, 64, 3), number * 4 % 256, np.uint8))[1].tobytes()
                self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpeg))
                self.wfile.write(jpeg + b"\r\n")
                time.sleep(self.period)
        except OSError:  # the reader hung up
            pass


@pytest.fixture
def stream_url():
    """The URL of a 60-frame, 30 fps MJPEG stream on the loopback, which then ends."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _MJPEGStream)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/video"
    server.shutdown()
    server.server_close()


def test_a_stream_is_read_live_to_its_end(stream_url) -> None:
    with WebcamSource(stream_url) as stream:
        assert (stream.width, stream.height) == (64, 48) and stream.live
        levels = []
        for frame in stream:
            levels.append(round(float(frame.mean()) * 255 / 4))
            time.sleep(0.1)  # a slow dream: the frames that came meanwhile are dropped, the newest one taken
    assert levels == sorted(levels) and levels[-1] >= 55 and len(levels) < 40
    assert stream.dropped > 0 and stream.lost == "stopped delivering frames"


def test_vis_records_a_stream_and_says_when_it_ended(stream_url, tmp_path) -> None:
    out = tmp_path / "stream.mp4"
    result = CliRunner().invoke(app, ["dream", "--webcam", stream_url, "-o", str(out), *FAST])
    assert result.exit_code == 2, result.output
    assert f"error: stream {stream_url} stopped delivering frames after" in result.output
    assert "the sender stopped, or the connection dropped?" in result.output and f"{out} holds the" in result.output
    with av.open(str(out)) as written:
        assert sum(1 for _ in written.decode(video=0)) >= 1


def test_an_unreachable_stream_is_one_line_without_its_password(tmp_path) -> None:
    with socketserver.TCPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler) as closed:
        port = closed.server_address[1]  # a port nothing listens on once the server is closed
    result = CliRunner().invoke(app, ["dream", "--webcam", f"rtsp://me:secret@127.0.0.1:{port}/live",
                                      "-o", str(tmp_path / "o.mp4"), *FAST])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"cannot open stream rtsp://me:***@127.0.0.1:{port}/live" in result.output and "secret" not in result.output
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.parametrize("text, camera", [("0", 0), (" 3 ", 3), ("rtsp://cam/live", "rtsp://cam/live"),
                                          ("HTTP://phone:8080/video", "HTTP://phone:8080/video")])
def test_camera_of_reads_an_index_or_a_stream(text, camera) -> None:
    assert camera_of(text) == camera


@pytest.mark.parametrize("text", ["-1", "cam", "file:///tmp/a.mp4", "rtsp://", "2147483648", "١"])
def test_camera_of_refuses_the_rest(text) -> None:
    with pytest.raises(VisError):
        camera_of(text)


def test_how_a_camera_is_named() -> None:
    assert shown_camera(2) == "webcam 2"
    assert shown_camera("rtsp://admin:hunter2@10.0.0.5:554/s1") == "stream rtsp://admin:***@10.0.0.5:554/s1"
    assert shown_camera("http://phone:8080/video") == "stream http://phone:8080/video"
    assert stream_scheme("rtsp:/cam/live") == "rtsp" and stream_scheme("photos/a.jpg") is None


def test_a_stream_url_as_input_points_to_webcam(tmp_path) -> None:
    result = CliRunner().invoke(app, ["dream", "rtsp://cam.local/live", "-o", str(tmp_path / "o.mp4"), *FAST])
    assert result.exit_code == 2
    assert "rtsp:// names a live stream: dream it with --webcam URL" in result.output


def test_a_bad_webcam_value_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["dream", "--webcam", "cam", *FAST])
    assert result.exit_code == 2 and "Traceback" not in result.output
    unboxed = " ".join(result.output.replace("│", " ").split())  # typer's usage error comes in a wrapped box
    assert "expected a camera's index (0, 1, ...) or a live stream's URL" in unboxed


class _Mute(http.server.BaseHTTPRequestHandler):
    """A server that takes the connection and never answers (a stream behind a firewall that drops, not refuses)."""

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        time.sleep(30)


def test_a_stream_that_never_answers_gives_up_after_the_timeout() -> None:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Mute)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    started = time.monotonic()
    try:
        with pytest.raises(VisError, match="cannot open stream http://127.0.0.1"):
            WebcamSource(f"http://127.0.0.1:{server.server_address[1]}/video", timeout=1.0)
    finally:
        server.shutdown()
        server.server_close()
    assert time.monotonic() - started < 20  # FFmpeg's own wait would be the server's 30 s
