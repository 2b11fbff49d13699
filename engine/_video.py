"""Video files as frame sources: OpenCV's decoder (PyAV's for AV1, Pillow's for animated images), sections,
probing what the container says, and the errors of reading them.

Frames are HxWx3 float32 RGB in [0, 1] on the vis side; OpenCV's BGR uint8 stays inside the video modules
(the sources, the sink, the display).
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any, NamedTuple

import cv2
import numpy as np

from vis.engine._audio import import_av
from vis.engine._closing import ClosedOnExit
from vis.engine._images import ffmpeg_capture, opencv_name, to_uint8
from vis.errors import InputFileError


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
    damaged: tuple[tuple[float, float], ...] = ()  # (start, end) s from the first frame: stretches read past, no frame
    _origin = 0.0  # the file's first frame's time on its clock: what times in ``damaged`` count from
    _lost = 0  # frames of the damaged stretches read past (since the section's start)
    _since_damage: int | None = None  # frames kept since the last one the decoder could not read (None: none yet)
    held_to: float | None = None  # s from the section's start that its last frame shows to: the frames after it to
    # the section's or the file's end could not be decoded (None: it shows for one frame, as each does)
    start_damaged: tuple[float, float] | None = None  # the damaged stretch the section asked for began in (seek)

    @property
    def _damage_seen(self) -> bool:
        """The decoder could not read a frame and a later one came (see _mark_damage)."""
        return self._since_damage is not None

    def _mark_damage(self) -> None:
        """Called by a subclass where the decoder could not read a frame and a later one came: the file is read past
        the damage (a corrupt block mid-file), not stopped at, and its frames are checked from then on (_read)."""
        self._since_damage = 0

    def _held_from(self, start: float) -> None:
        """Called by a subclass whose first frame came after frames the decoder could not read (``_mark_damage``):
        it is shown from ``start``, the stream's start on the file's clock, over that stretch, so that the frames
        after it keep their places beside the sound."""
        first = self._times[0]
        lost = round((first - start) * self.fps)
        self._origin = start
        if lost > 0:  # the stretch is counted here, not again as a gap before the next frame (_read)
            self._times[0], self._lost, self._since_damage = start, self._lost + lost, _REORDER_DEPTH
            self.damaged += ((0.0, first - start),)

    def _read(self) -> np.ndarray | None:
        """The next frame :meth:`_decode_next` gives, in a damaged file read past its damage: frames that come no
        later than the last one kept are left out (decoded from broken references, they come out of order), and a
        constant rate's stretch without frames (the decoder dropped them, or held them back and lost them) is
        recorded in ``damaged``; the frame before it shows there, as a variable rate's would."""
        while (frame := self._decode_next()) is not None:
            if not self._damage_seen or len(self._times) < 2:
                return frame
            before, seconds = self._times[-2:]
            if seconds <= before + _SAME_TIME:
                self._times.pop()
                continue
            # a gap where the decoder held frames back when the damage came (B-frames: at most _REORDER_DEPTH); later
            # ones, and a variable rate's, are the file's own (an AVI's filler chunks, a recording's pauses)
            lost = round((seconds - before) * self.fps) - 1
            if lost > 0 and not self._variable and self._since_damage < _REORDER_DEPTH:
                self._lost += lost
                self.damaged += ((before + 1.0 / self.fps - self._origin, seconds - self._origin),)
            self._since_damage += 1
            return frame
        return None

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
            VideoSourceError: no frame starts ``start`` seconds in or later (the video ends before), or none before
                the section's end.
            SectionReadError: with ``after``, the section has no frame after it.
        """
        origin = self._times[0]
        frame, _ = self._advance(self._first, origin, origin + start - _SAME_TIME)
        if frame is None:
            raise VideoSourceError(f"{self.path} has no frame {start:g} s in: its last one starts at "
                                   f"{self._times[-1] - origin:.2f} s")
        zero = self._times[-1]
        if duration is not None and zero - origin >= start + duration - _SAME_TIME:  # a section between two frames
            raise VideoSourceError(f"{self.path} has no frame from {start:g} to {start + duration:g} s: the next "
                                   f"one starts at {zero - origin:.2f} s ({self.fps:g} fps)")
        self.start_damaged = next((d for d in self.damaged if d[0] <= start < d[1] - _SAME_TIME), None)
        if self.start_damaged is not None and duration is not None:  # it begins after the damage, ends where asked
            duration -= zero - origin - start
        if after is not None:
            frame, self.frame_before = self._advance(frame, origin, zero + after + _SAME_TIME, keep_before=True)
            if frame is None or (duration is not None and self._times[-1] - zero >= duration - _SAME_TIME):
                raise SectionReadError(f"{self.path}'s section has no frame after {after:.2f} s")
        self._first, self._times, self._zero = frame, [self._times[-1]], zero
        self.start_time = zero - origin
        self._skipped = round((self._times[0] - origin) * self.fps)
        self._whole_count, self.duration_asked = self.frame_count, duration
        self._lost, self.damaged = 0, tuple(d for d in self.damaged if d[1] > self.start_time)  # _skipped has those
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
            before, frame = frame if keep_before else None, self._read()
        return frame, before

    @property
    def variable_rate(self) -> bool:
        """The container says the frames come at their own times, or a frame read so far came more than half a
        frame away from its place at the constant rate."""
        places = [(t - self._times[0]) * self.fps for t in self._times]  # in frames from the first
        if self._lost:  # frames after a damaged stretch come later than their count says, still on the rate's grid
            return self._variable or any(abs(place - round(place)) > 0.25 for place in places)
        return self._variable or any(abs(place - i) > 0.5 for i, place in enumerate(places))

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
                frame = self._read()
                if frame is None:
                    self.reached_end = True
                    self.truncated = self.truncated or self._ended_early()
                    return
                asked = self.duration_asked
                if asked is not None and self._times[-1] - self._section_zero() >= asked - _SAME_TIME:
                    self._end_in_damage(asked)
                    return  # the section's end
            self.frames_read += 1
            yield frame if self.raw else from_bgr(frame)

    def _end_in_damage(self, end: float) -> None:
        """The section ends ``end`` s after its start, before the frame just read: where that frame closed a damaged
        stretch, the section ends inside it, and the last frame kept is held to its end."""
        zero, last_kept = self._section_zero(), self._times[-2]
        if not self.damaged or self.damaged[-1][1] < self._times[-1] - self._origin - _SAME_TIME:
            return  # the frame just read came in its place: the last one kept shows until it, as each does
        start, stretch_end = self.damaged[-1]
        cut = zero + end - self._origin
        self.damaged = self.damaged[:-1] + (((start, cut),) if cut > start + _SAME_TIME else ())
        self._lost -= round((stretch_end - max(start, cut)) * self.fps)
        if end > last_kept - zero + 1.5 / self.fps:
            self.held_to = end

    def _end_damaged(self, missing: int) -> None:
        """The file's last ``missing`` frames could not be decoded (their packets are there): damage at its end,
        over which the last frame kept is held."""
        last = self._times[-1]
        start = last + 1.0 / self.fps - self._origin
        self.damaged += ((start, start + missing / self.fps),)
        self._lost += missing
        end = last - self._section_zero() + (missing + 1) / self.fps
        self.held_to = end if self.duration_asked is None else min(end, self.duration_asked)

    def _announced(self) -> int:
        """The frames the container announces for the whole file (0: unknown), not a section's count."""
        return self.frame_count if self._whole_count is None else self._whole_count

    def _ended_early(self) -> bool:
        """Whether the frames stopped short of what the container announces (a cut file). A variable rate's count
        from OpenCV is its duration times the rate, so there the last frame's time is compared with that duration
        instead. A file whose packets are all there but whose last frames do not decode is damaged, not cut: the
        damage is recorded (:meth:`_end_damaged`)."""
        announced = self._announced()
        if not announced:
            return False
        expected, frames_decoded = announced - self._uncounted, self._skipped + self.frames_read + self._lost
        if self.variable_rate or self._lost:  # frames at their own times, or gaps after damage: where the last one is
            short = self.start_time + self._times[-1] - self._section_zero() < (expected - 2) / self.fps
        else:
            short = frames_decoded < expected - 1
        if not short:
            return False
        packets = _packets(self.path, self.fps)
        if packets is None or not packets.reach_end:
            return True  # cut: its packets stop short of where the container says it ends
        if packets.shown - frames_decoded > 1:  # each packet is there, and the last ones do not decode: damaged
            self._end_damaged(packets.shown - frames_decoded)
        return False

    def section(self) -> tuple[float, float] | None:
        """Where the frames read lie in the file, (start, end) in seconds from its first frame, after a
        :meth:`seek`; None before one."""
        if self._zero is None:
            return None
        read = max(self.frames_read, 1)
        end = self._times[read - 1] - self._section_zero() + 1.0 / self.fps
        return self.start_time, self.start_time + max(end, self.held_to or 0.0)


