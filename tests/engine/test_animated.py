"""Animated images as videos: GIF / APNG / WebP frames and delays read through Pillow, animated GIFs written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vis.engine._animated import GIF_MAX_FPS, AnimatedImageSource, frame_rate_of, is_animated
from vis.engine._audio import copy_audio
from vis.engine._media_kinds import sniff_kind
from vis.engine._video import VideoSource, open_video
from vis.engine._video_sink import VideoSink


def frames_rgb(n: int, h: int = 40, w: int = 56) -> list[np.ndarray]:
    """Distinct smooth colour frames (uint8 RGB): a gradient that moves and changes hue."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return [np.stack([(x * 4 + 20 * i) % 256, (y * 5 + 30 * i) % 256, np.full_like(x, 40 * i % 256)], -1)
            .astype(np.uint8) for i in range(n)]


def frames_of(path: Path) -> list[np.ndarray]:
    with Image.open(path) as picture:
        out = []
        for i in range(picture.n_frames):
            picture.seek(i)
            out.append(np.asarray(picture.convert("RGB"), np.float32))
        return out


@pytest.mark.parametrize("delays, fps, starts", [
    ([40] * 5, 25.0, None),
    ([30, 30, 40, 30, 30, 40], 30.0, None),  # 30 fps as a GIF stores it: one rate
    ([0, 0, 10], 10.0, None),  # delays a browser plays at 100 ms
    ([100, 100, 500, 100], 10.0, [0.0, 0.1, 0.2, 0.7]),  # a frame held: each frame keeps its start
    ([40, 60, 40], 50.0, [0.0, 0.04, 0.1]),
    ([30, 70], 100.0, [0.0, 0.03]),  # the common step: 10 ms
    ([48, 102], 1000 / 48, [0.0, 0.048]),  # a common step under 10 ms: the shortest delay
    ([50 / 3, 50 / 3, 500], 60.0, [0.0, 1 / 60, 2 / 60]),  # APNG's 1/60 s with a pause
])
def test_frame_rate_of_an_animation(delays, fps, starts) -> None:
    got_fps, got_starts = frame_rate_of(delays)
    assert got_fps == pytest.approx(fps)
    assert got_starts == (None if starts is None else pytest.approx(starts))


@pytest.mark.parametrize("suffix", [".gif", ".webp", ".png"])
def test_an_animated_image_is_a_video_of_its_frames(tmp_path, suffix, animation) -> None:
    frames = frames_rgb(6)
    path = animation.write(tmp_path / f"a{suffix}", frames, 80)
    assert is_animated(path) and sniff_kind(path) == "video"
    source = open_video(path)
    assert isinstance(source, AnimatedImageSource)
    with source:
        got = list(source)
        assert (source.width, source.height, source.frame_count, source.frames_read) == (56, 40, 6, 6)
        assert source.fps == pytest.approx(12.5) and not source.truncated and source.frame_time(3) is None
    tolerance = {".gif": 12.0, ".webp": 12.0, ".png": 0.0}[suffix]  # GIF: a palette; WebP: lossy
    for mine, theirs in zip(got, frames):
        assert mine.dtype == np.float32 and mine.shape == (40, 56, 3)
        assert np.abs(mine * 255 - theirs).mean() <= tolerance + 1e-3


def test_a_still_gif_stays_an_image(tmp_path) -> None:
    path = tmp_path / "still.gif"
    Image.fromarray(frames_rgb(1)[0]).save(path)
    assert not is_animated(path) and sniff_kind(path) == "image"


def test_raw_frames_are_uint8_bgr_and_transparency_is_over_white(tmp_path) -> None:
    rgba = np.zeros((2, 8, 8, 4), np.uint8)
    rgba[0, ..., 0] = 255  # opaque red, then opaque blue on the left and transparent on the right
    rgba[0, ..., 3] = 255
    rgba[1, :, :4, 2] = 255
    rgba[1, :, :4, 3] = 255
    pictures = [Image.fromarray(f, "RGBA") for f in rgba]
    path = tmp_path / "t.png"
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=100, disposal=1)
    with AnimatedImageSource(path) as source:
        source.raw = True
        first, second = list(source)
    assert first.dtype == np.uint8 and (first[0, 0] == [0, 0, 255]).all()  # BGR
    with AnimatedImageSource(path) as source:
        _, second = list(source)
    assert np.allclose(second[:, :4], [0, 0, 1]) and np.allclose(second[:, 4:], 1.0)  # transparent over white
    # (APNG's disposal 1 clears the first frame before the second)


