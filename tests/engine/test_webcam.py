"""Webcam, preview window and virtual camera with stand-ins for the devices this machine lacks.

The camera is a fake ``cv2.VideoCapture`` that delivers numbered frames at its own pace (the frame number is the
pixel value), the window a fake set of OpenCV GUI calls, the virtual camera a fake ``pyvirtualcam`` module: the
tests check what vis does with them (newest frame first, frames dropped and counted, what is shown and sent).
"""

from __future__ import annotations

import sys
import threading
import time
import types

import av
import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from vis.cli import app
from vis.engine import _cameras

FRAME_SHAPE = (48, 64, 3)  # h, w, c
REAL_CAPTURE = cv2.VideoCapture  # the fixtures replace it (vis reads cameras and files through the same class)
FAST = ["--model", "efficientnet_lite0", "--weights", "random", "--octaves", "1", "--iterations", "1", "--threads", "2",
        "-q"]


class FakeCamera:
    """Frames 0, 1, 2, ... every ``period`` seconds, then end of stream after ``count`` frames."""

    def __init__(self, index: int, count: int = 120, period: float = 0.004):
        self.index, self.count, self.period, self.next = index, count, period, 0

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return self.index == 0

    def read(self):
        time.sleep(self.period)
        if self.next >= self.count:
            return False, None
        frame = np.full(FRAME_SHAPE, self.next % 256, np.uint8)
        self.next += 1
        return True, frame

    def get(self, prop: int) -> float:
        return 30.0

    def release(self) -> None:
        pass


@pytest.fixture
def fake_camera(monkeypatch):
    monkeypatch.setattr(_cameras.cv2, "VideoCapture", FakeCamera)


@pytest.fixture
def live_camera(monkeypatch):
    """A camera that keeps delivering (30 fps) for as long as a dream takes."""
    monkeypatch.setattr(_cameras.cv2, "VideoCapture", lambda index: FakeCamera(index, count=10**6, period=1 / 30))


def frame_number(frame: np.ndarray) -> int:
    return int(round(float(frame.mean()) * 255))


def test_webcam_yields_the_newest_frame_and_counts_drops(fake_camera) -> None:
    seen = []
    with _cameras.WebcamSource(0) as cam:
        assert (cam.height, cam.width, cam.fps) == (48, 64, 30.0)
        for frame in cam:
            seen.append(frame_number(frame))
            time.sleep(0.03)  # a consumer ~7x slower than the camera
    assert seen[0] == 0 and seen == sorted(set(seen)), seen  # in order, none twice
    assert max(np.diff(seen)) > 1  # the slow consumer skipped frames ...
    assert cam.dropped >= 120 - len(seen) - 1  # ... and they were counted
    assert seen[-1] >= 115  # and it kept up with the newest
    assert cam.frames_read == len(seen)


def test_a_fast_consumer_waits_for_new_frames(fake_camera) -> None:
    with _cameras.WebcamSource(0) as cam:
        seen = [frame_number(f) for f in cam]
    assert seen == sorted(set(seen)) and len(seen) > 30  # no repeats while waiting; most frames arrive


class FakeGui:
    """Records what a preview window shows; reports the 'q' key after ``quit_after`` frames, or the window closed
    (with the mouse) after ``close_after``."""

    def __init__(self, quit_after: int, close_after: int = 10**9):
        self.quit_after, self.close_after = quit_after, close_after
        self.shown, self.windows, self.destroyed = [], [], []

    def install(self, monkeypatch) -> None:
        monkeypatch.setenv("DISPLAY", ":0")
        monkeypatch.setattr(cv2, "namedWindow", lambda title, flags=0: self.windows.append(title))
        monkeypatch.setattr(cv2, "imshow", lambda title, img: self.shown.append(img.copy()))
        monkeypatch.setattr(cv2, "waitKey", lambda delay=0: ord("q") if len(self.shown) >= self.quit_after else -1)
        monkeypatch.setattr(cv2, "destroyWindow", lambda title: self.destroyed.append(title))
        monkeypatch.setattr(cv2, "getWindowProperty",
                            lambda title, prop: 0.0 if len(self.shown) >= self.close_after else 1.0)


def test_webcam_preview_shows_dreams_with_fps_and_stops_on_q(live_camera, monkeypatch) -> None:
    gui = FakeGui(quit_after=3)
    gui.install(monkeypatch)
    result = CliRunner().invoke(app, ["dream", "--webcam", "0", *FAST])  # no -o: a webcam previews
    assert result.exit_code == 0, result.output
    assert len(gui.shown) == 3 and gui.windows and gui.destroyed == gui.windows  # every window opened is closed
    assert all(img.shape == FRAME_SHAPE and img.dtype == np.uint8 for img in gui.shown)
    # the window shows the dream (not the camera's flat grey) with the fps written on it
    assert all(img.std() > 1.0 for img in gui.shown)


