"""Video IO and temporal coherence: sources, sinks, optical flow, flicker, nothing lost on a crash, audio."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from vis.engine import make_backend
from vis.engine._dream import DreamConfig, VideoDreamConfig, dream_frames, resize
from vis.engine._audio import copy_audio, has_audio
from vis.engine._cameras import WebcamSource
from vis.engine._media_kinds import sniff_kind
from vis.engine._video import VideoSource, VideoSourceError
from vis.engine._video_sink import VideoSink
from vis.errors import InputFileError, OutputExistsError, OutputPathError
from vis.exporters import parse_objective
from vis.models import get_model


def write_video(path: Path, frames: list[np.ndarray], fps: float = 12.0) -> Path:
    """Write RGB float frames with OpenCV (mp4v, or MJPG for .avi)."""
    h, w = frames[0].shape[:2]
    fourcc = cv2.VideoWriter_fourcc(*("MJPG" if path.suffix == ".avi" else "mp4v"))
    writer = cv2.VideoWriter(str(path), fourcc, fps, (w, h))
    for f in frames:
        writer.write((np.clip(f, 0, 1) * 255 + 0.5).astype(np.uint8)[..., ::-1])
    writer.release()
    return path


def scene(h: int = 72, w: int = 96, seed: int = 0, shift: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.random((h, w + 40, 3)).astype(np.float32), (0, 0), 3)
    img = (img - img.min()) / np.ptp(img)
    return np.ascontiguousarray(img[:, shift:shift + w])


def count_frames(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


@pytest.fixture(scope="module")
def backend():
    net = get_model("efficientnet_lite0", "imagenet")
    return make_backend("ort", "efficientnet_lite0", net, parse_objective("block10", "efficientnet_lite0"), threads=2)


def test_source_reports_size_fps_and_frames(tmp_path) -> None:
    path = write_video(tmp_path / "in.mp4", [scene(shift=i) for i in range(7)], fps=15)
    with VideoSource(path) as src:
        frames = list(src)
        assert (src.width, src.height, src.fps, src.frame_count) == (96, 72, 15.0, 7)
        assert not src.truncated
    assert len(frames) == 7 and frames[0].shape == (72, 96, 3) and frames[0].dtype == np.float32


def test_sink_writes_frames_as_they_come(tmp_path) -> None:
    path = tmp_path / "out.mp4"
    with VideoSink(path, 10, (96, 72)) as sink:
        for i in range(4):
            sink.write(scene(shift=i))
        sink.write(scene(144, 192))  # other sizes are resized
    assert count_frames(path) == 5
    with pytest.raises(OutputExistsError):
        VideoSink(path, 10, (96, 72))


def test_crash_mid_video_keeps_the_frames_done(tmp_path, backend) -> None:
    path = tmp_path / "partial.mp4"
    frames = [scene(shift=i) for i in range(10)]
    with pytest.raises(RuntimeError, match="injected"):
        with VideoSink(path, 10, (96, 72)) as sink:
            for i, out in enumerate(dream_frames(backend, frames, DreamConfig(octaves=1, iterations=1))):
                sink.write(out)
                if i == 2:
                    raise RuntimeError("injected crash")
    assert count_frames(path) == 3


# A child writes frames with a VideoSink and dies by SIGKILL without closing it. Slack: the MP4 muxer finishes a
# frame's fragment when the next frame arrives, so the last frame written may be missing; AVI keeps every frame.
KILLED_WRITER = """
import os, signal, sys
import numpy as np
from vis.engine._video_sink import VideoSink

path, n = sys.argv[1], int(sys.argv[2])
sink = VideoSink(path, 30000 / 1001, (81, 61))
for i in range(n):
    sink.write(np.full((61, 81, 3), i / n, np.float32))
