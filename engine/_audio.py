"""A video's sound: whether a file has audio, and copying it from the input video into the dreamed one (streams
copied, not re-encoded) with PyAV or, without it, the ffmpeg program."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any


def import_av() -> Any:
    """PyAV, or ``None`` where it cannot be imported. vis depends on it; the ffmpeg/ffprobe fallbacks serve an
    environment whose PyAV is missing or broken (a wheel that does not load on an unusual platform)."""
    try:
        import av
    except ImportError:
        return None
    return av


def has_audio(path: str | Path) -> bool | None:
    """Whether ``path`` has an audio stream; ``None`` when no prober (PyAV or ffprobe) is installed."""
    av = import_av()
    if av is None:
        probe = shutil.which("ffprobe")
        if not probe:
            return None
        out = subprocess.run([probe, "-v", "error", "-select_streams", "a", "-show_entries", "stream=index",
                              "-of", "csv=p=0", str(path)], capture_output=True, text=True)
        return bool(out.stdout.strip())
    try:
        with av.open(str(path)) as c:
            return bool(c.streams.audio)
    except av.error.FFmpegError:
        return False


NO_AUDIO = "input has no audio"  # the one report that is no news: -q leaves it out


def muxer_name() -> str | None:
    """``"pyav"`` or ``"ffmpeg"`` when one is there, else ``None``."""
    if import_av() is not None:
        return "pyav"
    return "ffmpeg" if shutil.which("ffmpeg") else None


def copy_audio(source: str | Path, video: str | Path, start: float = 0.0) -> str:
    """Copy the audio stream(s) of ``source`` into ``video`` (streams copied, not re-encoded) in place; ``start``:
    seconds from ``source``'s first frame to the one ``video`` starts with (a section of it).

    Returns:
        A one-line report: what was done, or why not (no audio, no muxer, codec not fit for the container).
    """
    source, video = Path(source), Path(video)
    audio = has_audio(source)
    muxer = muxer_name()
    if muxer is None:
        return "audio not copied: install PyAV (pip install av) or ffmpeg to keep the input's sound"
    if not audio:
        return NO_AUDIO
    if video.suffix.lower() == ".gif":
        return "audio not copied: a GIF has no sound"
    fd, tmp = tempfile.mkstemp(suffix=video.suffix, dir=video.parent)
    os.close(fd)
    try:
        if muxer == "pyav":
            _mux_pyav(source, video, Path(tmp), start)
        else:
            cmd = ["ffmpeg", "-y", "-v", "error", "-i", str(video), "-ss", f"{start:.6f}", "-i", str(source),
                   "-map", "0:v:0", "-map", "1:a", "-c", "copy", "-shortest", tmp]
            if subprocess.run(cmd, capture_output=True).returncode:
                raise RuntimeError("ffmpeg failed")
        shutil.copymode(video, tmp)  # mkstemp made it private; the output keeps the video's own permissions
        os.replace(tmp, video)
        return f"audio copied from the input ({muxer})"
    except Exception as e:  # noqa: BLE001 - the video itself is fine; report and keep it
        return f"audio not copied: {_why_not(e, source, video)}; the video has no sound"
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _why_not(error: Exception, source: Path, video: Path) -> str:
    """A failed copy in words: FFmpeg's own errors name a temporary file and say little more than "Invalid
    argument", which is what a container says of a sound it cannot hold (Opus in .mov or .avi)."""
    if isinstance(error, RuntimeError):
        return str(error)
    av = import_av()
    refused = isinstance(error, ValueError) and "does not support" in str(error)  # PyAV's own check
    if refused or (av is not None and isinstance(error, av.error.FFmpegError)):
        try:
            with av.open(str(source)) as c:
                codecs = ", ".join(sorted({a.codec_context.name for a in c.streams.audio}))
        except Exception:  # noqa: BLE001 - the report goes on without the codec's name
            codecs = "its"
        said = getattr(error, "strerror", None) or "refused"
        return f"a {video.suffix.lower()} file does not take the input's {codecs} sound ({said}); .mkv takes any"
    return f"{type(error).__name__}: {error}"


