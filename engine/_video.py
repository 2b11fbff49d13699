"""Video IO: file and webcam sources, a sink that writes frames as they come, what kind a path is.

Frames are HxWx3 float32 RGB in [0, 1] on the vis side; OpenCV's BGR uint8 stays inside the video modules (this one and the display's).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

import cv2
import numpy as np

from vis.engine._audio import import_av
from vis.engine._cameras import shown_camera
from vis.engine._closing import ClosedOnExit
from vis.engine._images import IMAGE_SUFFIXES, check_output, even_size, opencv_errors_only, opencv_name, to_uint8
from vis.errors import InputFileError, OutputPathError, VisError

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".gif"})
WRITTEN_VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".avi", ".mkv", ".gif")
"""The containers vis writes and tests; the others read fine but OpenCV's writer fails on them (.webm, .flv) or
changes the frame rate (.wmv). A .gif is written as an animated GIF; read, one is a video only when it has more than
one frame (see :func:`sniff_kind`)."""


class VideoSourceError(InputFileError):
    """A video file or webcam that cannot be opened or read."""


class SectionReadError(VideoSourceError):
    """A section of a video has no frame after the point asked for: a stopped dream of it was finished."""


class UndecodedVideoError(VideoSourceError):
    """A video whose stream holds pictures in a codec OpenCV's FFmpeg has no decoder for (``codec``: "AV1")."""

    def __init__(self, message: str, codec: str):
        super().__init__(message)
        self.codec = codec


def as_bgr_uint8(frame: np.ndarray) -> np.ndarray:
    """A frame for OpenCV: uint8 BGR frames pass through, float RGB ones in [0, 1] are converted."""
    return frame if frame.dtype == np.uint8 else to_uint8(frame)


def from_bgr(frame: np.ndarray) -> np.ndarray:
    """uint8 BGR as OpenCV decodes it -> float32 RGB in [0, 1]."""
    return np.ascontiguousarray(frame[..., ::-1], dtype=np.float32) * np.float32(1.0 / 255.0)