print(sink.kill_safe, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize(("suffix", "slack"), [(".mp4", 1), (".mov", 1), (".avi", 0), (".mkv", 1)])
def test_sink_killed_mid_video_leaves_the_frames_written(tmp_path, suffix, slack) -> None:
    path, n = tmp_path / f"killed{suffix}", 9
    proc = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(path), str(n)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == -9 and proc.stdout.strip() == "True", proc.stderr
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened()
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    while (got := cap.read())[0]:
        frames.append(got[1])
    cap.release()
    assert n - slack <= len(frames) <= n
    assert {f.shape for f in frames} == {(60, 80, 3)}  # odd sides cropped to even for 4:2:0
    # the frames are the ones written, in order (grey levels i/n)
    assert np.allclose([f.mean() / 255 for f in frames], [i / n for i in range(len(frames))], atol=0.02)
    assert fps == pytest.approx(30000 / 1001, abs=1e-6)


@pytest.mark.parametrize("fps", [Fraction(30000, 1001), Fraction(25, 2), Fraction(24)])
def test_sink_keeps_the_exact_frame_rate(tmp_path, fps) -> None:
    path = tmp_path / "rate.mp4"
    with VideoSink(path, float(fps), (64, 48)) as sink:
        for i in range(5):
            sink.write(scene(48, 64, shift=i))
    with VideoSource(path) as src:
        assert (src.fps, src.frame_count, len(list(src))) == (pytest.approx(float(fps), abs=1e-9), 5, 5)
    import av

    with av.open(str(path)) as c:
        assert c.streams.video[0].average_rate == fps


def test_sink_without_pyav_falls_back_to_opencv(tmp_path, monkeypatch) -> None:
    import vis.engine._video_sink as video_sink

    monkeypatch.setattr(video_sink, "import_av", lambda: None)
    path = tmp_path / "cv.mp4"
    with VideoSink(path, 10, (96, 72)) as sink:
        assert not sink.kill_safe and sink.codec == "mp4v"
        for i in range(3):
            sink.write(scene(shift=i))
    assert count_frames(path) == 3


def frame_times(path: Path) -> list[tuple[float, int]]:
    """(time in seconds, grey level) of every frame OpenCV reads, repeats included."""
    cap = cv2.VideoCapture(str(path))
    seen = []
    while (got := cap.read())[0]:
        seen.append((round(cap.get(cv2.CAP_PROP_POS_MSEC) / 1000, 3), round(got[1].mean() / 25.5)))
    cap.release()
    return seen


TIMED = [(0.0, 1), (0.5, 2), (0.52, 3), (2.0, 4), (1.0, 5)]  # (at, grey level / 25.5); 0.52 and 1.0 come too soon


@pytest.mark.parametrize("suffix, pyav", [(".mp4", True), (".avi", True), (".avi", False)])
def test_timed_frames_play_at_the_pace_they_were_made(tmp_path, monkeypatch, suffix, pyav) -> None:
    """A live recording: each frame shows until the next one's time, at the sink's rate (10 fps here)."""
    import vis.engine._video_sink as video_sink

    if not pyav:
        monkeypatch.setattr(video_sink, "import_av", lambda: None)
    path = tmp_path / f"timed{suffix}"
    with VideoSink(path, 10, (64, 48)) as sink:
        for at, level in TIMED:
            sink.write(np.full((48, 64, 3), level * 25.5, np.uint8), at=at)
        assert sink.frames_written == 5
    # frame times: 0.5 s; 0.52 rounds to 0.5, taken, so one frame later; 2.0 s; 1.0 is past, so one frame later
    shown = {0.0: 1, 0.5: 2, 0.6: 3, 2.0: 4, 2.1: 5}
    seen = frame_times(path)
    if pyav:  # MP4 keeps each frame's time; AVI's gaps are empty chunks, which the reader steps over
        assert seen == list(shown.items())
    else:  # OpenCV's writer: a constant frame rate, the gaps filled with the frame before
        assert [t for t, _ in seen] == pytest.approx([i / 10 for i in range(22)])
        assert [level for _, level in seen] == [max(v for t, v in shown.items() if t <= i / 10 + 1e-9)
                                                for i in range(22)]


@pytest.mark.parametrize("suffix", [".mp4", ".avi", ".gif"])
def test_a_held_last_frame_shows_to_the_time_asked(tmp_path, suffix) -> None:
    """An input that ends in frames that could not be decoded: its last dreamed frame shows over them."""
    path = tmp_path / f"held{suffix}"
    with VideoSink(path, 10, (64, 48)) as sink:
        for level in (1, 2, 3):
            sink.write(np.full((48, 64, 3), level * 25.5, np.uint8))
        sink.hold_last(0.3)  # within the last frame: nothing more
        sink.hold_last(0.8)
        assert sink.frames_written == 3
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        shown = [(float(frame.time), round(frame.to_ndarray(format="gray").mean() / 25.5))
                 for frame in container.decode(stream)]
        end = float(container.duration / 1e6) if suffix == ".gif" else None
    assert shown == [(0.0, 1), (0.1, 2), (0.2, 3), (0.7, 3)]  # the last, again where it ends
    if end is not None:
        assert end == pytest.approx(0.8)


@pytest.mark.parametrize("fps", [0.0, -5.0, float("nan")])
def test_sink_refuses_a_bad_frame_rate(tmp_path, fps) -> None:
    from vis.errors import VisError

    with pytest.raises(VisError, match="frame rate"):
        VideoSink(tmp_path / "bad.mp4", fps, (64, 48))


@pytest.mark.parametrize("case", ["missing", "folder", "text", "empty", "zero_frames"])
def test_bad_video_inputs(tmp_path, case) -> None:
    path = {"missing": tmp_path / "nope.mp4", "folder": tmp_path, "text": tmp_path / "t.mp4",
            "empty": tmp_path / "e.mp4", "zero_frames": tmp_path / "z.avi"}[case]
    if case == "text":
        path.write_text("no video here " * 100)
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "zero_frames":
        cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 32)).release()
    with pytest.raises(InputFileError):
        VideoSource(path)


