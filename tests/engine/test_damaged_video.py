"""A video damaged mid-file (a bad block on a disk, a broken download) is read past, not stopped at: both decoders
give the frames after the damage on their own times, leave out the ones that come out of order from broken
references, and say where the damage was; a dream of it keeps the input's length."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vis.cli import app
from vis.engine._pyav_source import PyAVVideoSource
from vis.engine._video import VideoSource, open_video

av = pytest.importorskip("av")

FPS, COUNT, SIZE = 30, 120, (96, 64)


def moving_frames(count: int) -> list[np.ndarray]:
    """RGB frames of stripes sliding right three pixels a frame, with a grey ramp that brightens."""
    width, height = SIZE
    x = np.arange(width)[None, :]
    frames = []
    for i in range(count):
        frame = np.zeros((height, width, 3), np.uint8)
        frame[..., 0] = (x + 3 * i) * 5 % 256
        frame[..., 1] = 2 * i % 256
        frame[..., 2] = np.arange(height)[:, None] * 3
        frames.append(frame)
    return frames


def encoded(path: Path, codec: str) -> Path:
    """``COUNT`` frames at ``FPS``, a keyframe every second; H.264 with B-frames, whose order a damage upsets."""
    if codec not in av.codecs_available:
        pytest.skip(f"no {codec} encoder in this PyAV")
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=FPS)
        stream.width, stream.height, stream.pix_fmt = *SIZE, "yuv420p"
        stream.options = {"g": str(FPS), "threads": "1"} if codec == "libx264" else {"g": str(FPS)}
        for frame in moving_frames(COUNT):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def damage(path: Path, first: int, last: int) -> Path:
    """Overwrite the packets of frames ``first``..``last`` (by their times) with noise, sizes kept: what a bad block
    does to the middle of a file."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        spans = [(packet.pos, packet.size) for packet in container.demux(stream)
                 if packet.size and first <= round(float(packet.pts * stream.time_base) * FPS) <= last]
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(1)
    for pos, size in spans:
        data[pos:pos + size] = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return path


def read_all(source) -> tuple[int, list[float]]:
    with source:
        count = len(list(source))
        return count, [source.frame_time(i) for i in range(count)]


@pytest.mark.parametrize("decoder", [VideoSource, PyAVVideoSource])
# (50, 60) takes a keyframe, so that frames come out of order; (0, 0) the first frame, so the next keyframe is held from
# the start; (1, 3) the frames after the first, which the decoder reads only past the damage
@pytest.mark.parametrize("first, last", [(40, 45), (50, 60), (0, 0), (1, 3)])
def test_a_damaged_stretch_is_read_past_and_recorded(tmp_path, decoder, first, last) -> None:
    clip = damage(encoded(tmp_path / "damaged.mp4", "libx264"), first, last)
    source = decoder(clip)
    count, times = read_all(source)
    assert not source.truncated and source.reached_end
    assert len(source.damaged) >= 1
    start, end = source.damaged[0]
    # the stretch begins at the first damaged frame (or a frame before it, whose B-frame came out broken)
    assert (first - 4) / FPS <= start <= first / FPS + 1e-6 and end > last / FPS
    assert all(later > earlier for earlier, later in zip(times, times[1:]))  # nothing out of order is kept
    assert all(abs(t * FPS - round(t * FPS)) < 0.01 for t in times)  # each frame at its own place on the grid
    # the frames read past plus those kept make the whole video, and the last is where the input's last is
    lost = sum(round((b - a) * FPS) for a, b in source.damaged)
    assert count + lost == COUNT and times[-1] == pytest.approx((COUNT - 1) / FPS)
    assert not source.variable_rate  # a constant rate with a gap is still one


def test_both_decoders_read_past_the_same_damage(tmp_path) -> None:
    clip = damage(encoded(tmp_path / "damaged.mp4", "libx264"), 40, 45)
    opencv, pyav = VideoSource(clip), PyAVVideoSource(clip)
    assert read_all(opencv)[1] == pytest.approx(read_all(pyav)[1], abs=1e-3)
    assert np.allclose(opencv.damaged, pyav.damaged, atol=1e-3)


