"""Animated images as videos: GIF, APNG and animated WebP read frame by frame through Pillow, GIF written through PyAV.

An animated GIF is what many users have at hand and what many want back, so `vis dream in.gif -o out.gif` dreams
every frame with the video loop, keeps each frame's own delay and writes an animated GIF (a zoom into a photo too).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from fractions import Fraction
from functools import reduce
from pathlib import Path
from typing import Any

import numpy as np

from vis.engine._closing import ClosedOnExit
from vis.engine._image_array import as_rgb
from vis.engine._images import MAX_PIXELS, open_picture, to_uint8
from vis.errors import InputFileError, VisError

GIF_MAX_FPS = 50
"""A GIF stores delays in hundredths of a second, and browsers play delays below 2 of them at 10: a GIF written at a
higher rate leaves out the frames that would come sooner than 20 ms after the one before."""
GIF_MIN_FPS = 0.01
"""A GIF's delay field holds at most 655.35 s; vis writes at most 100 s a frame."""

_SHORTEST_DELAY_MS = 10  # a delay of at most this plays as 100 ms in browsers (GIF animators write 0 meaning "fast")
_DEFAULT_DELAY_MS = 100
_CENTISECOND = Fraction(1, 100)
_LONGEST_DELAY_CS = 65535  # a GIF's delay field: 16 bits of hundredths
_SHORTEST_WRITTEN_CS = 100 // GIF_MAX_FPS  # browsers play a shorter delay at 100 ms
_FINEST_STEP_MS = 10  # the grid of a variable-delay animation: at most 100 fps


_ANIMATION_FORMATS = frozenset({"GIF", "PNG", "WEBP"})  # Pillow's names; a PNG with frames is an APNG


def is_animated(path: str | Path) -> bool:
    """Whether ``path`` is an animation: a GIF, APNG or WebP with more than one frame. False for anything Pillow
    cannot open, and for the other images Pillow finds frames in, which are pictures, not animations: a camera's
    JPEG holding a preview or an HDR gain map as a second picture (MPO), a TIFF with pages or a thumbnail."""
    from PIL import Image, UnidentifiedImageError

    try:
        with open_picture(path) as picture:
            return picture.format in _ANIMATION_FORMATS and bool(getattr(picture, "is_animated", False))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return False


def shown_delays(delays_ms: list[float]) -> list[float]:
    """The delays as browsers play them: one of at most 10 ms (0 often means "as fast as you can") is 100 ms."""
    return [d if d > _SHORTEST_DELAY_MS else _DEFAULT_DELAY_MS for d in delays_ms]


def frame_rate_of(delays_ms: list[float]) -> tuple[float, list[float] | None]:
    """(frames per second, each frame's start in seconds or None when the delays are all alike) of an animation.

    Delays within 10 ms of each other give their mean rate (30 fps as a GIF is 30, 30, 40 ms). Others (a frame held
    longer) give a grid each frame can start on at its own time: the delays' common step where they have one of at
    least 10 ms (100, 100, 500 ms: 10 fps), else the shortest delay (17, 17, 500 ms: 58.8 fps), so that no two
    frames fall on one place of it.
    """
    delays = shown_delays(delays_ms)
    if max(delays) - min(delays) <= _FINEST_STEP_MS:
        return 1000.0 * len(delays) / sum(delays), None
    whole = all(float(d).is_integer() for d in delays)  # APNG's delays are fractions (1/60 s)
    step = reduce(math.gcd, (int(d) for d in delays)) if whole else 0
    if step < _FINEST_STEP_MS:
        step = max(_FINEST_STEP_MS, min(delays))
    starts = np.concatenate([[0.0], np.cumsum(delays[:-1])]) / 1000.0
    return 1000.0 / step, [float(t) for t in starts]


