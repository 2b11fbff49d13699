"""Video containers as cameras, recorders and editors write them: sound that starts before the pictures or runs on
after them, MPEG-TS clocks, clips trimmed without re-encoding, codecs OpenCV cannot decode, and stills that Pillow
or FFmpeg find more than one picture in."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from vis.engine._audio import copy_audio
from vis.engine._media_kinds import sniff_kind
from vis.engine._video import VideoSource, VideoSourceError
from vis.engine._video_sink import VideoSink
from vis.errors import InputFileError

av = pytest.importorskip("av")

RATE = 16000


def write_clip(path: Path, frames: int = 10, fps: int = 10, video_start: int = 0, sound_s: float = 1.0,
               silent_s: float = 0.0, audio_codec: str = "aac", fmt: str | None = None, codec: str = "libx264",
               size: tuple[int, int] = (64, 48), pixel_aspect: Fraction | None = None, layout: str = "mono") -> Path:
    """``frames`` frames at ``fps`` whose first shows at ``video_start`` frames, and ``sound_s`` seconds of sound
    from 0 that is silent for its first ``silent_s`` seconds, then a 440 Hz tone (in each channel of ``layout``)."""
    with av.open(str(path), "w", format=fmt) as c:
        vs = c.add_stream(codec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = *size, "yuv420p"
        if pixel_aspect is not None:
            vs.codec_context.sample_aspect_ratio = pixel_aspect
        a = c.add_stream(audio_codec, rate=48000 if audio_codec == "libopus" else RATE)
        a.layout = layout
        t = np.arange(int(sound_s * a.rate), dtype=np.float32) / a.rate
        samples = np.where(t >= silent_s, 0.3 * np.sin(2 * np.pi * 440 * t), 0.0).astype(np.float32)[None]
        channels = av.AudioLayout(layout).nb_channels
        sound = av.AudioFrame.from_ndarray(np.repeat(samples, channels, axis=0), format="fltp", layout=layout)
        sound.sample_rate, sound.pts = a.rate, 0
        for p in a.encode(sound):
            c.mux(p)
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((size[1], size[0], 3), 20 + i * 20 % 200, np.uint8),
                                               format="rgb24")
            frame.pts = video_start + i
            for p in vs.encode(frame):
                c.mux(p)
        for s in (vs, a):
            for p in s.encode():
                c.mux(p)
    return path


def rewrite(src: Path, out: Path, frames: int | None = None) -> int:
    """The dream loop's writing, without the dream: ``src``'s frames (the first ``frames``) through a sink."""
    n = 0
    with VideoSource(src) as vin, VideoSink(out, vin.fps, (vin.width, vin.height)) as sink:
        for n, f in enumerate(vin, 1):
            sink.write(f)
            if n == frames:
                break
    return n


def decoded_frames(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def sound(path: Path) -> np.ndarray:
    """The decoded sound of ``path``, mono, as it plays from the file's first picture."""
    with av.open(str(path)) as c:  # FFmpeg's AAC decoder may hand mono back as two equal channels
        chunks = [f.to_ndarray()[0] for f in c.decode(audio=0)]
    return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)


def test_a_seven_frame_matroska_keeps_its_pictures_when_the_sound_goes_in(tmp_path) -> None:
    """FFmpeg reads a 7-frame H.264 Matroska file without decoding times: its packets were dropped as empty,
    leaving a file with sound and no picture that vis said was fine."""
    src = write_clip(tmp_path / "in.mp4")
    out = tmp_path / "out.mkv"
    assert rewrite(src, out, frames=7) == 7
    assert copy_audio(src, out) == "audio copied from the input (pyav)"
    assert decoded_frames(out) == 7 and len(sound(out)) > 0