def test_webcam_preview_stops_when_its_window_is_closed(live_camera, monkeypatch) -> None:
    gui = FakeGui(quit_after=10**9, close_after=2)  # imshow would reopen a closed window and dream on unseen
    gui.install(monkeypatch)
    result = CliRunner().invoke(app, ["dream", "--webcam", "0", *FAST])
    assert result.exit_code == 0, result.output
    assert len(gui.shown) == 2


def test_webcam_to_virtual_camera_and_file(live_camera, monkeypatch, tmp_path) -> None:
    sent, opened = [], []

    class Camera:
        def __init__(self, width: int, height: int, fps: float):
            opened.append((width, height, fps))

        def send(self, frame: np.ndarray) -> None:
            sent.append(frame)

        def close(self) -> None:
            opened.append("closed")

    monkeypatch.setitem(sys.modules, "pyvirtualcam", types.SimpleNamespace(Camera=Camera))
    out = tmp_path / "cam.mp4"
    result = CliRunner().invoke(app, ["dream", "--webcam", "0", "--virtual-cam", "-o", str(out), "--max-frames", "4", *FAST])
    assert result.exit_code == 0, result.output
    assert opened == [(64, 48, 30.0), "closed"] * 2  # tried before the model is built, then used
    assert len(sent) == 4 and all(f.shape == FRAME_SHAPE and f.dtype == np.uint8 for f in sent)
    cap = REAL_CAPTURE(str(out))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    assert n == 4


def test_webcam_recording_plays_at_the_pace_it_was_dreamed(live_camera, monkeypatch, tmp_path) -> None:
    """The camera runs at 30 fps, the dream at ~4: the file must not play the dreams 7x too fast."""
    import vis.engine._dream as host_dream

    def slow_dreams(backend, frames, *args, **kwargs):
        for frame in frames:
            time.sleep(0.25)
            yield frame

    monkeypatch.setattr(host_dream, "dream_frames", slow_dreams)
    out = tmp_path / "cam.mp4"
    result = CliRunner().invoke(app, ["dream", "--webcam", "0", "-o", str(out), "--max-frames", "4", *FAST])
    assert result.exit_code == 0, result.output
    assert "timed as they were dreamed" in result.output
    skipped = int(result.output.split("webcam 0: ")[1].split(" frame")[0])  # ~7 camera frames per dream
    assert 3 * 5 <= skipped <= 4 * 20, result.output  # not the frames of the model's build
    with av.open(str(out)) as c:
        times = [float(f.time) for f in c.decode(video=0)]
    assert len(times) == 4 and times[0] == 0.0
    assert all(0.2 <= b - a for a, b in zip(times, times[1:])), times  # not 1/30 s apart


@pytest.mark.parametrize("flags, max_size", [([], 320), (["--max-size", "64"], 64)])
def test_a_webcam_on_the_cpu_dreams_small_unless_told(live_camera, monkeypatch, tmp_path, flags, max_size) -> None:
    import vis.engine._dream as host_dream

    asked = []

    def spy(backend, frames, *args, max_size=None, **kwargs):
        asked.append(max_size)
        yield from frames

    monkeypatch.setattr(host_dream, "dream_frames", spy)
    result = CliRunner().invoke(app, ["dream", "--webcam", "0", "-o", str(tmp_path / "cam.mp4"), "--max-frames", "2",
                                      "--provider", "cpu", *flags, *FAST])
    assert result.exit_code == 0, result.output
    assert asked == [max_size]
    assert ("dreaming at most 320 px" in result.output) == (not flags)


def test_virtual_camera_without_pyvirtualcam_is_a_clear_error(live_camera, monkeypatch, tmp_path) -> None:
    monkeypatch.setitem(sys.modules, "pyvirtualcam", None)  # import fails
    result = CliRunner().invoke(app, ["dream", "--webcam", "0", "--virtual-cam", *FAST])
    assert result.exit_code == 2 and "pyvirtualcam" in result.output


def test_webcam_reader_thread_stops_on_close(fake_camera) -> None:
    cam = _cameras.WebcamSource(0)
    next(iter(cam))
    cam.close()
    assert not any(t.name == "webcam-0" and t.is_alive() for t in threading.enumerate())


def test_a_missing_camera_is_one_line_of_ours(capfd) -> None:
    """OpenCV's backends warn on stderr while probing a camera that is not there; vis says it once, in its words."""
    with pytest.raises(_cameras.VideoSourceError, match="no webcam at index 57"):
        _cameras.WebcamSource(57)
    captured = capfd.readouterr()
    assert "WARN" not in captured.err and "WARN" not in captured.out


class FlakyCamera(FakeCamera):
    """A camera whose reads fail at the ``failing`` read numbers (counted from 0), and that reports ``fps``."""

    def __init__(self, index: int, failing: set[int] = frozenset(), fps: float = 30.0, **kwargs):
        super().__init__(index, **kwargs)
        self.failing, self.fps, self.reads = set(failing), fps, 0

    def read(self):
        self.reads += 1
        if self.reads - 1 in self.failing:
            time.sleep(self.period)
            return False, None
        return super().read()

    def get(self, prop: int) -> float:
        return self.fps