@pytest.mark.parametrize("start", [1.0, 2.0])
def test_a_section_names_the_damage_in_it_only(tmp_path, start) -> None:
    clip = damage(encoded(tmp_path / "damaged.mp4", "libx264"), 40, 45)  # 1.33-1.5 s
    source = VideoSource(clip)
    source.seek(start)
    count, _ = read_all(source)
    assert not source.truncated and source.reached_end
    lost = sum(round((b - a) * FPS) for a, b in source.damaged)
    assert bool(source.damaged) == (start < 1.33) and count + lost == COUNT - round(start * FPS)


def test_a_cut_file_is_still_cut_after_a_damaged_stretch(tmp_path) -> None:
    clip = damage(encoded(tmp_path / "damaged.mp4", "libx264"), 40, 45)
    cut = tmp_path / "cut.mkv"
    with av.open(str(clip)) as inp, av.open(str(cut), "w") as out:  # the same packets in a file that needs no index
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size * 3 // 4])
    source = VideoSource(cut)
    count, _ = read_all(source)
    assert source.damaged and source.truncated and count < COUNT * 3 // 4


@pytest.mark.parametrize("first, last", [(40, 45), (0, 3)])
def test_a_damaged_av1_file_is_read_past_through_pyav(tmp_path, first, last) -> None:
    """OpenCV has no AV1 decoder here: damage at the start must not read as a codec neither decoder has."""
    clip = damage(encoded(tmp_path / "damaged.mp4", "libsvtav1"), first, last)
    source = open_video(clip)
    assert isinstance(source, PyAVVideoSource)
    count, times = read_all(source)
    assert not source.truncated and source.damaged
    lost = sum(round((b - a) * FPS) for a, b in source.damaged)
    assert count + lost == COUNT and all(later > earlier for earlier, later in zip(times, times[1:]))


def test_a_dream_of_a_damaged_video_keeps_its_length_and_says_where(tmp_path) -> None:
    clip = damage(encoded(tmp_path / "damaged.mp4", "libx264"), 40, 45)
    out = tmp_path / "dreamed.mp4"
    result = CliRunner().invoke(app, ["dream", str(clip), "-o", str(out), "--model", "efficientnet_lite0",
                                      "--octaves", "1", "--iterations", "1", "--threads", "2", "-q"])
    assert result.exit_code == 0, result.output
    source = VideoSource(clip)
    count, _ = read_all(source)
    (start, end), = source.damaged
    lost = round((end - start) * FPS)
    assert (f"warning: {lost} frames of damaged.mp4 could not be decoded (damaged at {start:.2f}-{end:.2f} s): the "
            "frame before each stretch is held in their place, so the sound stays in step") in result.output
    written = PyAVVideoSource(out)
    kept, times = read_all(written)
    assert kept == count and times[-1] == pytest.approx((COUNT - 1) / FPS, abs=1e-3)  # held, not closed up
    assert f"wrote {out} ({count} frames" in result.output


