"""Writing video: a sink that puts frames on disk as they come, kill-safe (fragmented MP4, Matroska, AVI,
animated GIF through PyAV; OpenCV's writer without it), and the rate a source's dreams are recorded at."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import cv2
import numpy as np

from vis.engine._audio import import_av
from vis.engine._images import check_output, even_size
from vis.engine._video import as_bgr_uint8
from vis.errors import OutputPathError, VisError

WRITTEN_VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".avi", ".mkv", ".gif")
"""The containers vis writes and tests; the others read fine but OpenCV's writer fails on them (.webm, .flv) or
changes the frame rate (.wmv). A .gif is written as an animated GIF; read, one is a video only when it has more than
one frame (see :func:`vis.engine._media_kinds.sniff_kind`)."""
RESUMABLE_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".avi")  # a stopped dream in these is gone on with (--resume)
RESUMABLE_NOTE = f"vis goes on with {', '.join(RESUMABLE_SUFFIXES[:-1])} and {RESUMABLE_SUFFIXES[-1]} files"


def check_video_suffix(path: str | Path) -> None:
    """Refuse an output suffix vis does not write video as.

    Raises:
        OutputPathError: the suffix is not one of :data:`WRITTEN_VIDEO_SUFFIXES`.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in WRITTEN_VIDEO_SUFFIXES:
        raise OutputPathError(f"cannot write a video as {suffix or 'a file without suffix'}: use "
                              f"{', '.join(WRITTEN_VIDEO_SUFFIXES[:-1])} or {WRITTEN_VIDEO_SUFFIXES[-1]}")


def recording_rate(source: Any) -> float:
    """The frame rate a video of ``source``'s dreams is written at: a file's own; for a live source a time base for
    the moments its dreams were made, 1/60 s or the camera's frame time when that is shorter (at most 1/240 s). What
    a camera claims (0, -1, 5 fps while it delivers 30) must not stretch the recording."""
    if not source.live:
        return source.fps
    return min(max(source.fps, 60.0), 240.0)


# suffix -> (codec, pixel format, muxer options) of the PyAV writer. Every kind of file can be read up to the last
# frame written even after SIGKILL: MP4/MOV as fragmented MP4 (an empty moov up front, then one moof+mdat fragment
# per frame), AVI and Matroska because their demuxers need no trailing index (Matroska holds a cluster in memory
# until it ends: a 1-byte size limit ends one per frame, when the next frame comes). flush_packets pushes each write
# to the OS at once, so a failed write (a full disk) raises at that frame; OpenCV's writer would drop it silently.
_FRAGMENTED_MP4 = {"movflags": "frag_every_frame+empty_moov+default_base_moof", "flush_packets": "1"}
_PYAV_FORMATS: dict[str, tuple[str, str, dict[str, str]]] = {
    ".mp4": ("libx264", "yuv420p", _FRAGMENTED_MP4),
    ".m4v": ("libx264", "yuv420p", _FRAGMENTED_MP4),
    ".mov": ("libx264", "yuv420p", _FRAGMENTED_MP4),
    ".avi": ("mjpeg", "yuvj420p", {"flush_packets": "1"}),
    ".mkv": ("libx264", "yuv420p", {"flush_packets": "1", "cluster_size_limit": "1"}),
}
# zerolatency: no lookahead, no B-frames, so every frame leaves the encoder as it goes in
_X264 = {"preset": "veryfast", "tune": "zerolatency", "crf": "20"}
_QSCALE = {"flags": "+qscale", "global_quality": str(3 * 118)}  # fixed quantiser 3 (118 = FF_QP2LAMBDA)


def _tag_bt601(context: Any) -> None:
    """Tag an encoder's output as BT.601 in limited range (FFmpeg's enum values: 6 is SMPTE 170M, 1 is MPEG)."""
    context.colorspace = context.color_primaries = context.color_trc = 6
    context.color_range = 1