def test_a_failed_read_or_two_is_not_the_end_of_a_camera(monkeypatch) -> None:
    """Cameras fail a read while they start, and now and then: only a second of failed reads ends the run."""
    monkeypatch.setattr(_cameras.cv2, "VideoCapture", lambda i: FlakyCamera(i, failing={0, 1, 30}, count=60))
    with _cameras.WebcamSource(0) as cam:
        seen = [frame_number(f) for f in cam]
    assert seen[0] == 0 and seen[-1] == 59  # the first frame came after two failed reads, the run went on past 30
    assert cam.lost == "stopped delivering frames"  # the end of the stream was the camera's


def test_a_camera_that_stops_is_an_error_that_keeps_the_recording(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(_cameras.cv2, "VideoCapture", lambda i: FakeCamera(i, count=30, period=1 / 30))
    out = tmp_path / "cam.mp4"
    result = CliRunner().invoke(app, ["dream", "--webcam", "0", "-o", str(out), *FAST])
    assert result.exit_code == 2, result.output
    assert "error: webcam 0 stopped delivering frames after" in result.output
    assert f"{out} holds the" in result.output and "wrote" in result.output
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) >= 1


def test_a_camera_that_says_a_wrong_frame_rate_records_at_the_pace_dreamed(monkeypatch, tmp_path) -> None:
    """A driver that reports -1 fps (or 5 while it delivers 30) must neither fail the recording nor stretch it."""
    import vis.engine._dream as host_dream

    def quick_dreams(backend, frames, *args, **kwargs):
        for frame in frames:
            time.sleep(0.05)
            yield frame

    monkeypatch.setattr(host_dream, "dream_frames", quick_dreams)
    for claimed in (-1.0, float("nan"), 5.0):
        monkeypatch.setattr(_cameras.cv2, "VideoCapture",
                            lambda i, c=claimed: FlakyCamera(i, fps=c, count=10**6, period=1 / 30))
        out = tmp_path / f"cam{claimed}.mp4"
        result = CliRunner().invoke(app, ["dream", "--webcam", "0", "-o", str(out), "--max-frames", "6", *FAST])
        assert result.exit_code == 0, result.output
        with av.open(str(out)) as c:
            times = [float(f.time) for f in c.decode(video=0)]
        assert len(times) == 6 and times[-1] < 0.6, (claimed, times)  # 5 gaps of ~0.05 s, not of 0.2 s (5 fps)


def test_overwrite_keeps_the_old_recording_until_a_frame_is_dreamed(live_camera, monkeypatch, tmp_path) -> None:
    import vis.engine._dream as host_dream

    def interrupted(backend, frames, *args, **kwargs):
        next(iter(frames))
        raise KeyboardInterrupt
        yield  # a generator

    monkeypatch.setattr(host_dream, "dream_frames", interrupted)
    out = tmp_path / "cam.mp4"
    out.write_bytes(b"an earlier recording")
    result = CliRunner().invoke(app, ["dream", "--webcam", "0", "-o", str(out), "--overwrite", *FAST])
    assert result.exit_code == 130, result.output
    assert out.read_bytes() == b"an earlier recording"


def test_the_device_loop_dreams_a_webcams_newest_frame(monkeypatch) -> None:
    """Reading ahead (which overlaps a video file's flow with the dream) would take a live frame a dream early."""
    from vis.engine import DreamConfig, VideoDreamConfig, make_backend
    from vis.engine._dream import dream_frames
    from vis.exporters import parse_objective
    from vis.models import get_model

    net = get_model("efficientnet_lite0", "random")
    backend = make_backend("ort", "efficientnet_lite0", net, parse_objective("block10", "efficientnet_lite0"),
                           threads=2, loop="device", provider="cpu")
    taken, dreamed = [], []

    def frames():
        for i in range(4):
            taken.append(i)
            yield np.full(FRAME_SHAPE, 10 * i, np.uint8)

    for live in (False, True):
        taken.clear(), dreamed.clear()
        for _ in dream_frames(backend, frames(), DreamConfig(octaves=1, iterations=1), VideoDreamConfig(),
                              live=live):
            dreamed.append(len(taken))  # frames taken when each dream came out
        if live:  # each dream came from the frame taken last
            assert dreamed == [1, 2, 3, 4], dreamed
        else:  # a file is read ahead (how far by the first dream depends on the threads' timing)
            assert dreamed[0] >= 2, dreamed


def test_a_huge_webcam_index_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["dream", "--webcam", str(2**31), *FAST])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_a_virtual_camera_takes_frames_of_a_new_size_at_its_own(monkeypatch) -> None:
    from vis.engine._display import VirtualCamera

    sent = []
    camera = types.SimpleNamespace(send=sent.append, close=lambda: None)
    monkeypatch.setitem(sys.modules, "pyvirtualcam", types.SimpleNamespace(Camera=lambda **kw: camera))
    with VirtualCamera(64, 48, 30.0) as cam:
        cam.send(np.zeros((96, 128, 3), np.uint8))
    assert sent[0].shape == (48, 64, 3)