def test_a_cut_gif_reads_up_to_the_cut_and_says_it_was_cut(tmp_path, animation) -> None:
    path = animation.write(tmp_path / "a.gif", frames_rgb(8), 100)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with open_video(path) as source:
        got = list(source)
    assert 0 < len(got) < source.frame_count <= 8 and source.truncated


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_variable_delays_carry_into_the_written_file(tmp_path, suffix, animation) -> None:
    """A frame held for half a second stays held, and the last frame keeps its own delay (a pause before the loop
    starts again): each frame is written at its own start, with its own duration."""
    delays = [100, 100, 500, 100, 300]
    path = animation.write(tmp_path / "held.gif", frames_rgb(5), delays)
    out = tmp_path / f"out{suffix}"
    with open_video(path) as source, VideoSink(out, source.fps, (source.width, source.height)) as sink:
        assert source.variable_rate and source.fps == 10.0
        for i, frame in enumerate(source):
            sink.write(frame, at=source.frame_time(i), duration=source.frame_duration(i))
    if suffix == ".gif":
        assert animation.delays(out) == delays and len(frames_of(out)) == 5
    else:
        import av

        with av.open(str(out)) as container:
            stream = container.streams.video[0]
            packets = [p for p in container.demux(stream) if p.pts is not None]
            assert [float(p.pts * stream.time_base) for p in packets] == pytest.approx([0, 0.1, 0.2, 0.7, 0.8])
            assert float(packets[-1].duration * stream.time_base) == pytest.approx(0.3)


def test_a_written_gif_holds_the_frames_at_full_size(tmp_path, animation) -> None:
    frames = frames_rgb(4, 41, 57)  # odd sides: a GIF needs no crop
    out = tmp_path / "o.gif"
    with VideoSink(out, 25, (57, 41)) as sink:
        assert sink.size == (57, 41) and sink.codec == "gif" and sink.kill_safe
        for f in frames:
            sink.write(f.astype(np.float32) / 255)
    written = frames_of(out)
    assert len(written) == 4 and animation.delays(out) == [40] * 4
    for mine, theirs in zip(written, frames):
        assert np.abs(mine - theirs).mean() < 6.0  # 256 colours a frame
    with Image.open(out) as picture:
        assert picture.info.get("loop") == 0  # loops forever


def test_a_gif_leaves_out_frames_it_could_not_show(tmp_path, animation) -> None:
    """60 fps: browsers play GIF delays under 20 ms at 100, so frames closer than that are left out and counted."""
    out = tmp_path / "fast.gif"
    with VideoSink(out, 60, (16, 16)) as sink:
        for i in range(12):
            sink.write(np.full((16, 16, 3), i * 20, np.uint8))
    kept = len(frames_of(out))
    assert sink.frames_written == kept and sink.frames_dropped == 12 - kept and 0 < sink.frames_dropped < 12
    assert min(animation.delays(out)) >= 1000 // GIF_MAX_FPS
    # the kept frames start at their own times: frame i of 60 fps at round(i * 100 / 60) hundredths
    starts = np.cumsum([0] + animation.delays(out)[:-1]) // 10
    assert set(starts) <= {round(i * 100 / 60) for i in range(12)} and starts[-1] == 17



def test_the_last_frame_of_a_fast_gif_shows_20_ms_too(tmp_path, animation) -> None:
    """120 fps: one frame of the rate is 10 ms, which browsers would hold for 100 ms at the end of the loop."""
    out = tmp_path / "fast.gif"
    with VideoSink(out, 120, (16, 16)) as sink:
        for i in range(20):
            sink.write(np.full((16, 16, 3), i * 10, np.uint8))
    assert set(animation.delays(out)) == {1000 // GIF_MAX_FPS}


KILLED_GIF_WRITER = """
import os, signal, sys
import numpy as np
from vis.engine._video_sink import VideoSink
sink = VideoSink(sys.argv[1], 10, (31, 21))
for i in range(9):
    sink.write(np.full((21, 31, 3), i / 9, np.float32))
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_gif_killed_mid_write_keeps_the_frames_before_the_last(tmp_path) -> None:
    path = tmp_path / "killed.gif"
    proc = subprocess.run([sys.executable, "-c", KILLED_GIF_WRITER, str(path)], capture_output=True, timeout=60)
    assert proc.returncode == -9, proc.stderr
    levels = [frame.mean() / 255 * 9 for frame in frames_of(path)]
    assert levels == pytest.approx(list(range(8)), abs=0.05)
    with VideoSource(path) as source:  # and a video reader (FFmpeg) opens it too
        assert len(list(source)) == 8


def test_a_full_disk_stops_a_gif_with_its_error(tmp_path, full_disk) -> None:
    import errno

    full_disk(2)
    out = tmp_path / "full.gif"
    with pytest.raises(OSError) as raised:
        with VideoSink(out, 10.0, (16, 16)) as sink:
            for i in range(5):
                sink.write(np.full((16, 16, 3), i * 40, np.uint8))
    assert raised.value.errno == errno.ENOSPC and sink.frames_written <= 3


def test_audio_is_not_copied_into_a_gif(tmp_path, monkeypatch) -> None:
    import vis.engine._audio as audio

    monkeypatch.setattr(audio, "has_audio", lambda path: True)  # an input with sound
    out = tmp_path / "o.gif"
    with VideoSink(out, 10, (32, 32)) as sink:
        sink.write(np.zeros((32, 32, 3), np.uint8))
    before = out.read_bytes()
    assert copy_audio(tmp_path / "in.mp4", out) == "audio not copied: a GIF has no sound"
    assert out.read_bytes() == before