class _PyAVWriter:
    """BGR uint8 frames -> PyAV encoder -> muxer; every frame is on disk (and readable) once the next one is written."""

    frames_dropped = 0  # every frame is written (the GIF writer may leave some out)

    def __init__(self, av: Any, path: Path, fps: Fraction, size: tuple[int, int], pixel_aspect: Fraction | None = None,
                 comment: str | None = None):
        codec, pix_fmt, muxer_options = _PYAV_FORMATS[path.suffix.lower()]
        if codec == "libx264" and codec not in av.codecs_available:
            codec = "mpeg4"  # PyAV builds without x264 (the wheels have it)
        self._av = av
        self._container = av.open(str(path), "w", options=muxer_options)
        try:
            if comment is not None:  # in the header, so that a killed run's file has it too
                self._container.metadata["comment"] = comment
            self._stream = self._container.add_stream(codec, rate=fps, options=_X264 if codec == "libx264" else _QSCALE)
            self._stream.width, self._stream.height = size
            self._stream.pix_fmt = pix_fmt
            if pixel_aspect is not None:
                self._stream.codec_context.sample_aspect_ratio = pixel_aspect
            # a keyframe a second keeps seeking cheap; kill-safety does not need it (fragments are per frame)
            self._stream.codec_context.gop_size = max(1, round(fps))
            if pix_fmt == "yuv420p":  # say how the colours were made: FFmpeg converts RGB with BT.601, and a player
                _tag_bt601(self._stream.codec_context)  # takes an untagged HD video for BT.709 (reds shift)
            self._container.start_encoding()  # opens the encoder and writes the header now: errors surface here
        except Exception:
            self._container.close()
            raise
        self.codec = codec

    def copy_from(self, path: Path, frames: int) -> int:
        """Put the first ``frames`` frames of ``path`` (a stopped dream's file) first, copied as they are; returns
        how many."""
        from vis.engine._resume import copy_frames

        return copy_frames(path, self._container, self._stream, frames)

    def write(self, bgr: np.ndarray, pts: int, length: int = 1) -> None:
        """``pts`` in frames of the stream's rate; a gap holds the frame before (MP4 keeps the times as they are,
        the AVI muxer fills the gap with empty chunks that repeat it). ``length``: frames it shows if it is the last
        (the others show until the next)."""
        frame = self._av.VideoFrame.from_ndarray(bgr, format="bgr24")
        frame.pts = pts
        self._mux(self._stream.encode(frame), length)  # zerolatency: this frame's packet comes out now

    def _mux(self, packets: list[Any], length: int = 1) -> None:
        for packet in packets:
            packet.duration = length  # spares the muxer guessing the last frame's
            self._container.mux(packet)

    def close(self) -> None:
        try:
            self._mux(self._stream.encode())  # flush the encoder (empty with zerolatency, but cheap to ask)
        finally:
            self._container.close()


class _OpenCVWriter:
    """The fallback without PyAV: a crash loses the file's index, so it is not kill-safe, and OpenCV reports no
    failed write."""

    frames_dropped = 0

    def __init__(self, path: Path, fps: float, size: tuple[int, int]):
        avi = path.suffix.lower() == ".avi"
        self._writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*("MJPG" if avi else "mp4v")), fps, size)
        if not self._writer.isOpened():
            self._writer.release()
            raise OutputPathError(f"cannot open a video writer for {path}")
        self.codec = "mjpeg" if avi else "mp4v"
        self._last: np.ndarray | None = None
        self._pts = -1

    def write(self, bgr: np.ndarray, pts: int, length: int = 1) -> None:
        """A constant frame rate only: a gap in ``pts`` is filled by repeating the frame before; ``length`` (how
        long a last frame shows) is not kept."""
        for _ in range(pts - self._pts - 1):
            self._writer.write(self._last)
        self._writer.write(bgr)
        self._last, self._pts = bgr, pts

    def close(self) -> None:
        self._writer.release()