def test_a_gap_of_the_files_own_after_damage_is_no_damage(tmp_path) -> None:
    """An AVI whose recorder skipped 20 frames (FFmpeg writes empty chunks there), damaged well before the skip: only
    the damage is named, and the file is whole."""
    clip = tmp_path / "skipped.avi"
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("mpeg4", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = *SIZE, "yuv420p"
        stream.options = {"g": "10"}
        for index, frame in enumerate(moving_frames(COUNT)):
            if 60 <= index < 80:
                continue
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
            picture.pts = index
            for packet in stream.encode(picture):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    damage(clip, 20, 22)
    source = VideoSource(clip)
    count, times = read_all(source)
    assert not source.truncated
    (start, end), = source.damaged
    assert 19 / FPS <= start <= 20 / FPS + 1e-6 and end <= 30 / FPS  # the next keyframe is at 30
    assert any(later - earlier > 19.5 / FPS for earlier, later in zip(times, times[1:]))  # the skip, kept as a gap


@pytest.mark.parametrize("decoder", [VideoSource, PyAVVideoSource])
def test_a_section_ending_inside_damage_holds_its_last_frame_to_its_end(tmp_path, decoder) -> None:
    clip = damage(encoded(tmp_path / "damaged.mp4", "libx264"), 40, 45)  # 1.33-1.53 s
    source = decoder(clip)
    source.seek(1.0, 0.4)
    count, times = read_all(source)
    assert count == 10 and times[-1] == pytest.approx(9 / FPS, abs=1e-3)  # 1.00-1.30 s decode
    # only the part of the stretch inside the section is named, and the last frame shows to the section's end
    assert np.allclose(source.damaged, [(40 / FPS, 1.4)], atol=1e-3)
    assert source.held_to == pytest.approx(0.4) and source.section() == pytest.approx((1.0, 1.4), abs=1e-3)


@pytest.mark.parametrize("decoder", [VideoSource, PyAVVideoSource])
def test_a_section_starting_inside_damage_begins_after_it_and_ends_where_asked(tmp_path, decoder) -> None:
    clip = damage(encoded(tmp_path / "damaged.mp4", "libx264"), 40, 45)
    source = decoder(clip)
    source.seek(1.4, 0.5)
    count, times = read_all(source)
    start, end = source.start_damaged
    assert start <= 1.4 < end and source.start_time == pytest.approx(end)
    assert source.section() == pytest.approx((end, 1.9), abs=1e-3) and count == round((1.9 - end) * FPS)
    assert source.held_to is None and not source.damaged


@pytest.mark.parametrize("decoder", [VideoSource, PyAVVideoSource])
def test_damage_in_the_last_frames_is_no_cut(tmp_path, decoder) -> None:
    clip = damage(encoded(tmp_path / "damaged.mp4", "libx264"), COUNT - 3, COUNT - 1)
    source = decoder(clip)
    count, times = read_all(source)
    assert not source.truncated and source.reached_end
    (start, end), = source.damaged
    assert start == pytest.approx(times[-1] + 1 / FPS) and end == pytest.approx(COUNT / FPS, abs=1e-3)
    assert count + round((end - start) * FPS) == COUNT and source.held_to == pytest.approx(COUNT / FPS, abs=1e-3)


@pytest.mark.parametrize("first, last, section, length", [
    (COUNT - 3, COUNT - 1, [], COUNT / FPS),  # the file ends in damage
    (40, 45, ["--start", "1", "--duration", "0.4"], 0.4),  # the section does
])
def test_a_dream_ending_in_damage_keeps_its_length(tmp_path, first, last, section, length) -> None:
    clip = damage(encoded(tmp_path / "damaged.mp4", "libx264"), first, last)
    out = tmp_path / "dreamed.mp4"
    result = CliRunner().invoke(app, ["dream", str(clip), "-o", str(out), "--model", "efficientnet_lite0",
                                      "--octaves", "1", "--iterations", "1", "--threads", "2", "-q", *section])
    assert result.exit_code == 0, result.output
    assert "could not be decoded" in result.output and "truncated" not in result.output
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        ends = [float((p.pts + p.duration) * p.time_base) for p in container.demux(stream) if p.size]
    assert max(ends) == pytest.approx(length, abs=1e-3)


def test_a_dream_starting_in_damage_says_where_it_begins(tmp_path) -> None:
    clip = damage(encoded(tmp_path / "damaged.mp4", "libx264"), 40, 45)
    result = CliRunner().invoke(app, ["dream", str(clip), "-o", str(tmp_path / "d.mp4"), "--model",
                                      "efficientnet_lite0", "--octaves", "1", "--iterations", "1", "--threads", "2",
                                      "-q", "--start", "1.4", "--duration", "0.5"])
    assert result.exit_code == 0, result.output
    source = VideoSource(clip)
    source.seek(1.4)
    (start, end) = source.start_damaged
    assert (f"warning: damaged.mp4 is damaged at {start:.2f}-{end:.2f} s, where the section asked for begins: it "
            f"begins at {end:.2f} s, with the first frame after the damage") in result.output
    assert f"the input's {end:.2f}-1.90 s" in result.output
