"""Videos OpenCV cannot decode (AV1) read through PyAV: the same frames, times and upright turn as OpenCV gives for
the codecs it does decode, a cut file's frames so far, and one clear message where neither decodes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from vis.engine import _pyav_source
from vis.engine._pyav_source import PyAVVideoSource
from vis.engine._video import UndecodedVideoError, VideoSource, VideoSourceError, open_video

av = pytest.importorskip("av")


def patterned_frames(count: int, size: tuple[int, int]) -> list[np.ndarray]:
    """RGB frames of a smooth pattern sliding left four pixels a frame, with a bright block in the top left corner."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width + 4 * count].astype(np.float32)
    canvas = 128 + 60 * np.sin(x / 7.0)[..., None] * np.array([1.0, 0.5, -0.7]) + 40 * np.cos(y / 5.0)[..., None]
    frames = []
    for i in range(count):
        frame = np.clip(canvas[:, 4 * i:4 * i + width], 0, 255).astype(np.uint8)
        frame[:8, :12] = (250, 30, 30)
        frames.append(frame)
    return frames


def write_clip(path: Path, codec: str, count: int = 12, size: tuple[int, int] = (64, 48), fps: int = 15,
               rotation: int = 0) -> Path:
    if codec not in av.codecs_available:
        pytest.skip(f"no {codec} encoder in this PyAV")
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        if rotation:
            stream.set_display_rotation(rotation)
        for frame in patterned_frames(count, size):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def av1_clip(path: Path, **kwargs) -> Path:
    path = write_clip(path, "libsvtav1", **kwargs)
    capture = cv2.VideoCapture(str(path))
    readable = capture.read()[0]
    capture.release()
    if readable:
        pytest.skip("this OpenCV decodes AV1 itself")
    return path


def test_an_av1_video_reads_through_pyav_as_its_frames(tmp_path) -> None:
    clip = av1_clip(tmp_path / "new.mp4", count=12, fps=15)
    with pytest.raises(UndecodedVideoError, match="AV1"):
        VideoSource(clip)  # OpenCV alone: what vis said before
    expected = patterned_frames(12, (64, 48))
    with open_video(clip) as source:
        assert isinstance(source, PyAVVideoSource)
        frames = list(source)
        assert (source.width, source.height, source.fps, source.frame_count) == (64, 48, 15.0, 12)
        assert not source.truncated and not source.variable_rate
        assert [source.frame_time(i) for i in (0, 1, 11)] == pytest.approx([0.0, 1 / 15, 11 / 15])
    assert len(frames) == 12 and frames[0].dtype == np.float32 and frames[0].shape == (48, 64, 3)
    for got, want in zip(frames, expected):  # RGB in [0, 1]; AV1 is lossy: a few levels off on average
        assert np.abs(got * 255 - want).mean() < 6
    assert np.abs(frames[5] * 255 - expected[6]).mean() > 10  # each frame is its own, in order


def test_raw_frames_are_uint8_bgr_as_opencv_decodes(tmp_path) -> None:
    clip = av1_clip(tmp_path / "new.mkv", count=3)
    with open_video(clip) as source:
        source.raw = True
        raw = list(source)
        assert not source.truncated  # a whole Matroska file, which keeps no frame count
    with open_video(clip) as source:
        floats = list(source)
    assert raw[0].dtype == np.uint8 and raw[0].shape == (48, 64, 3)
    np.testing.assert_allclose(raw[1][..., ::-1] / 255.0, floats[1], atol=1e-6)


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_a_turned_phone_video_comes_upright_as_through_opencv(tmp_path, rotation) -> None:
    """The same H.264 file through both decoders: PyAV's frames turned by the display matrix equal OpenCV's."""
    clip = write_clip(tmp_path / "phone.mp4", "libx264", count=4, rotation=rotation)
    with VideoSource(clip) as opencv, PyAVVideoSource(clip) as pyav:
        assert (pyav.width, pyav.height) == (opencv.width, opencv.height)
        pairs = list(zip(opencv, pyav))
    assert len(pairs) == 4
    for through_opencv, through_pyav in pairs:
        assert np.abs(through_opencv - through_pyav).mean() < 2 / 255  # one FFmpeg, two colour conversions


def test_a_cut_av1_file_gives_its_frames_so_far_and_says_truncated(tmp_path) -> None:
    clip = av1_clip(tmp_path / "new.mkv", count=40, size=(96, 64))
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(clip.read_bytes()[: clip.stat().st_size * 2 // 3])
    with open_video(clip) as whole:
        assert len(list(whole)) == 40 and not whole.truncated
    with open_video(cut) as source:
        count = len(list(source))
        assert 0 < count < 40 and source.truncated


def test_a_codec_neither_decoder_reads_is_one_message(tmp_path, monkeypatch) -> None:
    clip = av1_clip(tmp_path / "new.mp4", count=3)
    monkeypatch.setattr(_pyav_source, "decodes_first_frame", lambda path: False)
    with pytest.raises(UndecodedVideoError, match="its video is AV1, which neither OpenCV's nor PyAV's FFmpeg decodes "
                                                  r"here; convert it first \(ffmpeg"):
        open_video(clip)


def test_without_pyav_the_source_says_so(tmp_path, monkeypatch) -> None:
    clip = write_clip(tmp_path / "plain.mp4", "libx264", count=2)
    monkeypatch.setattr(_pyav_source, "import_av", lambda: None)
    assert not _pyav_source.decodes_first_frame(clip)
    with pytest.raises(VideoSourceError, match="PyAV is not installed"):
        PyAVVideoSource(clip)


def test_vis_dreams_an_av1_video_into_one_of_the_same_size_rate_and_length(tmp_path) -> None:
    from typer.testing import CliRunner

    from vis.cli import app

    clip = av1_clip(tmp_path / "new.mp4", count=6, size=(80, 48), fps=12)
    out = tmp_path / "dreamed.mp4"
    result = CliRunner().invoke(app, ["dream", str(clip), "-o", str(out), "--model", "efficientnet_lite0", "--weights",
                                      "random", "--octaves", "1", "--iterations", "1", "--max-size", "64", "-q"])
    assert result.exit_code == 0, result.output
    with open_video(out) as written:
        assert (written.width, written.height, written.fps, len(list(written))) == (80, 48, 12.0, 6)