class FileFrames(ClosedOnExit):
    """The frames of a video file, whichever decoder reads them: their times, the rate's kind, the iteration and
    the check that the file was whole. A subclass opens the file, decodes its first frame into ``_first`` (its time
    into ``_times``) and sets ``path``, ``fps``, ``frame_count``, ``_variable`` (the container says the rate varies)
    and ``_uncounted`` (announced frames that never were); :meth:`_decode_next` gives each further frame."""

    live = False  # frames come at the file's pace, not the clock's (see WebcamSource)
    lost = ""  # a file is not lost as a camera is (see WebcamSource)
    animated = False  # a video file, which may have sound (an animated image's source says True)
    start_time = 0.0  # seconds from the file's first frame to the first one read (see seek)
    _skipped = 0  # frames before that one, about (the checks for a cut file count them)
    _whole_count: int | None = None  # the file's announced count, where frame_count is a section's
    duration_asked: float | None = None  # seconds after the first frame read where the section ends (seek)
    reached_end = False  # the file's frames ran out (not a section's end, nor a reader that stopped)
    _zero: float | None = None  # the section's start on the file's clock, which frame times count from (seek)
    frame_before: np.ndarray | None = None  # the frame before the first read, after seek(after=) (uint8 BGR)

    def _decode_next(self) -> np.ndarray | None:
        """The next frame, uint8 BGR, its time appended to ``_times``; None at the end of the frames."""
        raise NotImplementedError

    def _jump(self, seconds: float) -> bool:
        """Move the decoder near ``seconds`` on the file's clock, at or before it where the index is right, so that
        decoding goes on from there (``_times`` emptied first); False where it cannot."""
        return False

    def seek(self, start: float, duration: float | None = None, after: float | None = None) -> None:
        """Read the section of the video ``start`` seconds after its first frame, ``duration`` seconds long (to the
        end when None): from the first frame at or after ``start``. ``after``: seconds into the section; reading
        begins with the first frame later than that (where a stopped dream goes on), times still counted from the
        section's start. Call it once, before iterating.

        Raises:
            VideoSourceError: no frame starts ``start`` seconds in or later (the video ends before).
            SectionReadError: with ``after``, the section has no frame after it.
        """
        origin = self._times[0]
        frame, _ = self._advance(self._first, origin, origin + start - _SAME_TIME)
        if frame is None:
            raise VideoSourceError(f"{self.path} has no frame {start:g} s in: its last one starts at "
                                   f"{self._times[-1] - origin:.2f} s")
        zero = self._times[-1]
        if after is not None:
            frame, self.frame_before = self._advance(frame, origin, zero + after + _SAME_TIME, keep_before=True)
            if frame is None or (duration is not None and self._times[-1] - zero >= duration - _SAME_TIME):
                raise SectionReadError(f"{self.path}'s section has no frame after {after:.2f} s")
        self._first, self._times, self._zero = frame, [self._times[-1]], zero
        self.start_time = zero - origin
        self._skipped = round((self._times[0] - origin) * self.fps)
        self._whole_count, self.duration_asked = self.frame_count, duration
        if self.frame_count:  # what the progress line counts: the section's frames still to read
            left = max(1, self.frame_count - self._skipped)
            if duration is not None:
                done = round((self._times[0] - zero) * self.fps)
                left = min(left, max(1, math.ceil(duration * self.fps - 1e-6) - done))
            self.frame_count = left

    def _advance(self, frame: np.ndarray | None, origin: float, target: float,
                 keep_before: bool = False) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The first frame at or after ``target`` (seconds on the file's clock), ``frame`` being the one decoded
        last: sought through the index where it lies far ahead (read from ``origin``, the first frame, where the
        index is off), decoded up to where near; None where the frames end before. With it, the frame decoded just
        before it (``keep_before``; None where the decoder landed on it)."""
        if target - self._times[-1] > _JUMP_FROM and self._jump(max(origin, target - _JUMP_MARGIN)):
            frame = self._decode_next()
            if frame is None or self._times[-1] > target:  # an index that is off: from the top, frame by frame
                if (not self._jump(origin) or (frame := self._decode_next()) is None
                        or abs(self._times[-1] - origin) > _SAME_TIME):
                    raise VideoSourceError(f"cannot seek in {self.path}: its frames are not where its index says")
        before = None
        while frame is not None and self._times[-1] < target:
            before, frame = frame if keep_before else None, self._decode_next()
        return frame, before

    @property
    def variable_rate(self) -> bool:
        """The container says the frames come at their own times, or a frame read so far came more than half a
        frame away from its place at the constant rate."""
        return self._variable or any(abs(t - self._times[0] - i / self.fps) > 0.5 / self.fps
                                     for i, t in enumerate(self._times))

    def frame_time(self, index: int) -> float | None:
        """When frame ``index`` (already read) starts, in seconds from the first (from the section's start after a
        :meth:`seek`). A constant rate's frames come every 1/``fps`` s; a variable one's (a screen recording that
        pauses) at their own times."""
        return self._times[index] - self._section_zero()

    def _section_zero(self) -> float:
        return self._times[0] if self._zero is None else self._zero

    def frame_duration(self, index: int) -> float | None:
        """None: each frame shows until the next (the last for 1/``fps`` s)."""
        return None

    def __iter__(self) -> Iterator[np.ndarray]:
        while True:
            if self._first is not None:
                frame, self._first = self._first, None
            else:
                frame = self._decode_next()
                if frame is None:
                    self.reached_end = True
                    self.truncated = self.truncated or self._ended_early()
                    return
                asked = self.duration_asked
                if asked is not None and self._times[-1] - self._section_zero() >= asked - _SAME_TIME:
                    return  # the section's end
            self.frames_read += 1
            yield frame if self.raw else from_bgr(frame)

    def _ended_early(self) -> bool:
        """Whether the frames stopped short of what the container announces. A variable rate's count from OpenCV
        is its duration times the rate, so there the last frame's time is compared with that duration instead."""
        announced = self.frame_count if self._whole_count is None else self._whole_count
        if not announced:
            return False
        expected, frames_decoded = announced - self._uncounted, self._skipped + self.frames_read
        if self.variable_rate:
            short = self.start_time + self._times[-1] - self._section_zero() < (expected - 2) / self.fps
        else:
            short = frames_decoded < expected - 1
        return short and not _whole(self.path, frames_decoded, self.fps)

    def section(self) -> tuple[float, float] | None:
        """Where the frames read lie in the file, (start, end) in seconds from its first frame, after a
        :meth:`seek`; None before one."""
        if self._zero is None:
            return None
        read = max(self.frames_read, 1)
        return self.start_time, self.start_time + self._times[read - 1] - self._section_zero() + 1.0 / self.fps


_SAME_TIME = 1e-3  # seconds: a frame this close to a section's start or end is at it (clocks round to milliseconds)
_JUMP_FROM = 5.0  # seconds: a section starting later is sought through the index, not decoded up to
_JUMP_MARGIN = 2.0  # seconds before the section's start that a jump aims for, so that it lands before it


class VideoSource(FileFrames):
    """Frames of a video file decoded by OpenCV, as a context manager and an iterator.

    Attributes:
        fps, width, height: the stream's; for a variable frame rate (a screen recording, a phone in low light) the
            nominal rate, each frame keeping its own time (see :meth:`frame_time`).
        frame_count: frames the container announces (0 when unknown).
        frames_read: frames delivered so far.
        truncated: the stream ended before ``frame_count`` (a corrupt or cut file).
        pixel_aspect: a pixel's width over its height where the container says they are not square (DV's 8:9);
            None for square pixels or without PyAV.

    Raises:
        VideoSourceError: missing file, not a video, or no frame at all.
    """

    def __init__(self, path: str | Path):
        self.raw = False  # True: yield frames as decoded (uint8 BGR) for loops that convert on the device
        self.path = Path(path)
        if not self.path.exists():
            raise VideoSourceError(f"video not found: {self.path}")
        if self.path.is_dir():
            raise VideoSourceError(f"expected a video file, got a folder: {self.path}")
        self._name = contextlib.ExitStack()  # holds a plain-named link while the file is read, where one is needed
        self._cap = cv2.VideoCapture(self._name.enter_context(opencv_name(self.path)))
        if not self._cap.isOpened():
            self.close()
            raise VideoSourceError(f"not a readable video: {self.path}")
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS)) or 25.0
        self.frame_count = max(0, int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT)))
        ok, first = self._cap.read()
        if not ok or first is None:
            self.close()
            codec = _undecoded_codec(self.path)
            if codec:
                raise UndecodedVideoError(f"cannot decode {self.path}: its video is {codec}, which OpenCV's FFmpeg "
                                          f"does not decode here; {_CONVERT}", codec)
            raise VideoSourceError(f"video has no frames: {self.path}")
        self._first: np.ndarray | None = first
        self.height, self.width = first.shape[:2]
        self.frames_read = 0
        self.truncated = False
        self._times = [self._position()]  # each frame's time as decoded: a constant rate's fall on its grid
        container = _probe(self.path)
        self._variable = container.nominal_rate is not None
        self.pixel_aspect = container.pixel_aspect  # written back, so that a player shows the frames as wide
        if container.nominal_rate is not None:
            # OpenCV's rate is the average (or the millisecond clock's 1000) and its count the duration times it
            self.fps, self.frame_count = container.nominal_rate, container.frames
        # without a count in the container OpenCV's is duration x rate, and an FLV's duration includes the delay
        # before its first frame (B-frames): those frames were never there, so their lack is no sign of a cut
        self._uncounted = 0 if container.frames else round(container.lead * self.fps)

    def _position(self) -> float:
        return float(self._cap.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0

    def _decode_next(self) -> np.ndarray | None:
        try:
            ok, frame = self._cap.read()
        except cv2.error:
            return None
        if not ok or frame is None:
            return None
        # a frame without a time of its own (OpenCV gives 0 for MPEG-PS's last one) comes a frame after
        after = self._times[-1] + 1.0 / self.fps if self._times else 0.0
        self._times.append(max(self._position(), after))
        return frame

    def _jump(self, seconds: float) -> bool:
        if not self._cap.set(cv2.CAP_PROP_POS_MSEC, seconds * 1000.0):
            return False
        self._times = []
        return True

    def close(self) -> None:
        self._cap.release()
        self._name.close()


def _whole(path: Path, frames_read: int, fps: float) -> bool:
    """Whether a video that gave fewer frames than announced is whole all the same: its packets reach the end the
    container announces (a cut file's stop short of it) and the video's own packets were all decoded. The count was
    then too high: Matroska's is its duration times the rate, and the duration covers sound that runs on after the
    pictures; a clip trimmed without re-encoding counts the frames before the cut, which it marks to be discarded.
    False without PyAV, or where it cannot read the file."""
    av = import_av()
    if av is None:
        return False
    try:
        with av.open(str(path)) as container:
            if not container.duration:
                return False
            start, length = (container.start_time or 0) / 1e6, container.duration / 1e6
            video = container.streams.video[0]
            announced = int(video.frames or 0)  # an AVI's header count, where FFmpeg takes a cut file's duration
            end, shown, packets = start, 0, 0  # from the packets that are left
            for packet in container.demux():
                if packet.size == 0 or packet.pts is None:
                    continue
                end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
                if packet.stream is video:
                    packets += 1
                    shown += not packet.is_discard
    except Exception:  # noqa: BLE001 - PyAV's FFmpegError family: a file it cannot read through is no whole one
        return False
    reaches_end = end - start >= length - max(2.0 / fps, 0.1)
    return reaches_end and packets >= announced - 1 and frames_read >= shown - 1


_CONVERT = "convert it first (ffmpeg -i IN -c:v libx264 OUT.mp4)"


def coding_format(context: Any) -> str:
    """The coding format of a PyAV codec context, whichever codec reads or writes it: ``av1`` where the decoder is
    libdav1d, ``h264`` for libx264's."""
    codec = context.codec
    return getattr(codec, "canonical_name", None) or codec.name


def _undecoded_codec(path: Path) -> str | None:
    """The codec's name (AV1, ...) of a video whose stream holds packets OpenCV could not decode a frame of; None
    where it holds none (a video with no frames), or without PyAV."""
    av = import_av()
    if av is None:
        return None
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            name = coding_format(stream.codec_context)
            has_packets = any(packet.size for packet in itertools.islice(container.demux(stream), 8))
    except Exception:  # noqa: BLE001 - PyAV's FFmpegError family, IndexError: nothing more to say
        return None
    return name.upper() if has_packets else None


class _Container(NamedTuple):
    """What PyAV reads from a video's container that OpenCV does not report."""

    nominal_rate: float | None  # the nominal frame rate of a variable-rate video; None for a constant rate
    frames: int  # the frames the container announces (0: it keeps no count, and OpenCV's is duration x rate)
    lead: float  # seconds before the first frame (B-frames' delay), which an FLV's duration counts
    pixel_aspect: Fraction | None = None  # a pixel's width over its height where not square (DV, anamorphic DVD)


def _probe(path: Path) -> _Container:
    """The container's facts (:class:`_Container`). A variable rate is one whose average differs from the nominal
    by more than 0.5% (a screen recording that pauses, a phone that slows down in low light). Nothing is known
    without PyAV or where it cannot read the file: a constant rate, no count, no lead."""
    av = import_av()
    unknown = _Container(None, 0, 0.0)
    if av is None:
        return unknown
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            nominal, average, frames = stream.guessed_rate, stream.average_rate, max(0, int(stream.frames or 0))
            lead = max(0.0, (container.start_time or 0) / 1e6)  # in AV_TIME_BASE units
            aspect = stream.sample_aspect_ratio  # None or 0 where unknown
    except Exception:  # noqa: BLE001 - PyAV's FFmpegError family, IndexError: OpenCV's reading stands
        return unknown
    pixel_aspect = Fraction(aspect) if aspect and aspect != 1 else None
    if not nominal or not average or abs(float(average) / float(nominal) - 1.0) <= 0.005:
        return _Container(None, frames, lead, pixel_aspect)
    # a container that counts in milliseconds may call its rate 1000: the frames' times need no finer grid than this
    return _Container(min(float(nominal), _FINEST_VARIABLE_RATE), frames, lead, pixel_aspect)


_FINEST_VARIABLE_RATE = 120.0


def has_a_frame(path: str | Path) -> bool | None:
    """Whether the video file ``path`` shows at least one frame (a cheap check: one frame is decoded); None without
    PyAV. A write that failed on a full disk can leave a header and half a frame, which no player opens."""
    av = import_av()
    if av is None:
        return None
    try:
        container = av.open(str(path))
    except Exception:  # noqa: BLE001 - PyAV's FFmpegError family: a file that does not open shows no frame
        return False
    try:
        return next(container.decode(video=0), None) is not None
    except Exception:  # noqa: BLE001 - as above: a first frame cut short
        return False
    finally:
        container.close()


def recording_rate(source: Any) -> float:
    """The frame rate a video of ``source``'s dreams is written at: a file's own; for a live source a time base for
    the moments its dreams were made, 1/60 s or the camera's frame time when that is shorter (at most 1/240 s). What
    a camera claims (0, -1, 5 fps while it delivers 30) must not stretch the recording."""
    if not source.live:
        return source.fps
    return min(max(source.fps, 60.0), 240.0)


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

    def __init__(self, av: Any, path: Path, fps: Fraction, size: tuple[int, int], pixel_aspect: Fraction | None = None):
        codec, pix_fmt, muxer_options = _PYAV_FORMATS[path.suffix.lower()]
        if codec == "libx264" and codec not in av.codecs_available:
            codec = "mpeg4"  # PyAV builds without x264 (the wheels have it)
        self._av = av
        self._container = av.open(str(path), "w", options=muxer_options)
        try:
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

    def copy_from(self, path: Path) -> int:
        """Put the frames of ``path`` (a stopped dream's file) first, copied as they are; returns how many."""
        from vis.engine._resume import copy_frames

        return copy_frames(path, self._container, self._stream)

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
                 pixel_aspect: Fraction | None = None, resume: Any = None):
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
        self.frames_written = 0
        self.frames_before = 0  # a resumed dream's frames, there before this sink's
        self._next_pts = 0
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
                self._writer = _PyAVWriter(self._av, self.path, _frame_rate(self.fps), self.size, self._pixel_aspect)
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

        if self._av is None or self.path.suffix.lower() == ".gif":
            raise OutputPathError(f"cannot go on with {self.path}: vis goes on with .mp4, .mov, .m4v, .mkv and .avi "
                                  "files, written with PyAV" + ("" if self._av is not None else " (pip install av)"))
        if stopped.size != self.size:
            raise OutputPathError(f"cannot go on with {self.path}: its frames are {stopped.size[0]}x{stopped.size[1]}, "
                                  f"this dream's {self.size[0]}x{self.size[1]} (a dream of another video?)")
        partial = self.path.with_name(f".{self.path.name}.resumed{self.path.suffix}")
        writer = None
        try:
            writer = _PyAVWriter(self._av, partial, _frame_rate(self.fps), self.size, self._pixel_aspect)
            self.frames_before = writer.copy_from(self.path)
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
        self._writer.write(np.ascontiguousarray(img[: self.size[1], : self.size[0]]), pts, length)
        self._next_pts = pts + (length if at is None else 1)  # a timed frame's own time rules, not the rounding
        self.frames_written += self._writer.frames_dropped == dropped

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