def test_truncated_input_is_reported(tmp_path) -> None:
    path = write_video(tmp_path / "cut.avi", [scene(shift=i) for i in range(20)])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    try:
        src = VideoSource(path)
    except VideoSourceError:
        return  # refusing to open is clear too
    with src:
        n = len(list(src))
    assert 0 < n < 20 and src.truncated


def test_absent_webcam_is_a_clear_error() -> None:
    with pytest.raises(VideoSourceError, match="webcam"):
        WebcamSource(57)


def test_sniff_kind(tmp_path, sample_photo) -> None:
    video = write_video(tmp_path / "v.mp4", [scene()] * 2)
    assert sniff_kind(sample_photo) == "image" and sniff_kind(video) == "video"
    (tmp_path / "x.jpg").write_text("hello")
    with pytest.raises(InputFileError, match="not an image or video"):
        sniff_kind(tmp_path / "x.jpg")
    # content, not the suffix, decides: an image named .mp4 and a video named .jpg
    (tmp_path / "image.mp4").write_bytes(Path(sample_photo).read_bytes())
    (tmp_path / "video.jpg").write_bytes(video.read_bytes())
    assert sniff_kind(tmp_path / "image.mp4") == "image" and sniff_kind(tmp_path / "video.jpg") == "video"


def test_temporal_coherence_halves_flicker_on_a_static_scene(tmp_path, backend, sample_photo) -> None:
    from vis.engine import load_image

    still = resize(load_image(sample_photo), (72, 108))
    path = write_video(tmp_path / "static.mp4", [still] * 6)
    config = DreamConfig(octaves=2, iterations=6)

    def flicker(video: VideoDreamConfig) -> float:
        with VideoSource(path) as src:
            outs = list(dream_frames(backend, src, config, video, rng=np.random.default_rng(0)))
        return float(np.mean([np.abs(b - a).mean() for a, b in zip(outs[1:], outs[2:])]))

    without, with_ = flicker(VideoDreamConfig(blend=0.0)), flicker(VideoDreamConfig())
    assert without >= 2.0 * with_, (without, with_)


def test_dreamed_video_keeps_size(tmp_path, backend) -> None:
    frames = [scene(shift=i) for i in range(3)]
    outs = list(dream_frames(backend, frames, DreamConfig(octaves=1, iterations=1), max_size=64))
    assert [o.shape for o in outs] == [f.shape for f in frames]


