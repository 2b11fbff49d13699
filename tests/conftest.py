"""Shared fixtures: small images on disk, sample photos shipped with scikit-learn, random-weight models."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

# Tests never reach the network and never use a user's cache.
os.environ.setdefault("TORCH_HOME", str(Path(__file__).parent / ".torch-home-unused"))


@pytest.fixture(scope="session")
def sample_photo() -> Path:
    """A real photo that ships with scikit-learn (a Chinese temple, 427x640)."""
    import sklearn.datasets

    return Path(sklearn.datasets.__file__).parent / "images" / "china.jpg"


@pytest.fixture
def image_files(tmp_path: Path) -> dict[str, Path]:
    """An RGB, a grey, an RGBA and a 16-bit image of odd sizes, plus a non-image and a missing path."""
    rng = np.random.default_rng(0)
    files = {}
    files["rgb"] = tmp_path / "rgb.png"
    cv2.imwrite(str(files["rgb"]), rng.integers(0, 255, (37, 53, 3), dtype=np.uint8))
    files["grey"] = tmp_path / "grey.png"
    cv2.imwrite(str(files["grey"]), rng.integers(0, 255, (41, 29), dtype=np.uint8))
    files["rgba"] = tmp_path / "rgba.png"
    cv2.imwrite(str(files["rgba"]), rng.integers(0, 255, (30, 31, 4), dtype=np.uint8))
    files["deep"] = tmp_path / "deep.png"
    cv2.imwrite(str(files["deep"]), rng.integers(0, 65535, (20, 22, 3), dtype=np.uint16))
    files["text"] = tmp_path / "notes.png"
    files["text"].write_text("not an image")
    files["missing"] = tmp_path / "missing.png"
    return files


@pytest.fixture
def full_disk(monkeypatch):
    """``full_disk(packets, close_fails=False)``: PyAV's muxer fails as on a full disk once ``packets`` packets (one
    a frame) are in the file, and with ``close_fails`` closing the file fails too (no room for its trailer)."""
    import errno

    import vis.engine._video_sink as video_sink

    real = video_sink.import_av()

    def fill_after(packets: int, close_fails: bool = False) -> None:
        class Container:
            def __init__(self, inner, path: str):
                self._inner, self._path, self._muxed = inner, path, 0

            def __getattr__(self, name):
                return getattr(self._inner, name)

            def mux(self, packet) -> None:
                if self._muxed >= packets:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self._path)
                self._muxed += 1
                self._inner.mux(packet)

            def close(self) -> None:
                self._inner.close()
                if close_fails:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self._path)

        class FullDiskAv:
            def __getattr__(self, name):
                return getattr(real, name)

            @staticmethod
            def open(path, *args, **kwargs):
                return Container(real.open(path, *args, **kwargs), path)

        monkeypatch.setattr(video_sink, "import_av", lambda: FullDiskAv())

    return fill_after


@pytest.fixture
def variable_rate_clip():
    """``variable_rate_clip(path, ticks, rate=30)``: a 64x48 H.264 clip whose frames start at ``ticks`` / ``rate``
    seconds (a screen recording that pauses), grey level 30 a frame; returns ``path``."""
    from fractions import Fraction

    import av

    def write(path: Path, ticks: list[int], rate: int = 30) -> Path:
        with av.open(str(path), "w") as container:
            stream = container.add_stream("libx264", rate=rate)
            stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
            stream.codec_context.time_base = Fraction(1, rate)
            for i, tick in enumerate(ticks):
                frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 30, np.uint8), format="rgb24")
                frame.pts, frame.time_base = tick, Fraction(1, rate)
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        return path

    return write


class Animation:
    """Animated images for tests: written with Pillow (GIF, APNG or WebP by suffix), a GIF's delays read back."""

    @staticmethod
    def write(path: Path, frames: list[np.ndarray], delays: int | list[int]) -> Path:
        """Save uint8 RGB ``frames`` as an animation at ``path`` with ``delays`` in ms (one for all, or one each)."""
        from PIL import Image

        pictures = [Image.fromarray(np.ascontiguousarray(f)) for f in frames]
        pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=delays, loop=0)
        return path

    @staticmethod
    def delays(path: Path) -> list[int]:
        """Each frame's delay in ms, as stored."""
        from PIL import Image

        with Image.open(path) as picture:
            return [(picture.seek(i), picture.info["duration"])[1] for i in range(picture.n_frames)]


@pytest.fixture
def animation() -> type[Animation]:
    """:class:`Animation`: write an animated image, read a GIF's delays."""
    return Animation


class DreamProcess:
    """`vis dream` in a process of its own, as a user starts it, to be stopped (Ctrl-C, a signal) while it runs."""

    @staticmethod
    def start(*args: object) -> subprocess.Popen:
        """``vis dream ARGS`` with its output piped. A shell's background job ignores SIGINT and a child inherits
        that: the process gets the default back, as a terminal would give it."""
        return subprocess.Popen([sys.executable, "-m", "vis", "dream", *map(str, args)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    @staticmethod
    def read_until(stream: Any, text: str, timeout: float = 120.0) -> str:
        """What ``stream`` (a process's stdout or stderr) says up to ``text``, its end, or ``timeout`` seconds."""
        said, deadline = "", time.time() + timeout
        while time.time() < deadline and text not in said:
            char = stream.read(1)
            if not char:
                break
            said += char
        return said

    @staticmethod
    def read_until_frame(stream: Any, at_least: int, timeout: float = 120.0) -> tuple[int, str]:
        """The first frame number of ``at_least`` or more that ``stream`` (a process's stderr, a log: a progress line
        every few seconds) names in ``frame N/``, and what it said up to that line; 0 at its end or ``timeout``."""
        said, deadline = "", time.time() + timeout
        while time.time() < deadline:
            line = stream.readline()
            if not line:
                break
            said += line
            shown = re.match(r"frame (\d+)/", line)
            if shown and int(shown.group(1)) >= at_least:
                return int(shown.group(1)), said
        return 0, said


@pytest.fixture
def dream_process() -> type[DreamProcess]:
    """:class:`DreamProcess`: start `vis dream` in a process, read its output up to a word."""
    return DreamProcess
