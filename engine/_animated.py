"""Animated images as videos: GIF, APNG and animated WebP read frame by frame through Pillow, GIF written through PyAV.

An animated GIF is what many users have at hand and what many want back, so `vis dream in.gif -o out.gif` dreams
every frame with the video loop, keeps each frame's own delay and writes an animated GIF (a zoom into a photo too).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from fractions import Fraction
from functools import reduce
from pathlib import Path
from typing import Any

import numpy as np

from vis.errors import InputFileError

GIF_MAX_FPS = 50
"""A GIF stores delays in hundredths of a second, and browsers play delays below 2 of them at 10: a GIF written at a
higher rate leaves out the frames that would come sooner than 20 ms after the one before."""

_SHORTEST_DELAY_MS = 10  # a delay of at most this plays as 100 ms in browsers (GIF animators write 0 meaning "fast")
_DEFAULT_DELAY_MS = 100
_CENTISECOND = Fraction(1, 100)
_FINEST_STEP_MS = 10  # the frame rate of a variable-delay animation: the delays' common step, at most 100 fps


def is_animated(path: str | Path) -> bool:
    """Whether ``path`` is an image file with more than one frame (GIF, APNG, WebP); False for anything Pillow
    cannot open."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as picture:
            return bool(getattr(picture, "is_animated", False))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return False


def frame_rate_of(delays_ms: list[int]) -> tuple[float, list[float] | None]:
    """(frames per second, each frame's start in seconds or None when the delays are all alike) of an animation.

    Delays a browser would play as 100 ms are taken as 100 ms. Delays within 10 ms of each other give their mean
    rate; others (a frame held longer) give the rate of their common step, so each frame can start at its own time.
    """
    delays = [d if d > _SHORTEST_DELAY_MS else _DEFAULT_DELAY_MS for d in delays_ms]
    if max(delays) - min(delays) <= _FINEST_STEP_MS:  # 30 fps as a GIF is 30, 30, 40 ms: one rate, their mean
        return 1000.0 * len(delays) / sum(delays), None
    step = max(_FINEST_STEP_MS, reduce(math.gcd, (round(d / _FINEST_STEP_MS) * _FINEST_STEP_MS for d in delays)))
    starts = np.concatenate([[0], np.cumsum(delays[:-1])]) / 1000.0
    return 1000.0 / step, [float(t) for t in starts]