def test_the_sound_of_a_video_that_starts_late_moves_with_it(tmp_path) -> None:
    """The pictures start 0.3 s into the file, the sound at 0, silent until the first picture: the dream starts at
    0, so the sound must move back 0.3 s (copied as it was, the silence played under the first pictures)."""
    src = write_clip(tmp_path / "late.mp4", video_start=3, sound_s=1.3, silent_s=0.3)
    out = tmp_path / "out.mp4"
    rewrite(src, out)
    assert "audio copied" in copy_audio(src, out)
    heard = sound(out)
    first = heard[: RATE // 10]  # the first 0.1 s of the dream
    assert np.sqrt(np.mean(first[RATE // 40:] ** 2)) > 0.1  # the tone (after the priming), not the silence
    assert 0.9 * RATE < len(heard) < 1.2 * RATE


def test_an_mpeg_ts_keeps_its_sound(tmp_path) -> None:
    """A transport stream's clock starts near 1.4 s: all its sound lay past the dream's end and none was copied,
    while vis said it was."""
    src = write_clip(tmp_path / "cam.ts", fmt="mpegts")
    out = tmp_path / "out.mp4"
    rewrite(src, out)
    assert "audio copied" in copy_audio(src, out)
    assert 0.9 * RATE < len(sound(out)) < 1.2 * RATE


def test_sound_that_runs_on_after_the_pictures_is_no_cut_file(tmp_path) -> None:
    """Matroska's frame count is its duration times the rate, and the duration covers the sound: 6 frames and a
    second of sound were reported as a file cut after 6 of 10 frames."""
    src = write_clip(tmp_path / "rec.mkv", frames=6, sound_s=1.0)
    with VideoSource(src) as source:
        assert len(list(source)) == 6 and not source.truncated


def test_a_matroska_file_cut_short_is_still_reported(tmp_path) -> None:
    src = write_clip(tmp_path / "whole.mkv", frames=40, sound_s=4.0, size=(160, 120))
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    with VideoSource(cut) as source:
        n = len(list(source))
        assert 0 < n < 40 and source.truncated


def test_sound_a_container_cannot_hold_is_said_in_words(tmp_path) -> None:
    """Opus does not go into .mov or .avi: the report named a temporary file and FFmpeg's "Invalid argument"."""
    src = write_clip(tmp_path / "in.mkv", audio_codec="libopus")
    for suffix in (".mov", ".avi"):
        out = tmp_path / f"out{suffix}"
        rewrite(src, out)
        report = copy_audio(src, out)
        assert report.startswith(f"audio not copied: a {suffix} file does not take the input's opus sound")
        assert ".mkv takes any" in report and "tmp" not in report
        assert decoded_frames(out) == 10  # the video stays as it was


@pytest.mark.parametrize("layout", ["mono", "stereo"])
def test_the_pcm_sound_of_an_avi_goes_into_an_mp4(tmp_path, layout) -> None:
    """An AVI says how many channels its PCM sound has, not which (no channel mask): the MP4 muxer refused such
    stereo ("unsupported channel layout") and a camera's clip was dreamed without its sound."""
    src = write_clip(tmp_path / "cam.avi", audio_codec="pcm_s16le", layout=layout)
    out = tmp_path / "out.mp4"
    rewrite(src, out)
    assert copy_audio(src, out) == "audio copied from the input (pyav)"
    with av.open(str(out)) as c:
        assert c.streams.audio[0].codec_context.layout.nb_channels == av.AudioLayout(layout).nb_channels
    assert np.array_equal(sound(out), sound(src))  # PCM copied as it was, every sample


def test_a_codec_opencv_cannot_decode_is_named(tmp_path) -> None:
    if "libsvtav1" not in av.codecs_available:
        pytest.skip("no AV1 encoder in this PyAV")
    src = write_clip(tmp_path / "new.mp4", frames=3, codec="libsvtav1", size=(64, 64))
    cap = cv2.VideoCapture(str(src))
    readable = cap.read()[0]
    cap.release()
    if readable:
        pytest.skip("this OpenCV decodes AV1")
    with pytest.raises(VideoSourceError, match="its video is AV1, which OpenCV's FFmpeg does not decode here"):
        VideoSource(src)


def test_pictures_with_more_than_one_image_are_stills(tmp_path) -> None:
    """A camera's JPEG with a second picture (MPO: a preview, an HDR gain map) and a TIFF with pages are stills:
    Pillow calls them animated, and vis refused them as videos."""
    from PIL import Image

    picture = Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8))
    picture.save(tmp_path / "camera.jpg", format="MPO", save_all=True, append_images=[picture.resize((32, 24))])
    picture.save(tmp_path / "pages.tif", save_all=True, append_images=[picture.resize((32, 24))])
    with Image.open(tmp_path / "camera.jpg") as check:
        assert check.format == "MPO" and check.is_animated  # what fooled vis
    assert sniff_kind(tmp_path / "camera.jpg") == "image"
    assert sniff_kind(tmp_path / "pages.tif") == "image"


@pytest.mark.parametrize("name, message", [("photo.heic", "vis cannot read HEIC images"),
                                           ("song.mp3", "is a sound file: vis dreams images and videos")])
def test_files_ffmpeg_opens_but_vis_does_not_dream_are_named(tmp_path, name, message) -> None:
    """FFmpeg opens a HEIC photo and an MP3's cover picture as one-frame videos: vis said "a video input makes a
    video", and an MP3 ran as a video of 90000 fps."""
    path = tmp_path / name
    path.write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(64))
    with pytest.raises(InputFileError, match=message):
        sniff_kind(path)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".avi"])