def _write_clip_with_audio(src: Path) -> None:
    """10 frames of 64x48 at 10 fps with a second of a 440 Hz tone."""
    import av

    with av.open(str(src), "w") as c:
        vs = c.add_stream("mpeg4", rate=10)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        a = c.add_stream("aac", rate=16000)
        for i in range(10):
            img = np.full((48, 64, 3), i * 20, np.uint8)
            for p in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        t = np.arange(16000, dtype=np.float32) / 16000
        samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = 16000
        frame.pts = 0  # the encoder's priming samples then start before 0, as in most real files
        for p in a.encode(frame):
            c.mux(p)
        for s in (vs, a):
            for p in s.encode():
                c.mux(p)


def _rewrite(src: Path, out: Path, frames: int | None = None) -> None:
    """Decode ``src`` and write its frames (the first ``frames``) to ``out`` through a sink, as the dream loop does
    (without sound)."""
    with VideoSource(src) as vin, VideoSink(out, vin.fps, (vin.width, vin.height)) as sink:
        for n, f in enumerate(vin):
            if n == frames:
                break
            sink.write(f)


def test_audio_is_copied(tmp_path) -> None:
    pytest.importorskip("av")
    src = tmp_path / "with_audio.mp4"
    _write_clip_with_audio(src)
    out = tmp_path / "dreamed.mp4"
    _rewrite(src, out)
    assert has_audio(src) and not has_audio(out)
    report = copy_audio(src, out)
    assert "copied" in report and has_audio(out)
    assert count_frames(out) == 10


def test_no_muxer_says_so(tmp_path, monkeypatch) -> None:
    import vis.engine._audio as audio

    monkeypatch.setattr(audio, "muxer_name", lambda: None)
    assert "not copied" in copy_audio(tmp_path / "a.mp4", tmp_path / "b.mp4")


def test_sink_takes_uint8_bgr_frames_as_they_are(tmp_path) -> None:
    """The device loop hands back uint8 BGR frames: written unchanged, they equal the float RGB path's frames."""
    from vis.engine._images import to_uint8
    from vis.engine._video import as_bgr_uint8

    rng = np.random.default_rng(0)
    floats = [rng.random((60, 80, 3), dtype=np.float32) for _ in range(3)]
    assert np.array_equal(as_bgr_uint8(floats[0]), to_uint8(floats[0]))
    raw = to_uint8(floats[1])
    assert as_bgr_uint8(raw) is raw
    frames = {}
    for kind, batch in (("float", floats), ("uint8", [to_uint8(f) for f in floats])):
        path = tmp_path / f"{kind}.avi"
        with VideoSink(path, 10, (80, 60)) as sink:
            for frame in batch:
                sink.write(frame)
        cap = cv2.VideoCapture(str(path))
        frames[kind] = [cap.read()[1] for _ in range(3)]
        cap.release()
    assert all(np.array_equal(a, b) for a, b in zip(frames["float"], frames["uint8"]))


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_a_sink_that_got_no_frame_leaves_no_file(tmp_path, suffix) -> None:
    """Also what Ctrl-C before the first frame comes to (FFmpeg cannot finish a GIF without a frame)."""
    out = tmp_path / f"empty{suffix}"
    with VideoSink(out, 10.0, (32, 32)):
        pass
    assert not out.exists()


@pytest.mark.parametrize("suffix", [".mkv", ".mp4", ".avi"])
def test_a_failed_write_raises_and_a_failed_close_still_removes_an_empty_file(tmp_path, full_disk, suffix) -> None:
    """A full disk: the write raises its OSError (OpenCV's writer, which .mkv used, dropped it without a word), and
    a close that fails too (no room for the trailer) still removes a file that got no frame."""
    import errno

    full_disk(0, close_fails=True)
    out = tmp_path / f"full{suffix}"
    with pytest.raises(OSError) as raised:
        with VideoSink(out, 10.0, (32, 32)) as sink:
            sink.write(np.zeros((32, 32, 3), np.float32))
    assert raised.value.errno == errno.ENOSPC and sink.frames_written == 0
    assert not out.exists()


@pytest.mark.parametrize("suffix", [".webm", ".flv", ".txt", ""])
def test_a_sink_refuses_suffixes_it_does_not_write(tmp_path, suffix) -> None:
    with pytest.raises(OutputPathError, match="cannot write a video"):
        VideoSink(tmp_path / f"o{suffix}", 10.0, (32, 32))
    assert list(tmp_path.iterdir()) == []