class AnimatedImageSource:
    """The frames of an animated image, with the interface of :class:`vis.engine._video.VideoSource`.

    Each frame is the picture a viewer shows at that moment (Pillow applies the disposal of the frames before) with
    transparency composited over white, as :func:`vis.engine.load_image` does for stills.

    Attributes:
        fps, width, height, variable_rate, frame_count, frames_read, truncated, raw: as VideoSource's.

    Raises:
        InputFileError: the file cannot be opened as an animated image.
    """

    live = False

    def __init__(self, path: str | Path):
        from PIL import Image, UnidentifiedImageError

        self.raw = False
        self.path = Path(path)
        try:
            self._picture = Image.open(self.path)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
            raise InputFileError(f"not a readable animated image: {self.path} ({e})") from e
        self.width, self.height = self._picture.size
        delays, self._scan_failed = self._delays()
        if not delays:
            self._picture.close()
            raise InputFileError(f"animated image has no readable frame: {self.path}")
        # a frame whose header was found but could not be read counts as announced, so the end reads as truncated
        self.frame_count = len(delays) + self._scan_failed
        self.fps, self._starts = frame_rate_of(delays)
        self.variable_rate = self._starts is not None
        self.frames_read = 0
        self.truncated = False

    def _delays(self) -> tuple[list[int], bool]:
        """Each frame's delay in ms, and whether a frame after them failed to load (a cut or corrupt file)."""
        delays = []
        try:
            for index in range(getattr(self._picture, "n_frames", 1)):
                self._picture.seek(index)
                if "duration" not in self._picture.info:
                    self._picture.load()  # WebP gives a frame's delay once it is decoded; GIF and APNG on seeking
                delays.append(round(self._picture.info.get("duration") or 0))
        except (OSError, EOFError, ValueError, SyntaxError):
            return delays, True
        return delays, False

    def frame_time(self, index: int) -> float | None:
        """When frame ``index`` starts, in seconds, for a variable-delay animation; None when the rate is constant."""
        return self._starts[index] if self._starts is not None else None

    def __iter__(self) -> Iterator[np.ndarray]:
        for index in range(self.frame_count):
            try:
                self._picture.seek(index)
                rgba = np.asarray(self._picture.convert("RGBA"), dtype=np.float32) * np.float32(1.0 / 255.0)
            except (OSError, EOFError, ValueError, SyntaxError):
                self.truncated = True
                return
            rgb = rgba[..., :3] * rgba[..., 3:] + (1.0 - rgba[..., 3:])  # over white, as stills are
            self.frames_read += 1
            if self.raw:  # uint8 BGR, as OpenCV decodes a video
                yield np.ascontiguousarray((rgb[..., ::-1] * 255.0 + 0.5).astype(np.uint8))
            else:
                yield np.ascontiguousarray(rgb)
        self.truncated = self._scan_failed

    def close(self) -> None:
        self._picture.close()

    def __enter__(self) -> "AnimatedImageSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class GifWriter:
    """BGR uint8 frames -> an animated GIF that loops, each frame with its own 256-colour palette (Pillow's fast
    octree: 1.5 ms for 640x360, 4 levels of mean error). Written as it comes, like the video writers: the muxer
    finishes a frame when the next one arrives, so a killed run leaves a GIF of all frames but the last."""

    codec = "gif"

    def __init__(self, av: Any, path: Path, fps: Fraction, size: tuple[int, int]):
        self._av, self._fps = av, fps
        self._container = av.open(str(path), "w", format="gif", options={"flush_packets": "1"})
        try:
            self._stream = self._container.add_stream("gif", rate=fps)
            self._stream.width, self._stream.height = size
            self._stream.pix_fmt = "pal8"
            # a GIF's delays are in hundredths of a second: the encoder's clock too, or it would round them to the rate
            self._stream.time_base = self._stream.codec_context.time_base = _CENTISECOND
            self._container.start_encoding()
        except Exception:
            self._container.close()
            raise
        self._last_cs: int | None = None
        self.frames_dropped = 0

    def write(self, bgr: np.ndarray, pts: int) -> None:
        """Write the frame at ``pts`` (in frames of the rate), or count it in ``frames_dropped`` when it comes less
        than 20 ms after the frame before (see :data:`GIF_MAX_FPS`)."""
        from PIL import Image

        at_cs = round(pts * 100 / self._fps)
        if self._last_cs is not None and at_cs - self._last_cs < 100 // GIF_MAX_FPS:
            self.frames_dropped += 1
            return
        picture = Image.fromarray(np.ascontiguousarray(bgr[..., ::-1])).quantize(256, method=Image.Quantize.FASTOCTREE)
        palette = np.zeros((256, 4), np.uint8)
        rgb = np.frombuffer(bytes(picture.getpalette("RGB")), np.uint8).reshape(-1, 3)[:256]
        palette[: len(rgb), 0] = 255  # ARGB: opaque
        palette[: len(rgb), 1:] = rgb
        frame = self._av.VideoFrame.from_ndarray((np.asarray(picture, np.uint8), palette), format="pal8")
        frame.pts, frame.time_base = at_cs, _CENTISECOND
        self._mux(self._stream.encode(frame))
        self._last_cs = at_cs

    def _mux(self, packets: list[Any]) -> None:
        for packet in packets:
            # the last frame's delay: one frame at the rate (hundredths, as the others)
            packet.duration = packet.duration or max(1, round(100 / self._fps))
            self._container.mux(packet)

    def close(self) -> None:
        try:
            self._mux(self._stream.encode())
        finally:
            self._container.close()
