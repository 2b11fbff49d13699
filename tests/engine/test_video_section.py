"""A section of a video (`vis dream --start T --duration D`): the frames at those times through either decoder and
in several containers, a far start sought through the index, the sound cut to match, the CLI's messages, and one
frame dreamed as a still (an image output)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vis._text import seconds_in
from vis.engine._audio import copy_audio
from vis.engine._pyav_source import PyAVVideoSource
from vis.engine._video import VideoSource, VideoSourceError
from vis.engine._video_sink import VideoSink
from vis.errors import VisError

from _numbered_video import index_of, numbered_clip  # noqa: I001 - tests/engine's helpers
from _vis_cli import dream  # noqa: I001

av = pytest.importorskip("av")

def read_section(source, start: float, duration: float | None = None) -> list[int]:
    with source:
        source.raw = True
        source.seek(start, duration)
        return [index_of(frame) for frame in source]


@pytest.mark.parametrize("suffix, fmt", [(".mp4", None), (".mkv", None), (".ts", "mpegts"), (".avi", None)])
@pytest.mark.parametrize("decoder", [VideoSource, PyAVVideoSource])
def test_a_section_is_the_frames_at_its_times(tmp_path, suffix, fmt, decoder) -> None:
    """From 7.5 s for 2 s at 30 fps: frames 225-284 (a start past 5 s is sought through the index; an MPEG-TS clock
    starts near 1.4 s, which the times are counted from)."""
    clip = numbered_clip(tmp_path / f"c{suffix}", fmt=fmt)
    source = decoder(clip)
    assert read_section(source, 7.5, 2.0) == list(range(225, 285))
    assert source.frame_count == 60 and not source.truncated and not source.reached_end
    start, end = source.section()
    assert start == pytest.approx(7.5, abs=1e-3) and end == pytest.approx(9.5, abs=1e-3)
    assert source.frame_time(0) == 0.0 and source.frame_time(30) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("decoder", [VideoSource, PyAVVideoSource])
def test_a_near_start_is_decoded_up_to_and_a_section_may_run_to_the_end(tmp_path, decoder) -> None:
    clip = numbered_clip(tmp_path / "c.mp4", count=90)
    source = decoder(clip)
    assert read_section(source, 1.0) == list(range(30, 90))
    assert source.reached_end and not source.truncated and source.frame_count == 60
    assert read_section(decoder(clip), 0.0, 0.5) == list(range(15))
    assert read_section(decoder(clip), 2.95) == [89]  # the first frame at or after the start: 2.9667 s


def test_a_far_start_is_sought_not_decoded_up_to(tmp_path, monkeypatch) -> None:
    """9 s into a 12 s clip: at most a keyframe interval (2 s) and the jump's margin before it are decoded, not 270
    frames."""
    clip = numbered_clip(tmp_path / "c.mp4")
    decoded = []
    real = VideoSource._decode_next
    monkeypatch.setattr(VideoSource, "_decode_next", lambda self: decoded.append(1) or real(self))
    assert read_section(VideoSource(clip), 9.0) == list(range(270, 360))
    assert len(decoded) - 90 < 130


@pytest.mark.parametrize("decoder", [VideoSource, PyAVVideoSource])
def test_an_index_that_lands_past_the_start_is_read_from_the_top(tmp_path, monkeypatch, decoder) -> None:
    """A file whose index is off (the jump lands after the section's start): it is read frame by frame instead,
    from the first, and still starts at the right one."""
    clip = numbered_clip(tmp_path / "c.mp4")
    real = decoder._jump
    jumps = []

    def off_by_three_seconds(self, seconds: float) -> bool:
        jumps.append(seconds)
        return real(self, seconds + 3.0 if len(jumps) == 1 else seconds)

    monkeypatch.setattr(decoder, "_jump", off_by_three_seconds)
    assert read_section(decoder(clip), 6.0, 1.0) == list(range(180, 210))
    assert jumps == [pytest.approx(4.0 - 1e-3), 0.0]


def test_a_start_past_the_end_is_one_message(tmp_path) -> None:
    clip = numbered_clip(tmp_path / "c.mp4", count=90)
    for start in (3.5, 60.0):  # decoded up to, and sought
        with pytest.raises(VideoSourceError, match=r"c.mp4 has no frame .* s in: its last one starts at 2.97 s"):
            read_section(VideoSource(clip), start)


def test_a_variable_rate_section_is_found_by_the_frames_own_times(tmp_path, variable_rate_clip) -> None:
    """Frames at 0, 1/30, 2/30, then a pause to 1 s, 31/30, then 2 s: the section from 0.5 s starts at the frame
    of 1 s and keeps the times after it."""
    clip = variable_rate_clip(tmp_path / "vfr.mp4", [0, 1, 2, 30, 31, 60])
    with VideoSource(clip) as source:
        source.raw = True
        source.seek(0.5)
        levels = [int(frame.mean() + 15) // 30 for frame in source]
        assert levels == [3, 4, 5]  # the frames' grey levels are 30 x their index
        assert [source.frame_time(i) for i in range(3)] == pytest.approx([0.0, 1 / 30, 1.0], abs=2e-3)
        assert source.variable_rate and not source.truncated


def test_a_cut_file_is_still_said_to_be_cut_after_a_section_start(tmp_path) -> None:
    clip = numbered_clip(tmp_path / "c.avi", count=90)
    data = clip.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) * 2 // 3])
    source = VideoSource(cut)
    frames = read_section(source, 0.5)
    assert frames[0] == 15 and len(frames) < 60 - 15 and source.truncated


def dreamed_copy(src: Path, out: Path, start: float, duration: float) -> None:
    """The dream loop's writing of a section, without the dream."""
    with VideoSource(src) as source, VideoSink(out, source.fps, (source.width, source.height)) as sink:
        source.seek(start, duration)
        for frame in source:
            sink.write(frame)


def loudness_by_half_second(path: Path) -> list[float]:
    with av.open(str(path)) as c:
        heard = np.concatenate([frame.to_ndarray()[0] for frame in c.decode(audio=0)])
    halves = heard[: len(heard) // 8000 * 8000].reshape(-1, 8000)
    return [round(float(np.sqrt(np.mean(h ** 2))), 2) for h in halves]


@pytest.mark.parametrize("start", [1.0, 6.5])  # decoded up to, and sought through the index
def test_a_sections_sound_is_the_sound_of_its_frames(tmp_path, start) -> None:
    """The sound is a tone in odd seconds and silent in even ones: the section's copy must start where its first
    frame is (copied from the file's start, it played the wrong seconds under the frames) and end with it."""
    src = numbered_clip(tmp_path / "in.mp4", sound_s=12.0)
    out = tmp_path / "out.mp4"
    dreamed_copy(src, out, start, 3.0)
    assert copy_audio(src, out, start) == "audio copied from the input (pyav)"
    heard = [level > 0.1 for level in loudness_by_half_second(out)]  # silence is below 0.01, the tone above 0.1
    assert heard == [int(start + t / 2) % 2 == 1 for t in range(6)]


@pytest.mark.parametrize("text, seconds", [("90", 90.0), ("2.5", 2.5), ("90s", 90.0), ("1:30", 90.0),
                                           ("0:01:30.5", 90.5), ("1:02:03.25", 3723.25), ("0", 0.0)])
def test_times_are_read_as_seconds_or_a_clock(text, seconds) -> None:
    assert seconds_in(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "1:60", "1:2:3:4", "nan", "inf", "1:-3", "1:30s", "1::3", ":30",
                                  "1:2.5:3"])
def test_a_time_that_is_none_is_refused(text) -> None:
    with pytest.raises(VisError, match="expected a time in seconds"):
        seconds_in(text)


def test_a_negative_time_is_refused() -> None:
    with pytest.raises(VisError, match="a time must be 0 or later, got '-1'"):
        seconds_in("-1")


# ---- vis dream --start / --duration -----------------------------------------------------------------------------

FAST = ["--model", "efficientnet_lite0", "--weights", "random", "--octaves", "1", "--iterations", "1",
        "--iterations-per-frame", "1", "--threads", "2", "-q"]
STILL = ["--model", "efficientnet_lite0", "--weights", "random", "--octaves", "1", "--iterations", "1", "--threads", "2",
         "-q"]


def test_vis_dreams_a_section_with_its_sound(tmp_path) -> None:
    src = numbered_clip(tmp_path / "in.mp4", count=120, sound_s=4.0)
    out = tmp_path / "out.mp4"
    code, said = dream(src, "-o", out, "--start", "0:01.5", "--duration", "0.5", *FAST)
    assert code == 0, said
    assert "wrote" in said and "(15 frames, 160x32 at 30 fps," in said and "the input's 1.50-2.00 s)" in said
    assert "audio copied from the input" in said
    with VideoSource(out) as written:
        assert written.frame_count == 15 and written.fps == pytest.approx(30.0)
    with av.open(str(out)) as c:
        assert float(c.streams.audio[0].duration * c.streams.audio[0].time_base) == pytest.approx(0.5, abs=0.1)


def test_a_section_longer_than_the_rest_of_the_video_says_so(tmp_path) -> None:
    src = numbered_clip(tmp_path / "in.mp4", count=60)
    code, said = dream(src, "-o", tmp_path / "out.mp4", "--start", "1.5", "--duration", "10", *FAST)
    assert code == 0, said
    assert "(15 frames," in said and "the input's 1.50-2.00 s" in said
    assert "the input ends 0.50 s after the section's start, before the 10 s asked for" in said


@pytest.mark.parametrize("args, message", [
    (["--start", "1:75"], "Invalid value for '--start': expected a time in seconds"),
    (["--duration", "0"], "Invalid value for '--duration': a section must last longer than 0 s, got '0'"),
    (["--start", "5"], "has no frame 5 s in: its last one starts at 1.97 s"),
    (["--start", "0.01", "--duration", "0.02"], "has no frame from 0.01 to 0.03 s: the next one starts at 0.03 s"),
])
def test_a_bad_section_is_one_message(tmp_path, args, message) -> None:
    src = numbered_clip(tmp_path / "in.mp4", count=60)
    out = tmp_path / "out.mp4"
    code, said = dream(src, "-o", out, *args, *FAST)
    assert code == 2 and message in said, said
    assert not out.exists()


def test_a_section_of_what_is_no_video_file_is_refused(tmp_path, sample_photo, animation) -> None:
    code, said = dream(sample_photo, "-o", tmp_path / "o.png", "--start", "1", *STILL)
    assert code == 2 and "--start cuts a section of a video file; an image has no time" in said
    code, said = dream(tmp_path, "-o", tmp_path / "dreams", "--start", "1", *STILL)
    assert code == 2 and "--start cuts a section of a video file; a folder's images have no time" in said, said
    code, said = dream("--webcam", "0", "-o", tmp_path / "o.mp4", "--start", "1", "--duration", "2", *FAST)
    assert code == 2 and "--start, --duration cut a section of a video file; a webcam or a live stream" in said
    frames = [np.full((16, 16, 3), 40 * i, np.uint8) for i in range(3)]
    gif = animation.write(tmp_path / "a.gif", frames, 100)
    code, said = dream(gif, "-o", tmp_path / "o.gif", "--duration", "1", *FAST)
    assert code == 2 and "an animated image is dreamed whole" in said


def test_an_image_output_dreams_the_frame_at_the_start_as_a_still(tmp_path) -> None:
    """A step this small leaves each frame's number readable: the still must be frame 45 (1.5 s at 30 fps), dreamed
    at the still's settings and size."""
    import cv2

    src = numbered_clip(tmp_path / "in.mp4", count=60)
    out = tmp_path / "frame.png"
    code, said = dream(src, "-o", out, "--start", "1.5", "--step", "0.01", *STILL)
    assert code == 0, said
    assert f"wrote {out} (160x32; the frame 1.50 s into {src})" in said
    assert index_of(cv2.imread(str(out))) == 45 and cv2.imread(str(out)).shape == (32, 160, 3)
    code, said = dream(src, "-o", tmp_path / "first.jpg", "--step", "0.01", *STILL)
    assert code == 0 and "(160x32; the frame 0.00 s into" in said
    assert index_of(cv2.imread(str(tmp_path / "first.jpg"))) == 0


@pytest.mark.parametrize("args, message", [
    (["--duration", "1"], "--duration is a section's length, and an image output holds one frame"),
    (["--blend", "0.5"], "--blend applies to a video output; an image output holds one frame of the video"),
    (["--start", "3"], "has no frame 3 s in"),
])
def test_an_image_output_of_a_video_refuses_what_it_would_not_use(tmp_path, args, message) -> None:
    src = numbered_clip(tmp_path / "in.mp4", count=60)
    code, said = dream(src, "-o", tmp_path / "frame.png", *args, *STILL)
    assert code == 2 and message in said, said


def test_an_animated_images_still_is_its_first_frame(tmp_path, animation) -> None:
    import cv2

    frames = [np.full((48, 48, 3), level, np.uint8) for level in (200, 20, 20)]
    gif = animation.write(tmp_path / "a.gif", frames, 100)
    code, said = dream(gif, "-o", tmp_path / "first.png", "--step", "0.01", *STILL)
    assert code == 0, said
    assert abs(cv2.imread(str(tmp_path / "first.png")).mean() - 200) < 3
    code, said = dream(gif, "-o", tmp_path / "later.png", "--start", "0.1", *STILL)
    assert code == 2 and "an animated image is dreamed whole" in said
