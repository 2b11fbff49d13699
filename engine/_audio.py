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


def copy_audio(source: str | Path, video: str | Path) -> str:
    """Copy the audio stream(s) of ``source`` into ``video`` (streams copied, not re-encoded) in place.

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
            _mux_pyav(source, video, Path(tmp))
        else:
            cmd = ["ffmpeg", "-y", "-v", "error", "-i", str(video), "-i", str(source), "-map", "0:v:0", "-map", "1:a",
                   "-c", "copy", "-shortest", tmp]
            if subprocess.run(cmd, capture_output=True).returncode:
                raise RuntimeError("ffmpeg failed")
        shutil.copymode(video, tmp)  # mkstemp made it private; the output keeps the video's own permissions
        os.replace(tmp, video)
        return f"audio copied from the input ({muxer})"
    except Exception as e:  # noqa: BLE001 - the video itself is fine; report and keep it
        return f"audio not copied ({type(e).__name__}: {e}); the video has no sound"
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _mux_pyav(source: Path, video: Path, out_path: Path) -> None:
    import av

    with av.open(str(video)) as vin, av.open(str(source)) as ain, av.open(str(out_path), "w") as out:
        vs = vin.streams.video[0]
        ov = out.add_stream_from_template(vs)
        pairs = [(vs, ov)]
        for a in ain.streams.audio:
            pairs.append((a, out.add_stream_from_template(a)))
        # the sound stops where the (possibly shorter: --max-frames) video does; Matroska stores no stream
        # duration, so it is also read off the video's last packet
        end = float(vs.duration * vs.time_base) if vs.duration else None
        video_end = 0.0
        # AVI has no times before 0: an AAC priming packet (pts < 0) would make FFmpeg shift every stream, the video
        # by a frame. Other containers keep it (their decoders need it for the first samples).
        drop_early = out_path.suffix.lower() == ".avi"
        for src, dst in pairs:
            container = vin if src is vs else ain
            for packet in container.demux(src):
                if packet.dts is None:
                    continue
                if drop_early and src is not vs and packet.pts is not None and packet.pts < 0:
                    continue
                if src is vs and packet.pts is not None:
                    video_end = max(video_end, float((packet.pts + (packet.duration or 0)) * src.time_base))
                if src is not vs and packet.pts is not None and float(packet.pts * src.time_base) > (end or video_end):
                    break
                packet.stream = dst
                out.mux(packet)