def test_audio_copy_keeps_the_videos_permissions(tmp_path) -> None:
    pytest.importorskip("av")
    src = tmp_path / "with_audio.mp4"
    _write_clip_with_audio(src)
    out = tmp_path / "dreamed.mp4"
    _rewrite(src, out)
    out.chmod(0o644)
    assert "copied" in copy_audio(src, out)
    assert out.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("suffix", [".avi", ".mp4"])
def test_audio_copy_keeps_every_frame_at_its_time(tmp_path, suffix) -> None:
    """AAC starts with a priming packet before 0, which AVI cannot hold: it must not push the video by a frame."""
    av = pytest.importorskip("av")
    src = tmp_path / "with_audio.mp4"
    _write_clip_with_audio(src)
    out = tmp_path / f"dreamed{suffix}"
    _rewrite(src, out)
    assert "copied" in copy_audio(src, out) and has_audio(out)
    with av.open(str(out)) as c:
        stream = c.streams.video[0]
        times = [float(p.pts * stream.time_base) for p in c.demux(stream) if p.pts is not None]
    assert times == pytest.approx([i / 10 for i in range(10)], abs=1e-3)


@pytest.mark.parametrize("suffix", [".mkv", ".mp4", ".avi"])
def test_the_sound_of_a_shortened_video_ends_with_it(tmp_path, suffix) -> None:
    """--max-frames 3 of a 1 s clip: 0.3 s of sound, not the whole second (Matroska keeps no stream duration, so the
    end is read off the video's last packet)."""
    av = pytest.importorskip("av")
    src = tmp_path / "with_audio.mp4"
    _write_clip_with_audio(src)
    out = tmp_path / f"short{suffix}"
    _rewrite(src, out, frames=3)
    assert "copied" in copy_audio(src, out)
    with av.open(str(out)) as c:
        audio = c.streams.audio[0]
        ends = [float((p.pts + (p.duration or 0)) * audio.time_base) for p in c.demux(audio) if p.pts is not None]
    assert 0.25 < max(ends) < 0.3 + 0.13  # at most two 64 ms AAC packets past the last frame


def test_a_writer_that_fails_to_open_leaves_no_file(tmp_path, monkeypatch) -> None:
    # PyAV creates the file before the encoder opens; a left-over empty file would make the next run say "exists"
    import vis.engine._video_sink as video_sink

    class Container:
        def __init__(self, path: str):
            Path(path).write_bytes(b"")

        def add_stream(self, *args, **kwargs):
            raise ValueError("no such encoder")

        def close(self) -> None:
            pass

    fake_av = type("av", (), {"codecs_available": {"libx264"}, "open": staticmethod(lambda p, *a, **k: Container(p))})
    monkeypatch.setattr(video_sink, "import_av", lambda: fake_av)
    out = tmp_path / "out.mp4"
    with pytest.raises(OutputPathError, match="no such encoder"):
        VideoSink(out, 12.0, (64, 48))
    assert not out.exists()
    out.write_bytes(b"the user's own")
    sink = VideoSink(out, 12.0, (64, 48), overwrite=True)  # a file being replaced opens with the first frame
    assert out.read_bytes() == b"the user's own"
    with pytest.raises(OutputPathError):
        sink.write(np.zeros((48, 64, 3), np.uint8))
    assert out.exists()  # a file that was there before is not removed by a failed open


def test_a_variable_frame_rate_keeps_each_frames_time(tmp_path, variable_rate_clip) -> None:
    """OpenCV reports the average rate only (16 fps here), which would squeeze the pauses out: the frames keep their
    own times on the nominal rate's grid instead."""
    ticks = [0, 1, 2, 10, 11, 12, 30, 31]
    src = variable_rate_clip(tmp_path / "vfr.mp4", ticks)
    out = tmp_path / "out.mp4"
    with VideoSource(src) as source, VideoSink(out, source.fps, (source.width, source.height)) as sink:
        assert source.variable_rate and source.fps == 30.0
        for i, frame in enumerate(source):
            sink.write(frame, at=source.frame_time(i))
    assert [t for t, _ in frame_times(out)] == pytest.approx([t / 30 for t in ticks], abs=1e-3)
    levels = [level for _, level in frame_times(out)]  # the frames in order, none repeated
    assert levels == sorted(levels) and len(set(levels)) == 8


