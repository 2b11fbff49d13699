"""Going on with a video dream that was stopped (Ctrl-C, a crash, a full disk): what its file holds, and its frames
copied into a new writer as they are (not re-encoded, so that a dream resumed many times loses nothing)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from vis.engine._video import coding_format
from vis.errors import VisError


class StoppedDream(NamedTuple):
    """What a video file that a stopped dream wrote holds."""

    frames: int
    last_start: float  # seconds from its first frame to its last
    end: Fraction  # seconds from its first frame to where its last frame ends
    size: tuple[int, int]  # (width, height)
    codec: str
    last_pts: int  # its last frame's time in its stream's units, where :func:`last_frame` seeks
    rate: Fraction | None = None  # its frame rate, where the container says
    record: dict | None = None  # the dream's input and settings as its writer recorded them (:func:`dream_record`)
    torn: bool = False  # its last frame was cut short (a full disk, a kill mid-write): left out of ``frames``


class NoFrameYet(VisError):
    """A dream's file that holds no frame: its run was stopped (killed) while it dreamed the first."""


def stopped_dream(path: Path) -> StoppedDream:
    """Read what ``path`` holds, packet by packet (nothing is decoded), up to a frame that was cut short: it and any
    after it are dreamed again.

    Raises:
        NoFrameYet: a dream's file (it records what it is a dream of) with no frame.
        VisError: PyAV is missing, or the file holds no video vis could go on with.
    """
    av = _av_or_fail(path)
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            frames, first, last, end, torn = 0, None, None, None, False
            for packet in container.demux(stream):
                if packet.size == 0 or packet.pts is None:
                    continue
                if packet.is_corrupt:  # fewer bytes than its index promised: the write stopped inside it
                    torn = True
                    break
                frames += 1
                first = packet.pts if first is None else min(first, packet.pts)
                last = packet.pts if last is None else max(last, packet.pts)
                stop = packet.pts + (packet.duration or 0)
                end = stop if end is None else max(end, stop)
            size = (stream.codec_context.width, stream.codec_context.height)
            codec, tb = stream.codec_context.name, stream.time_base
            rate = stream.guessed_rate or stream.average_rate
            record = read_record(comment_of(container))
    except Exception as e:  # noqa: BLE001 - PyAV's FFmpegError family, IndexError: no video stream
        raise VisError(f"cannot go on with {path}: it is no video vis can read ({e})") from None
    if not frames:
        raise (NoFrameYet if record is not None else VisError)(f"cannot go on with {path}: it holds no frame")
    return StoppedDream(frames, float((last - first) * tb), (end - first) * tb, size, codec, last,
                        Fraction(rate) if rate else None, record, torn)


RECORD_TAG = "vis dream "  # the comment of a video vis dream wrote starts so, its record (JSON) following


def dream_record(**facts: Any) -> str:
    """The comment a dreamed video carries: what it is a dream of (input and settings), so that --resume goes on
    only with a dream of the same input at the same settings."""
    return RECORD_TAG + json.dumps(facts, sort_keys=True, separators=(",", ":"), default=str)


def comment_of(container: Any) -> str:
    """A PyAV container's comment (Matroska names it ``COMMENT``, MP4 and AVI ``comment``)."""
    return next((value for key, value in container.metadata.items() if key.lower() == "comment"), "")


def read_record(comment: str) -> dict | None:
    """The facts of :func:`dream_record` in a video's comment; None where it holds none."""
    if not comment.startswith(RECORD_TAG):
        return None
    try:
        facts = json.loads(comment[len(RECORD_TAG):])
    except ValueError:
        return None
    return facts if isinstance(facts, dict) else None


def check_same_dream(path: Path, stopped: StoppedDream, record: str, only: Sequence[str] | None = None) -> None:
    """Refuse to go on with ``path`` (holding ``stopped``) in a dream whose :func:`dream_record` is ``record``
    unless it is a dream of the same input at the same settings (``only``: of these facts): frames of two dreams
    would be spliced.

    Raises:
        VisError: ``path`` records no dream (another program's video, or an older vis's), or another one.
    """
    again = "dream into a new file, or --overwrite to start again"
    if stopped.record is None:
        raise VisError(f"cannot go on with {path}: it does not say what it is a dream of (another program's video, "
                       f"or an older vis's); {again}")
    now, there = _opened(read_record(record) or {}), _opened(stopped.record)
    keys = sorted(set(now) | set(there)) if only is None else only
    differ = [key for key in keys if now.get(key) != there.get(key)]
    if differ:
        shown = "; ".join(f"{key} {there.get(key)!r} there, {now.get(key)!r} now" for key in differ[:4])
        raise VisError(f"cannot go on with {path}: it is a dream of another input or at other settings ({shown}); "
                       f"{again}")


