"""What kind of file a path is: an image or a video, by its content first (the suffix breaks ties)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vis.engine._images import IMAGE_SUFFIXES, ffmpeg_capture, opencv_errors_only, opencv_name, without_colour_profile
from vis.errors import InputFileError

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".gif"})


def is_video_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


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
            if cv2.imdecode(without_colour_profile(data), cv2.IMREAD_UNCHANGED) is not None:
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
        cap = ffmpeg_capture(name)
        try:
            # a video suffix that opens is a video (VideoSource reports one without frames); other names must decode
            if cap.isOpened() and (is_video_path(path) or cap.read()[0]):
                return "video"
        finally:
            cap.release()
    raise _unreadable(path)


def _unreadable(path: Path) -> InputFileError:
    """Why a file that is neither a decodable image nor a video OpenCV opens is refused, in the words that fit it."""
    from vis.engine._audio import import_av

    av = import_av()
    if av is not None:
        try:
            with av.open(str(path)) as container:
                if container.streams.audio and not container.streams.video:
                    return InputFileError(f"{path} holds sound but no pictures: vis dreams images and videos")
        except Exception:  # noqa: BLE001 - PyAV's FFmpegError family: the file does not open as media either
            pass
    if _has_video_signature(path):
        return InputFileError(f"not a readable video (cut short or corrupt?): {path}")
    return InputFileError(f"not an image or video that can be read: {path}")


def _has_video_signature(path: Path) -> bool:
    """Whether the file starts as an MP4/MOV, Matroska/WebM or AVI file does (its first 12 bytes are read)."""
    with open(path, "rb") as f:
        head = f.read(12)
    return (head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free") or head[:4] == b"\x1a\x45\xdf\xa3"
            or (head[:4] == b"RIFF" and head[8:12] == b"AVI "))


def _has_image_signature(path: Path) -> bool:
    """Whether the file starts like an image OpenCV decodes (its header only is read)."""
    try:
        with opencv_name(path) as name:
            return bool(cv2.haveImageReader(name))
    except cv2.error:
        return False