def test_a_video_cut_before_it_can_be_opened_is_said_to_be_cut(tmp_path, suffix) -> None:
    """An MP4 whose index (at its end) was cut off opens nowhere: it was "not an image or video that can be read",
    where a cut PNG was "cut short or corrupt?"."""
    whole = write_clip(tmp_path / f"whole{suffix}")
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(whole.read_bytes()[:16 if suffix != ".mp4" else whole.stat().st_size // 2])
    with pytest.raises(InputFileError, match=r"not a readable video \(cut short or corrupt\?\): "):
        sniff_kind(cut)


def test_a_file_of_sound_alone_is_named_so(tmp_path) -> None:
    path = tmp_path / "voice.mp4"
    with av.open(str(path), "w") as c:
        a = c.add_stream("aac", rate=RATE)
        sound = av.AudioFrame.from_ndarray(np.zeros((1, RATE), np.float32), format="fltp", layout="mono")
        sound.sample_rate, sound.pts = RATE, 0
        for p in [*a.encode(sound), *a.encode()]:
            c.mux(p)
    with pytest.raises(InputFileError, match="voice.mp4 holds sound but no pictures: vis dreams images and videos"):
        sniff_kind(path)


def test_a_cut_input_keeps_the_sound_of_the_frames_it_had(tmp_path) -> None:
    """A cut file stops the run with exit 2 and its message, after the sound of the frames done went in."""
    from typer.testing import CliRunner

    from vis.cli import app

    src = write_clip(tmp_path / "whole.mkv", frames=40, sound_s=4.0, size=(160, 120))
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    out = tmp_path / "out.mp4"
    result = CliRunner().invoke(app, ["dream", str(cut), "-o", str(out), "--model", "efficientnet_lite0", "--octaves",
                                      "1", "--iterations", "1", "--iterations-per-frame", "1", "--threads", "1", "-q"])
    assert result.exit_code == 2, result.output
    assert "audio copied from the input" in result.output and "(truncated or corrupt)" in result.output
    assert len(sound(out)) > 0


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov"])
def test_written_video_says_how_its_colours_were_made(tmp_path, suffix) -> None:
    """FFmpeg turns RGB into YUV with BT.601; untagged, a player takes an HD video for BT.709 and shifts its reds."""
    out = tmp_path / f"red{suffix}"
    red = np.zeros((48, 64, 3), np.float32)
    red[..., 0] = 1.0
    with VideoSink(out, 10, (64, 48)) as sink:
        sink.write(red)
    with av.open(str(out)) as c:
        context = c.streams.video[0].codec_context
        tags = (context.colorspace, context.color_primaries, context.color_trc, context.color_range)
    assert tags == (6, 6, 6, 1)  # SMPTE 170M (BT.601), limited range


def pixel_aspect_of(path: Path) -> Fraction | None:
    with av.open(str(path)) as c:
        return c.streams.video[0].sample_aspect_ratio


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov", ".avi"])
def test_non_square_pixels_are_written_back(tmp_path, suffix) -> None:
    """A DV or anamorphic video's pixels are narrower or wider than tall: its dream keeps the ratio (8:9 here, a
    720x480 frame shown as 4:3), so that a player does not show it stretched; the sound's remux keeps it too."""
    src = write_clip(tmp_path / "dv.mkv", frames=4, size=(72, 48), pixel_aspect=Fraction(8, 9))
    with VideoSource(src) as vin:
        assert vin.pixel_aspect == Fraction(8, 9)
    out = tmp_path / f"out{suffix}"
    from typer.testing import CliRunner

    from vis.cli import app

    result = CliRunner().invoke(app, ["dream", str(src), "-o", str(out), "--model", "efficientnet_lite0", "--octaves",
                                      "1", "--iterations", "1", "--iterations-per-frame", "1", "--threads", "1", "-q"])
    assert result.exit_code == 0, result.output
    assert "audio copied from the input" in result.output
    assert pixel_aspect_of(out) == Fraction(8, 9)
    square = write_clip(tmp_path / "square.mkv", frames=2)
    with VideoSource(square) as vin:
        assert vin.pixel_aspect is None