def is_video_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def check_video_suffix(path: str | Path) -> None:
    """Refuse an output suffix vis does not write video as.

    Raises:
        OutputPathError: the suffix is not one of :data:`WRITTEN_VIDEO_SUFFIXES`.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in WRITTEN_VIDEO_SUFFIXES:
        raise OutputPathError(f"cannot write a video as {suffix or 'a file without suffix'}: use "
                              f"{', '.join(WRITTEN_VIDEO_SUFFIXES[:-1])} or {WRITTEN_VIDEO_SUFFIXES[-1]}")


def is_image_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


_UNREAD_STILL_SUFFIXES = frozenset({".heic", ".heif"})
_SOUND_SUFFIXES = frozenset({".mp3", ".m4a", ".aac", ".wav", ".flac", ".ogg", ".oga", ".opus", ".wma"})


def sniff_kind(path: str | Path) -> str:
    """``"image"`` or ``"video"`` by trying to decode the file (the suffix only breaks ties). An animated image (GIF,
    APNG, WebP with more than one frame) is a video; open it with :func:`open_video`.

    Raises:
        InputFileError: missing file, a folder, or neither an image nor a video.
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"input not found: {path}")
    if path.is_dir():
        raise InputFileError(f"expected an image or video file, got a folder: {path}")
    if path.stat().st_size == 0:
        raise InputFileError(f"input is empty (0 bytes): {path}")
    # by content: an image named .mp4 is an image. haveImageReader reads only the file's signature, so a large
    # video is not read whole for the test.
    signed = _has_image_signature(path)
    if not is_video_path(path) or signed:
        from vis.engine._animated import is_animated

        if is_animated(path):  # Pillow reads it frame by frame, even cut short after its first frame
            return "video"
        data = np.fromfile(str(path), dtype=np.uint8)
        with opencv_errors_only(silent=True):  # a cut GIF or WebP: vis says so itself
            if cv2.imdecode(data, cv2.IMREAD_UNCHANGED) is not None:
                return "image"
        if signed:  # an image format that does not decode: FFmpeg may still show a torn frame
            raise InputFileError(f"not a readable image (cut short or corrupt?): {path}")
        suffix = path.suffix.lower()
        if suffix in _UNREAD_STILL_SUFFIXES:  # FFmpeg opens them: a still would be dreamed as a one-frame video
            raise InputFileError(f"vis cannot read {suffix[1:].upper()} images (OpenCV has no decoder for them): "
                                 f"convert {path.name} to JPEG or PNG first")
        if suffix in _SOUND_SUFFIXES:  # FFmpeg shows a song's cover picture as a video stream of one frame
            raise InputFileError(f"{path} is a sound file: vis dreams images and videos")
    with opencv_name(path) as name:
        cap = cv2.VideoCapture(name)
        try:
            # a video suffix that opens is a video (VideoSource reports one without frames); other names must decode
            if cap.isOpened() and (is_video_path(path) or cap.read()[0]):
                return "video"
        finally:
            cap.release()
    raise InputFileError(f"not an image or video that can be read: {path}")


def open_video(path: str | Path) -> Any:
    """The frame source for a file :func:`sniff_kind` calls a video: an animated image's (through Pillow, which
    reads animated WebP and each frame's delay), else a :class:`VideoSource`, or PyAV's decoder for a codec OpenCV
    has none for (:class:`vis.engine._pyav_source.PyAVVideoSource`)."""
    from vis.engine._animated import AnimatedImageSource, is_animated
    from vis.engine._pyav_source import PyAVVideoSource, decodes_first_frame

    if is_animated(path):
        return AnimatedImageSource(path)
    try:
        return VideoSource(path)
    except UndecodedVideoError as e:
        if not decodes_first_frame(path):
            raise UndecodedVideoError(f"cannot decode {path}: its video is {e.codec}, which neither OpenCV's nor "
                                      f"PyAV's FFmpeg decodes here; {_CONVERT}", e.codec) from None
        return PyAVVideoSource(path)


def _has_image_signature(path: Path) -> bool:
    """Whether the file starts like an image OpenCV decodes (its header only is read)."""
    try:
        with opencv_name(path) as name:
            return bool(cv2.haveImageReader(name))
    except cv2.error:
        return False