_OPENING_READ_ON = 5.0  # seconds of frames read past at the start of a file for a first one that decodes
_REORDER_DEPTH = 16  # frames a decoder may hold back to put them in order (H.264's most)
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
        self._cap = ffmpeg_capture(self._name.enter_context(opencv_name(self.path)))
        if not self._cap.isOpened():
            self.close()
            raise VideoSourceError(f"not a readable video: {self.path}")
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS)) or 25.0
        self.frame_count = max(0, int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT)))
        first = self._grab()
        if first is None:  # damage at the start (a codec OpenCV lacks fails as long: for _OPENING_READ_ON s)
            first = self._read_on(round(_OPENING_READ_ON * self.fps))
        if first is None:
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
        self._origin = self._times[0]
        if self._damage_seen:
            self._held_from(0.0)  # OpenCV counts times from the stream's start
        container = _probe(self.path)
        self._variable = container.nominal_rate is not None
        self.pixel_aspect = container.pixel_aspect  # written back, so that a player shows the frames as wide
        self.pixel_components = container.components  # a note says what of them a written video cannot keep
        if container.nominal_rate is not None:
            # OpenCV's rate is the average (or the millisecond clock's 1000) and its count the duration times it
            self.fps, self.frame_count = container.nominal_rate, container.frames
        # without a count in the container OpenCV's is duration x rate, and an FLV's duration includes the delay
        # before its first frame (B-frames): those frames were never there, so their lack is no sign of a cut
        self._uncounted = 0 if container.frames else round(container.lead * self.fps)

    def _position(self) -> float:
        return float(self._cap.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0

    def _decode_next(self) -> np.ndarray | None:
        frame = self._grab()
        # OpenCV says the same at the end and at a frame it cannot decode, and reads on after a damaged one: up to as
        # many reads as frames may be left (each fails at once at the end), then it is the end
        if frame is None and (frame := self._read_on(self._frames_left())) is None:
            return None
        # a frame without a time of its own (OpenCV gives 0 for MPEG-PS's last one) comes a frame after
        after = self._times[-1] + 1.0 / self.fps if self._times else 0.0
        position = self._position()
        if not self._damage_seen or position <= 0.0:  # after damage a frame may come early: _read leaves it out
            position = max(position, after)
        self._times.append(position)
        return frame

    def _grab(self) -> np.ndarray | None:
        try:
            ok, frame = self._cap.read()
        except cv2.error:
            return None
        return frame if ok else None

    def _read_on(self, reads: int) -> np.ndarray | None:
        """The first frame that decodes within ``reads`` more reads, after one that did not: read past damage
        (``_mark_damage``); None where none does."""
        for _ in range(reads):
            if (frame := self._grab()) is not None:
                self._mark_damage()
                return frame
        return None

    def _frames_left(self) -> int:
        """How many frames may still come after the last one read: what the container announces (two seconds more,
        as counts are approximate), a minute's where it announces none."""
        announced = self._announced()
        if not announced:
            return round(60 * self.fps)
        read = round((self._times[-1] - self._origin) * self.fps) + 1 if self._times else 0
        return max(0, announced - read) + round(2 * self.fps)

    def _jump(self, seconds: float) -> bool:
        if not self._cap.set(cv2.CAP_PROP_POS_MSEC, seconds * 1000.0):
            return False
        self._times = []
        return True

    def close(self) -> None:
        self._cap.release()
        self._name.close()


class _Packets(NamedTuple):
    reach_end: bool  # to the end the container announces, each of the video's (a cut file's stop short of it)
    shown: int  # the video's packets that show a frame (not those a trimmed clip marks to be discarded)


def _packets(path: Path, fps: float) -> _Packets | None:
    """What the packets of a video that gave fewer frames than announced say of it. Where they reach the end, the
    file is whole: if each packet that shows a frame was decoded, the count was too high (Matroska's is its duration
    times the rate, and the duration covers sound that runs on after the pictures; a clip trimmed without
    re-encoding counts the frames before the cut, which it marks to be discarded); if not, the file's last frames
    are damaged. None without PyAV, or where it cannot read the file."""
    av = import_av()
    if av is None:
        return None
    try:
        with av.open(str(path)) as container:
            if not container.duration:
                return None
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
        return None
    return _Packets(end - start >= length - max(2.0 / fps, 0.1) and packets >= announced - 1, shown)


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
    components: tuple[tuple[int, bool], ...] = ()  # (bits, is alpha) of each component of its decoded pixels


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
            pix_fmt = stream.codec_context.pix_fmt
            components = tuple((c.bits, c.is_alpha) for c in av.VideoFormat(pix_fmt).components) if pix_fmt else ()
    except Exception:  # noqa: BLE001 - PyAV's FFmpegError family, IndexError: OpenCV's reading stands
        return unknown
    pixel_aspect = Fraction(aspect) if aspect and aspect != 1 else None
    if not nominal or not average or abs(float(average) / float(nominal) - 1.0) <= 0.005:
        return _Container(None, frames, lead, pixel_aspect, components)
    # a container that counts in milliseconds may call its rate 1000: the frames' times need no finer grid than this
    return _Container(min(float(nominal), _FINEST_VARIABLE_RATE), frames, lead, pixel_aspect, components)


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
