"""Frames of a video file that OpenCV's FFmpeg cannot decode (AV1, which its wheels build without a decoder for),
decoded by PyAV instead, whose FFmpeg has one (libdav1d)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from vis.engine._audio import import_av
from vis.engine._video import FileFrames, VideoSourceError, _probe


def decodes_first_frame(path: str | Path) -> bool:
    """Whether PyAV is there and decodes a first frame of ``path``'s video."""
    av = import_av()
    if av is None:
        return False
    try:
        with av.open(str(path)) as container:
            packets = itertools.islice(container.demux(container.streams.video[0]), _OPENING_PACKETS)
            return next(_decoded_past_damage(packets, lambda: None), None) is not None
    except Exception:  # noqa: BLE001 - PyAV's FFmpegError family, IndexError: it does not
        return False


_OPENING_PACKETS = 300  # packets read at the start of a file for a first frame (past damage there)


def _decoded_past_damage(packets: Iterable[Any], refused: Callable[[], None]) -> Iterator[Any]:
    """The frames of a stream's ``packets``, past those the decoder refuses (a damaged stretch), calling ``refused``
    at each of those."""
    for packet in packets:
        try:
            frames = packet.decode()
        except Exception:  # noqa: BLE001 - PyAV's InvalidDataError and kin: this packet is damaged, the next may not be
            refused()
            continue
        yield from frames


class PyAVVideoSource(FileFrames):
    """The frames of a video file decoded by PyAV, with the interface of :class:`vis.engine._video.VideoSource`.

    Frames are turned upright as OpenCV turns them (a phone's display rotation), so a video reads the same through
    either decoder.

    Attributes:
        fps, width, height, variable_rate, frame_count, frames_read, truncated, raw, pixel_aspect: as VideoSource's.

    Raises:
        VideoSourceError: PyAV is missing, or the file has no frame it can decode.
    """

    def __init__(self, path: str | Path):
        av = import_av()
        self.raw = False
        self.path = Path(path)
        if av is None:
            raise VideoSourceError(f"cannot decode {self.path}: OpenCV cannot, and PyAV is not installed")
        try:
            self._container = av.open(str(self.path))
            stream = self._container.streams.video[0]
        except Exception as e:  # noqa: BLE001 - PyAV's FFmpegError family, IndexError: no video to read
            if getattr(self, "_container", None) is not None:
                self._container.close()
            raise VideoSourceError(f"not a readable video: {self.path} ({e})") from None
        stream.thread_type = "AUTO"  # frame threads: AV1 at 720p decodes several times faster
        self._stream = stream
        self._frames = self._decoded()
        self._times: list[float] = []
        self._refused = False  # the decoder refused a packet since the last frame came
        self.frames_read = 0
        self.truncated = False
        first = self._decode_next()
        if first is None:
            self.close()
            raise VideoSourceError(f"video has no frames: {self.path}")
        self._first: np.ndarray | None = first
        self._origin = self._times[0]
        self.height, self.width = first.shape[:2]
        container = _probe(self.path)
        self.pixel_aspect = container.pixel_aspect
        self.pixel_components = container.components
        rate = stream.guessed_rate or stream.average_rate
        self.fps = container.nominal_rate or (float(rate) if rate else 25.0)
        self.frame_count = max(0, int(stream.frames or 0)) or self._counted_by_duration(stream)
        self._variable = container.nominal_rate is not None
        self._uncounted = 0 if stream.frames else round(container.lead * self.fps)  # a count by duration: as OpenCV's
        if self._damage_seen:
            self._held_from(float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0)

    def _counted_by_duration(self, stream: Any) -> int:
        """Frames a container that keeps no count (Matroska, WebM) announces: its duration times the rate, as OpenCV
        counts them; 0 where no duration is known either."""
        if stream.duration and stream.time_base:
            seconds = float(stream.duration * stream.time_base)
        else:
            seconds = (self._container.duration or 0) / 1e6  # in AV_TIME_BASE units
        return max(0, round(seconds * self.fps))

    def _decoded(self) -> Iterator[Any]:
        """The stream's frames, past packets the decoder refuses (a damaged stretch mid-file); they end where the
        demuxer does, or where it breaks off (a cut file)."""
        try:
            yield from _decoded_past_damage(self._container.demux(self._stream), self._refuse)
        except Exception:  # noqa: BLE001 - PyAV's FFmpegError family: the container cannot be read on
            self.truncated = True

    def _refuse(self) -> None:
        self._refused = True

    def _decode_next(self) -> np.ndarray | None:
        """The next frame, uint8 BGR and upright; None at the end, or where the stream breaks off (a cut file)."""
        frame = next(self._frames, None)
        if frame is None:
            return None
        if self._refused:
            self._refused = False
            self._mark_damage()
        seconds = frame.time if frame.time is not None else (self._times[-1] + 1.0 / self.fps if self._times else 0.0)
        self._times.append(seconds)
        bgr = frame.to_ndarray(format="bgr24")
        quarter_turns = round((frame.rotation or 0) / 90) % 4  # counter-clockwise, as np.rot90 turns
        return np.ascontiguousarray(np.rot90(bgr, quarter_turns)) if quarter_turns else bgr

    def _jump(self, seconds: float) -> bool:
        try:
            self._container.seek(int(seconds / self._stream.time_base), stream=self._stream, backward=True)
        except Exception:  # noqa: BLE001 - PyAV's FFmpegError family: a file without an index to seek by
            return False
        self._times, self._frames, self._refused = [], self._decoded(), False
        return True

    def close(self) -> None:
        container: Any = getattr(self, "_container", None)
        if container is not None:
            container.close()