class VideoSink:
    """Writes frames to a video file as they come; closed on exit, even on error.

    With PyAV (a core dependency) .mp4/.m4v/.mov are H.264 in fragmented MP4, .mkv H.264 in Matroska, .avi MJPEG and
    .gif an animated GIF, written so that a run killed outright (SIGKILL, the OOM killer) leaves a playable file: all
    frames but at most the last one written (the MP4, Matroska and GIF muxers finish a frame when the next one
    arrives; AVI keeps all), and a write that fails (a full disk) raises its OSError. Without PyAV, OpenCV writes mp4v
    (MJPG for .avi) and no GIF; such a file needs :meth:`close` to be readable.

    Args:
        path: output file; the container follows the suffix.
        fps: frames per second (kept exactly for rates like 30000/1001).
        size: (width, height) of the frames; other sizes are resized to it. Odd sides lose their last row or column
            (4:2:0 video needs even sizes; OpenCV's writer crops them the same way), except in a GIF.
        overwrite: replace an existing file.
        pixel_aspect: a pixel's width over its height, for frames meant to be shown wider or narrower than their pixel
            count (a DV or anamorphic input's); None: square. A GIF, and OpenCV's writer, keep square pixels.
        resume: what the file at ``path`` holds, a stopped dream's (:class:`vis.engine._resume.StoppedDream`): go on
            with it, its frames first (copied, not re-encoded) and the frames written after them (``at`` times
            counted from its start). None: a new file.
        record: what the video is a dream of (:func:`vis.engine._resume.dream_record`), kept in its comment (MP4,
            MOV, AVI and Matroska); with ``resume``, the file must hold the same (else :class:`VisError`).

    Attributes:
        size: (width, height) actually written (even, but for a GIF).
        kill_safe: whether the file stays readable if the process dies without :meth:`close`.
        frames_written: frames written (a frame held over a gap counts once).
        frames_before: with ``resume``, the frames the file held already.
        frames_held: the frames the file holds, those before included.
        frames_dropped: frames left out: in a GIF, those less than 20 ms after the one before (see ``GIF_MAX_FPS``).
        codec: the encoder in use.

    A file that exists (``overwrite``) is replaced when the first frame is written, not before.

    Raises:
        OutputExistsError: the file exists and ``overwrite`` is false.
        OutputPathError: a suffix vis writes no video as, a path that cannot be written, a writer that cannot be
            opened (a file it left behind is removed), or frames too small to encode.
        VisError: ``fps`` not a positive number.
    """

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int], overwrite: bool = False,
                 pixel_aspect: Fraction | None = None, resume: Any = None, record: str | None = None):
        check_video_suffix(path)
        self.path = Path(path) if resume is not None else check_output(path, overwrite)
        suffix = self.path.suffix.lower()
        if not (math.isfinite(fps) and fps > 0):
            raise VisError(f"cannot write {self.path} at {fps} fps: the frame rate must be a positive number")
        self.fps = float(fps)
        self._requested = (int(size[0]), int(size[1]))
        self.size = written_size(self.path, self._requested)
        if min(self.size) < 2:
            raise OutputPathError(f"cannot write {self.path}: frames of {self._requested[0]}x{self._requested[1]} are too small")
        av = import_av() if suffix in _PYAV_FORMATS or suffix == ".gif" else None
        if suffix == ".gif" and av is None:
            raise OutputPathError(f"cannot write {self.path}: an animated GIF is written by PyAV (pip install av)")
        self.kill_safe = av is not None
        self._av = av
        self._pixel_aspect = pixel_aspect
        self._record = record
        self.frames_written = 0
        self.frames_before = 0  # a resumed dream's frames, there before this sink's
        self._next_pts = 0
        self._last: np.ndarray | None = None  # the last frame written, as written (see hold_last)
        self._closed = False
        # a file being replaced is opened (emptied) with the first frame, so that a run stopped before it (Ctrl-C
        # in the first dream, a camera that fails) keeps the old one; a new file is opened now, failing early
        self._writer: Any = None  # _PyAVWriter, _OpenCVWriter or GifWriter
        if resume is not None:
            self._resume(resume)
        elif not self.path.exists():
            self._open()

    def _open(self) -> None:
        existed = self.path.exists()
        try:
            if self.path.suffix.lower() == ".gif":
                from vis.engine._animated import GifWriter

                self._writer = GifWriter(self._av, self.path, _frame_rate(self.fps), self.size)
            elif self._av is not None:
                # 29.97 arrives as the float 29.97002997...: back to 30000/1001 so timestamps do not drift
                self._writer = _PyAVWriter(self._av, self.path, _frame_rate(self.fps), self.size, self._pixel_aspect,
                                           self._record)
            else:
                self._writer = _OpenCVWriter(self.path, self.fps, self.size)
        except Exception as e:  # noqa: BLE001 - PyAV raises its own FFmpegError family and ValueError
            if not existed:  # the failed open may have left an empty file, which the next run would call existing
                self.path.unlink(missing_ok=True)
            if isinstance(e, VisError):
                raise
            raise OutputPathError(f"cannot open a video writer for {self.path}: {e}") from e

    def _resume(self, stopped: Any) -> None:
        """Open the writer on a new file that starts with the frames ``path`` holds (``stopped``: what they are),
        and put it in ``path``'s place at once: from then on, a run stopped again leaves all frames so far there."""
        import os

        if self._av is None or self.path.suffix.lower() not in RESUMABLE_SUFFIXES:
            raise OutputPathError(f"cannot go on with {self.path}: {RESUMABLE_NOTE}, written with PyAV"
                                  + ("" if self._av is not None else " (pip install av)"))
        if stopped.size != self.size:
            raise OutputPathError(f"cannot go on with {self.path}: its frames are {stopped.size[0]}x{stopped.size[1]}, "
                                  f"this dream's {self.size[0]}x{self.size[1]} (a dream of another video?)")
        if self._record is not None:
            from vis.engine._resume import check_same_dream

            check_same_dream(self.path, stopped, self._record)
        rate = _frame_rate(self.fps)
        if stopped.rate is not None and abs(float(stopped.rate) / float(rate) - 1) > 1e-3:
            raise OutputPathError(f"cannot go on with {self.path}: its frames run at {float(stopped.rate):g} fps, "
                                  f"this dream's at {float(rate):g} fps (a dream of another video?)")
        partial = self.path.with_name(f".{self.path.name}.resumed{self.path.suffix}")
        writer = None
        try:
            writer = _PyAVWriter(self._av, partial, rate, self.size, self._pixel_aspect, self._record)
            try:
                self.frames_before = writer.copy_from(self.path, stopped.frames)
            except VisError:
                raise
            except Exception as e:  # noqa: BLE001 - PyAV's FFmpegError family: a muxer that refuses the old packets
                raise OutputPathError(f"cannot go on with {self.path}: its frames cannot be copied as they are "
                                      f"({e}); dream into a new file, or --overwrite to start again") from None
            os.replace(partial, self.path)  # the writer goes on writing into it under its new name
        except BaseException:
            if writer is not None:
                writer.close()
            partial.unlink(missing_ok=True)
            raise
        self._writer = writer
        self._next_pts = round(float(stopped.end) * self.fps)

    @property
    def codec(self) -> str | None:
        """The encoder in use (None while a file being replaced waits for its first frame)."""
        return None if self._writer is None else self._writer.codec

    def write(self, frame: np.ndarray, at: float | None = None, duration: float | None = None) -> None:
        """Append one HxWx3 frame: RGB float in [0, 1], or uint8 BGR as OpenCV and the device loop give them.

        ``at``: the frame's time in seconds from the video's start, for live sources whose dreams come slower than
        the camera's rate and for variable frame rates: the frame before shows until then, so the video plays at the
        pace it was made. Times are rounded to the sink's frame rate and never go back. Default: when the frame
        before ends. ``duration``: how long the frame shows, in seconds (an animation's pause at the end of its
        loop; the last frame keeps it in MP4, Matroska and GIF). Default: one frame.
        """
        if self._writer is None:
            self._open()
        img = as_bgr_uint8(frame)
        if (img.shape[1], img.shape[0]) != self._requested:
            img = cv2.resize(img, self._requested, interpolation=cv2.INTER_AREA)
        pts = self._next_pts if at is None else max(self._next_pts, round(at * self.fps))
        length = 1 if duration is None else max(1, round(duration * self.fps))
        dropped = self._writer.frames_dropped
        self._last = np.ascontiguousarray(img[: self.size[1], : self.size[0]])
        self._writer.write(self._last, pts, length)
        self._next_pts = pts + (length if at is None else 1)  # a timed frame's own time rules, not the rounding
        self.frames_written += self._writer.frames_dropped == dropped

    def hold_last(self, until: float) -> None:
        """Show the last frame written until ``until`` seconds from the video's start (the input's frames up to there
        could not be decoded): it is written again where it ends, and not counted in ``frames_written``."""
        pts = round(until * self.fps) - 1
        if self._last is not None and pts >= self._next_pts:
            self._writer.write(self._last, pts, 1)
            self._next_pts = pts + 1

    @property
    def frames_held(self) -> int:
        return self.frames_before + self.frames_written

    @property
    def frames_dropped(self) -> int:
        return 0 if self._writer is None else self._writer.frames_dropped

    def close(self) -> None:
        """Finish the file; a file that got no frame is removed (it would not play, and would block a rerun), and
        a file that was to be replaced but got no frame is left as it was."""
        if self._closed:
            return
        self._closed = True
        if self._writer is None:  # never opened: a file it was to replace is as it was
            return
        try:
            self._writer.close()  # may fail too (a full disk has no room for the trailer)
        finally:
            if not self.frames_held:
                self.path.unlink(missing_ok=True)

    def __enter__(self) -> "VideoSink":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def written_size(path: str | Path, size: tuple[int, int]) -> tuple[int, int]:
    """The (width, height) a :class:`VideoSink` at ``path`` writes frames of ``size`` at: less an odd last row or
    column (4:2:0 video needs even sides), but whole in a GIF."""
    return tuple(size) if Path(path).suffix.lower() == ".gif" else even_size(size)


def _frame_rate(fps: float) -> Fraction:
    """The exact rate a float stands for: 29.97002997 -> 30000/1001, 12.5 -> 25/2 (1001 is NTSC's denominator)."""
    rate = Fraction(fps).limit_denominator(1001)
    return rate if rate > 0 else Fraction(fps).limit_denominator()