def _opened(record: dict) -> dict:
    """A record's facts with its groups of settings (``dream``, ``video``) opened, so that a difference names the
    setting (``iterations 2 there, 3 now``) rather than printing both groups whole."""
    facts = {}
    for key, value in record.items():
        if isinstance(value, dict):
            facts.update({name if name not in record else f"{key}.{name}": v for name, v in value.items()})
        else:
            facts[key] = value
    return facts


def last_frame(path: Path, stopped: StoppedDream) -> np.ndarray | None:
    """The last frame of ``path``, which holds ``stopped`` (a stopped dream's), uint8 BGR; None where it cannot be
    decoded."""
    av = _av_or_fail(path)
    last = None
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            container.seek(stopped.last_pts, stream=stream, backward=True)  # to the keyframe before it
            for packet in container.demux(stream):  # its closing empty packet flushes the decoder
                if packet.size and packet.pts is not None and packet.pts > stopped.last_pts:
                    held = stream.codec_context.decode(None)  # stop before a frame cut short (``torn``), which
                    last = held[-1] if held else last  # would fail the decoder, taking the frames it holds back
                    break
                for frame in packet.decode():
                    last = frame
    except Exception:  # noqa: BLE001 - PyAV's FFmpegError family: the resumed dream then starts afresh
        return None
    return None if last is None else last.to_ndarray(format="bgr24")


def copy_frames(path: Path, container: Any, stream: Any, frames: int) -> int:
    """Mux the first ``frames`` video packets of ``path`` into ``stream`` of the open ``container`` (an encoder's,
    whose frames follow them), their times kept; returns how many. H.264 is stored with length-prefixed units in MP4 and
    Matroska, while the encoder hands the muxer start codes: the copies are given start codes too, so that the
    muxer treats all packets alike.

    Raises:
        VisError: the stopped file was encoded otherwise than ``stream`` encodes (another codec, or other H.264
            parameters: a file from another FFmpeg), so its frames and the new ones could not share one stream.
    """
    av = _av_or_fail(path)
    copied = 0
    with av.open(str(path)) as old:
        source = old.streams.video[0]
        context = source.codec_context
        if coding_format(context) != coding_format(stream.codec_context) or (
                context.name == "h264" and not _same_parameter_sets(context.extradata, stream.codec_context.extradata)):
            raise VisError(f"cannot go on with {path}: it was encoded otherwise than vis encodes now ({context.name} "
                           f"with other settings); dream into a new file, or --overwrite to start again")
        first = None
        for packet in old.demux(source):
            if packet.size == 0 or packet.pts is None:
                continue
            if copied == frames:  # the rest, a frame cut short, is dreamed again
                break
            first = packet.pts if first is None else first
            data = bytes(packet)
            copy = av.Packet(_start_codes(data) if context.name == "h264" else data)
            copy.pts = packet.pts - first
            copy.dts = (packet.dts if packet.dts is not None else packet.pts) - first
            copy.duration, copy.time_base, copy.is_keyframe = packet.duration, packet.time_base, packet.is_keyframe
            copy.stream = stream
            container.mux(copy)
            copied += 1
    return copied


def _start_codes(data: bytes) -> bytes:
    """A length-prefixed (4-byte, as FFmpeg writes) H.264 access unit with start codes instead."""
    out, i = bytearray(), 0
    while i + 4 <= len(data):
        n = int.from_bytes(data[i:i + 4], "big")
        out += b"\0\0\0\1" + data[i + 4:i + 4 + n]
        i += 4 + n
    return bytes(out)


def _parameter_sets(extradata: bytes | None) -> set[bytes]:
    """The SPS and PPS units of H.264 extradata, in either form: an avcC record (MP4, Matroska) or start codes."""
    data = bytes(extradata or b"")
    if data[:1] == b"\1":  # avcC: version, profile, compatibility, level, length size, then the counted units
        units, i = set(), 5
        for mask in (0x1F, 0xFF):  # the SPS list (its count in 5 bits), then the PPS list
            if i >= len(data):
                break
            count, i = data[i] & mask, i + 1
            for _ in range(count):
                n = int.from_bytes(data[i:i + 2], "big")
                units.add(data[i + 2:i + 2 + n])
                i += 2 + n
        return units
    return {unit.strip(b"\0") for unit in data.split(b"\0\0\1") if unit.strip(b"\0")}


def _same_parameter_sets(old: bytes | None, new: bytes | None) -> bool:
    return bool(_parameter_sets(old)) and _parameter_sets(old) == _parameter_sets(new)


def _av_or_fail(path: Path) -> Any:
    from vis.engine._audio import import_av

    av = import_av()
    if av is None:
        raise VisError(f"cannot go on with {path}: that needs PyAV (pip install av)")
    return av
