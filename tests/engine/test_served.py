"""``--serve``: the dream as MJPEG over HTTP, read back by what a viewer uses (OpenCV's stream reader, plain HTTP),
and vis's own ``--webcam URL`` reading a served dream."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from vis.cli import app
from vis.engine._served import ServedStream, served_address
from vis.errors import VisError


def grey(level: int) -> np.ndarray:
    return np.full((48, 64, 3), level, np.uint8)


def test_a_viewer_gets_the_frames_sent(tmp_path) -> None:
    with ServedStream("127.0.0.1", 0) as served:
        assert served.url.startswith("http://localhost:") and served.url.endswith("/")
        page = urllib.request.urlopen(served.url, timeout=5).read().decode()
        assert '<img src="stream"' in page

        stop = threading.Event()

        def dream() -> None:  # the dream's loop: a new frame every 20 ms, the level counting up
            level = 0
            while not stop.is_set():
                served.send(grey(level % 250))
                level += 10
                time.sleep(0.02)

        sender = threading.Thread(target=dream, daemon=True)
        sender.start()
        try:
            viewer = cv2.VideoCapture(served.url + "stream", cv2.CAP_FFMPEG)
            frames = [viewer.read()[1] for _ in range(5)]
            viewer.release()
            still = cv2.imdecode(np.frombuffer(urllib.request.urlopen(served.url + "frame.jpg", timeout=5).read(),
                                               np.uint8), cv2.IMREAD_COLOR)
        finally:
            stop.set()
            sender.join()
    assert all(f is not None and f.shape == (48, 64, 3) for f in frames)
    levels = [float(f.mean()) for f in frames]
    assert len({round(v) for v in levels}) >= 3  # frames change as they are sent
    assert still.shape == (48, 64, 3)
    assert served.viewers == 0  # the viewer that hung up is no longer counted


def test_float_rgb_frames_are_served_in_their_colours() -> None:
    with ServedStream("127.0.0.1", 0) as served:
        rgb = np.zeros((32, 40, 3), np.float32)
        rgb[..., 0] = 1.0  # red
        served.send(rgb)
        jpeg = urllib.request.urlopen(served.url + "frame.jpg", timeout=5).read()
    bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert bgr[..., 2].mean() > 240 and bgr[..., 0].mean() < 15


def test_an_ipv6_address_is_served() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    try:
        served = ServedStream("::1", 0)
    except VisError as e:
        pytest.skip(f"no IPv6 loopback here: {e}")
    with served:
        served.send(grey(200))
        port = served.url.rsplit(":", 1)[1].strip("/")
        jpeg = urllib.request.urlopen(f"http://[::1]:{port}/frame.jpg", timeout=5).read()
    assert abs(float(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).mean()) - 200) < 3


def test_an_unknown_path_is_a_404_that_says_where_the_dream_is() -> None:
    with ServedStream("127.0.0.1", 0) as served:
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(served.url + "nothing", timeout=5)
    assert e.value.code == 404


def test_closing_ends_every_viewers_stream() -> None:
    served = ServedStream("127.0.0.1", 0)
    served.send(grey(100))
    response = urllib.request.urlopen(served.url + "stream", timeout=5)
    assert response.readline().startswith(b"--visframe")
    served.close()
    rest = response.read()  # the stream ends instead of hanging (the read would time out after 5 s)
    assert rest.count(b"--visframe") <= 1


@pytest.mark.parametrize("text, address", [("8080", ("127.0.0.1", 8080)), ("0.0.0.0:8554", ("0.0.0.0", 8554)),
                                           ("[::1]:9000", ("::1", 9000)), (" 0 ", ("127.0.0.1", 0))])
def test_served_address(text, address) -> None:
    assert served_address(text) == address


@pytest.mark.parametrize("text", ["", "http", "host:", "70000", "1.2.3.4:99999", "a:b:c"])
def test_a_bad_address_is_refused(text) -> None:
    with pytest.raises(VisError, match="--serve takes PORT or HOST:PORT"):
        served_address(text)


def test_a_port_in_use_is_one_line_before_any_work(tmp_path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        clip = tmp_path / "in.mp4"
        _write_clip(clip, 3)
        result = CliRunner().invoke(app, ["dream", str(clip), "--serve", str(port), "-m", "efficientnet_lite0",
                                          "-w", "random", "-q"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"cannot serve the dream on 127.0.0.1:{port}:" in result.output
    assert "efficientnet" not in result.stdout  # refused before the model was built


def test_serve_is_for_videos_and_webcams(tmp_path, sample_photo) -> None:
    result = CliRunner().invoke(app, ["dream", str(sample_photo), "-o", str(tmp_path / "o.png"), "--serve", "0"])
    assert result.exit_code == 2 and "--serve applies to a video or webcam input only" in result.output


def _write_clip(path: Path, count: int, size: tuple[int, int] = (64, 48)) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, size)
    rng = np.random.default_rng(0)
    for _ in range(count):
        writer.write(cv2.GaussianBlur(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8), (0, 0), 2))
    writer.release()
    return path


def test_vis_serves_a_video_dream_that_vis_can_read_as_a_stream(tmp_path) -> None:
    """One vis dreams a video into --serve (no -o needed), a viewer (OpenCV, as `--webcam URL` reads) watches it."""
    clip = _write_clip(tmp_path / "in.mp4", 400)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dreamer = subprocess.Popen([sys.executable, "-m", "vis", "dream", str(clip), "--serve", str(port), "-m",
                                "efficientnet_lite0", "-w", "random", "--octaves", "1", "--iterations", "1",
                                "--threads", "1", "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = dreamer.stdout.readline()
        assert f"serving the dream at http://localhost:{port}/" in line, line + dreamer.stderr.read()
        viewer = cv2.VideoCapture(f"http://127.0.0.1:{port}/stream", cv2.CAP_FFMPEG)
        frames = [viewer.read()[1] for _ in range(3)]
        viewer.release()
    finally:
        dreamer.terminate()
        dreamer.wait(timeout=30)
    assert all(f is not None and f.shape == (48, 64, 3) for f in frames)
