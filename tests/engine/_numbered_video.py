"""Videos whose frames show their own numbers (in binary, as white blocks), to tell which frames a reader gave or a
writer kept, through lossy codecs and small dream steps alike."""

from __future__ import annotations

from pathlib import Path

import numpy as np

BITS, BLOCK = 10, 16  # a frame shows its index in binary: block b white where bit b is set


def numbered_frame(index: int) -> np.ndarray:
    frame = np.zeros((32, BITS * BLOCK, 3), np.uint8)
    for bit in range(BITS):
        if index >> bit & 1:
            frame[:, bit * BLOCK:(bit + 1) * BLOCK] = 255
    return frame


def index_of(frame: np.ndarray) -> int:
    """The index a frame shows (uint8 or float in [0, 1], any channel order): each block's middle, thresholded."""
    level = 127 if frame.dtype == np.uint8 else 0.5
    return sum(1 << bit for bit in range(BITS) if frame[:, bit * BLOCK + 4:(bit + 1) * BLOCK - 4].mean() > level)


def numbered_clip(path: Path, count: int = 360, fps: int = 30, keyframe_every: int = 60, fmt: str | None = None,
                  sound_s: float = 0.0) -> Path:
    """``count`` numbered frames at ``fps`` (H.264, a keyframe every ``keyframe_every``); with ``sound_s`` seconds of
    sound from 0 whose level says the time: silent in even seconds, a 440 Hz tone in odd ones."""
    import av

    with av.open(str(path), "w", format=fmt) as c:
        video = c.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = BITS * BLOCK, 32, "yuv420p"
        video.codec_context.gop_size = keyframe_every
        if sound_s:
            audio = c.add_stream("aac", rate=16000)
            t = np.arange(int(sound_s * 16000), dtype=np.float32) / 16000
            samples = np.where(t.astype(int) % 2 == 1, 0.3 * np.sin(2 * np.pi * 440 * t), 0.0).astype(np.float32)
            sound = av.AudioFrame.from_ndarray(samples[None], format="fltp", layout="mono")
            sound.sample_rate, sound.pts = 16000, 0
            for packet in [*audio.encode(sound), *audio.encode()]:
                c.mux(packet)
        for i in range(count):
            for packet in video.encode(av.VideoFrame.from_ndarray(numbered_frame(i), format="rgb24")):
                c.mux(packet)
        for packet in video.encode():
            c.mux(packet)
    return path