def test_a_variable_rate_the_container_does_not_announce_is_seen_in_the_times(tmp_path, variable_rate_clip) -> None:
    """Matroska written with a nominal 30 fps reports it as the average too; the frames' times tell the pauses, and
    OpenCV's count (its duration times the rate) does not make the clip look cut."""
    ticks = [0, 1, 2, 15, 16, 40]
    with VideoSource(variable_rate_clip(tmp_path / "vfr.mkv", ticks)) as source:
        assert len(list(source)) == 6 and source.variable_rate and not source.truncated
        assert [source.frame_time(i) for i in range(6)] == pytest.approx([t / 30 for t in ticks], abs=2e-3)


@pytest.mark.parametrize("suffix", [".mp4", ".mpg"])
def test_a_constant_frame_rate_is_not_variable(tmp_path, suffix) -> None:
    """Each frame at its place on the rate's grid, also in MPEG-PS, whose last frame OpenCV gives time 0."""
    frames = [scene(shift=i) for i in range(8)]
    if suffix == ".mp4":
        src = write_video(tmp_path / "cfr.mp4", frames)
    else:
        import av

        src = tmp_path / "cfr.mpg"
        with av.open(str(src), "w") as c:
            stream = c.add_stream("mpeg2video", rate=12)
            stream.width, stream.height, stream.pix_fmt = 96, 72, "yuv420p"
            for f in frames:
                for p in stream.encode(av.VideoFrame.from_ndarray((f * 255).astype(np.uint8), format="rgb24")):
                    c.mux(p)
            for p in stream.encode():
                c.mux(p)
    with VideoSource(src) as source:
        assert not source.variable_rate and source.fps == 12.0
        assert len(list(source)) == 8 and not source.variable_rate and not source.truncated
        assert [source.frame_time(i) for i in range(8)] == pytest.approx([i / 12 for i in range(8)], abs=1e-3)


@pytest.mark.parametrize("guessed, average, expected", [
    (Fraction(30), Fraction(30), None),  # constant
    (Fraction(30000, 1001), Fraction(2997, 100), None),  # within 0.5%: constant
    (Fraction(30), Fraction(16), 30.0),  # pauses: the nominal rate
    (Fraction(1000), Fraction(2997, 100), 120.0),  # a millisecond clock: a grid of 1/120 s is fine enough
])
def test_which_rates_count_as_variable(tmp_path, monkeypatch, guessed, average, expected) -> None:
    import types

    import vis.engine._video as video

    stream = types.SimpleNamespace(guessed_rate=guessed, average_rate=average, frames=8, sample_aspect_ratio=None,
                                   codec_context=types.SimpleNamespace(pix_fmt=None))

    class Container:
        streams = types.SimpleNamespace(video=[stream])
        start_time = 0

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(video, "import_av", lambda: types.SimpleNamespace(open=lambda path: Container()))
    assert video._probe(tmp_path / "any.mp4") == (expected, 8, 0.0, None, ())


def test_an_flv_whose_frames_start_late_is_whole_and_a_cut_one_is_not(tmp_path) -> None:
    """An FLV keeps no frame count, so OpenCV's is its duration x rate, and an H.264 FLV's duration includes the
    B-frames' delay before the first frame: 8 frames at 12 fps were announced as 10 and called truncated."""
    import av

    path = tmp_path / "b_frames.flv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(36):
            for packet in stream.encode(av.VideoFrame.from_ndarray((scene(48, 64, shift=i) * 255).astype(np.uint8), format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with VideoSource(path) as whole:
        assert whole.frame_count > 36  # the duration's count, with the delay
        assert len(list(whole)) == 36 and not whole.truncated
    cut = tmp_path / "cut.flv"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with VideoSource(cut) as source:
        assert len(list(source)) < 30 and source.truncated