def _mux_pyav(source: Path, video: Path, out_path: Path, start: float = 0.0) -> None:
    """Write ``video``'s stream and ``source``'s audio from ``start`` seconds after its first frame into ``out_path``.

    Raises:
        RuntimeError: nothing of the sound falls within the dreamed frames, or the remux lost the pictures.
    """
    import av

    from vis.engine._resume import comment_of

    with av.open(str(video)) as vin, av.open(str(source)) as ain, av.open(str(out_path), "w") as out:
        comment = comment_of(vin)
        if comment:  # what the dream is of, for --resume (ffmpeg keeps the first input's anyway)
            out.metadata["comment"] = comment
        vs = vin.streams.video[0]
        ov = out.add_stream_from_template(vs)
        pairs = [(vs, ov)]
        for a in ain.streams.audio:
            pairs.append((a, _with_named_channels(out.add_stream_from_template(a))))
        # the dream starts at 0, the input's first frame maybe later (an MPEG-TS clock starts near 1.4 s, a clip cut
        # from a recording where it was cut): the sound moves back by as much, to stay with the pictures
        lead = _first_frame_time(ain) + start  # and a section's sound by its start
        # the sound stops where the (possibly shorter: --max-frames) video does; Matroska stores no stream
        # duration, so it is also read off the video's last packet
        end = float(vs.duration * vs.time_base) if vs.duration else None
        video_end = 0.0
        # AVI has no times before 0: an AAC priming packet (pts < 0) would make FFmpeg shift every stream, the video
        # by a frame. Other containers keep it (their decoders need it for the first samples).
        drop_early = out_path.suffix.lower() == ".avi"
        counts = {"video": 0, "audio": 0}
        for src, dst in pairs:
            container = vin if src is vs else ain
            shift = 0 if src is vs else round(lead / src.time_base)
            for packet in container.demux(src):
                if packet.size == 0 or packet.pts is None:  # the demuxer's closing empty packet
                    continue
                if packet.dts is None:  # FFmpeg reads some short H.264 Matroska files without decoding times;
                    packet.dts = packet.pts  # vis writes no B-frames, so they are the presentation times
                if shift:
                    packet.pts -= shift
                    packet.dts -= shift
                    if (packet.pts + (packet.duration or 0)) * src.time_base <= -_PRE_ROLL:
                        continue  # sound from before the first frame
                if drop_early and src is not vs and packet.pts < 0:
                    continue
                if src is vs:
                    video_end = max(video_end, float((packet.pts + (packet.duration or 0)) * src.time_base))
                elif float(packet.pts * src.time_base) > (end or video_end):
                    break
                packet.stream = dst
                out.mux(packet)
                counts["video" if src is vs else "audio"] += 1
    if not counts["video"]:
        raise RuntimeError("the remux came back without pictures, so the dream is kept as written")
    if not counts["audio"]:
        raise RuntimeError("none of the input's sound falls within the dreamed frames")


_DEFAULT_LAYOUTS = {1: "mono", 2: "stereo", 6: "5.1", 8: "7.1"}  # FFmpeg's own for these counts


def _with_named_channels(stream: Any) -> Any:
    """``stream`` (a copy's) with its channels named where the input gave only their count: an AVI's PCM sound
    does (its header has no channel mask), and MP4 refuses such sound ("unsupported channel layout")."""
    layout = stream.codec_context.layout
    if all(channel.name == "NONE" for channel in layout.channels) and layout.nb_channels in _DEFAULT_LAYOUTS:
        stream.codec_context.layout = _DEFAULT_LAYOUTS[layout.nb_channels]
    return stream


_PRE_ROLL = 0.1  # seconds of sound before the first frame that are kept: an AAC or Opus priming packet lies there


def _first_frame_time(container: Any) -> float:
    """When the input's video starts, in seconds on the file's clock (0 without a video stream or a start time)."""
    if not container.streams.video:
        return 0.0
    stream = container.streams.video[0]
    if stream.start_time is None:
        return 0.0
    return max(0.0, float(stream.start_time * stream.time_base))