class AnimatedImageSource(ClosedOnExit):
    """The frames of an animated image, with the interface of :class:`vis.engine._video.VideoSource`.

    Each frame is the picture a viewer shows at that moment (Pillow applies the disposal of the frames before) with
    transparency composited over white, as :func:`vis.engine.load_image` does for stills.

    Attributes:
        fps, width, height, variable_rate, frame_count, frames_read, truncated, raw: as VideoSource's.

    Raises:
        InputFileError: the file cannot be opened as an animated image.
    """

    live = False
    lost = ""
    animated = True  # an image format: no sound to copy
    start_time = 0.0  # read from its first frame (a section is for video files)
    pixel_aspect = None  # square pixels
    pixel_components = ()  # not known: Pillow decodes them
    damaged = ()  # stretches read past: none, Pillow stops at a broken frame
    held_to = start_damaged = None  # (see FileFrames) none: nothing is read past

    def __init__(self, path: str | Path):
        from PIL import Image, UnidentifiedImageError

        self.raw = False
        self.path = Path(path)
        try:
            self._picture = open_picture(self.path)
        except Image.DecompressionBombError:
            raise InputFileError(f"{self.path} is too large to read: vis decodes at most {MAX_PIXELS} pixels a "
                                 "frame") from None
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
        self._durations = [d / 1000.0 for d in shown_delays(delays)]
        self.variable_rate = self._starts is not None
        self.frames_read = 0
        self.truncated = False

    def _delays(self) -> tuple[list[float], bool]:
        """Each frame's delay in ms, and whether a frame after them failed to load (a cut or corrupt file)."""
        delays = []
        try:
            for index in range(getattr(self._picture, "n_frames", 1)):
                self._picture.seek(index)
                if "duration" not in self._picture.info:
                    self._picture.load()  # WebP gives a frame's delay once it is decoded; GIF and APNG on seeking
                delays.append(float(self._picture.info.get("duration") or 0))
        except (OSError, EOFError, ValueError, SyntaxError):
            return delays, True
        return delays, False

    def frame_time(self, index: int) -> float | None:
        """When frame ``index`` starts, in seconds, for a variable-delay animation; None when the rate is constant."""
        return self._starts[index] if self._starts is not None else None

    def frame_duration(self, index: int) -> float | None:
        """How long frame ``index`` shows, in seconds (the last frame's pause at the end of a loop included)."""
        return self._durations[index]

    def __iter__(self) -> Iterator[np.ndarray]:
        for index in range(self.frame_count):
            try:
                self._picture.seek(index)
                rgba = np.asarray(self._picture.convert("RGBA"))
            except (OSError, EOFError, ValueError, SyntaxError):
                self.truncated = True
                return
            rgb = as_rgb(rgba)  # over white, as stills are
            self.frames_read += 1
            if self.raw:  # uint8 BGR, as OpenCV decodes a video
                yield np.ascontiguousarray(to_uint8(rgb))
            else:
                yield np.ascontiguousarray(rgb)
        self.truncated = self._scan_failed

    def close(self) -> None:
        self._picture.close()


class GifWriter:
    """BGR uint8 frames -> an animated GIF that loops, each frame with its own 256-colour palette (Pillow's fast
    octree: 1.5 ms for 640x360, 4 levels of mean error). Written as it comes, like the video writers: the muxer
    finishes a frame when the next one arrives, so a killed run leaves a GIF of all frames but the last."""

    codec = "gif"

    def __init__(self, av: Any, path: Path, fps: Fraction, size: tuple[int, int]):
        if fps < GIF_MIN_FPS:
            raise VisError(f"cannot write {path} at {float(fps):g} fps: a GIF frame shows at most {1 / GIF_MIN_FPS:g} s")
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

    def write(self, bgr: np.ndarray, pts: int, length: int = 1) -> None:
        """Write the frame at ``pts``, shown ``length`` frames of the rate if it is the last, or count it in
        ``frames_dropped`` when it comes less than 20 ms after the frame before (see :data:`GIF_MAX_FPS`)."""
        from PIL import Image

        at_cs = round(pts * 100 / self._fps)
        if self._last_cs is not None and at_cs - self._last_cs < _SHORTEST_WRITTEN_CS:
            self.frames_dropped += 1
            return
        picture = Image.fromarray(np.ascontiguousarray(bgr[..., ::-1])).quantize(256, method=Image.Quantize.FASTOCTREE)
        palette = np.zeros((256, 4), np.uint8)
        rgb = np.frombuffer(bytes(picture.getpalette("RGB")), np.uint8).reshape(-1, 3)[:256]
        palette[: len(rgb), 0] = 255  # ARGB: opaque
        palette[: len(rgb), 1:] = rgb
        frame = self._av.VideoFrame.from_ndarray((np.asarray(picture, np.uint8), palette), format="pal8")
        frame.pts, frame.time_base = at_cs, _CENTISECOND
        # the muxer takes each frame's delay from the next frame's time, the last one's from its packet: at least
        # 20 ms, as the frames before it are, or a browser would hold the last frame of a 120 fps video for 100 ms
        delay_cs = max(_SHORTEST_WRITTEN_CS, min(_LONGEST_DELAY_CS, round(length * 100 / self._fps)))
        self._mux(self._stream.encode(frame), delay_cs)
        self._last_cs = at_cs

    def _mux(self, packets: list[Any], delay_cs: int = 1) -> None:
        for packet in packets:
            packet.duration = delay_cs
            self._container.mux(packet)

    def close(self) -> None:
        if self._last_cs is None:  # no frame: FFmpeg cannot finish a GIF without one, and the sink removes the file
            with contextlib.suppress(Exception):
                self._container.close()
            return
        try:
            self._mux(self._stream.encode())
        finally:
            self._container.close()
