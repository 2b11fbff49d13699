"""`vis dream` through CliRunner and as a subprocess: images, zoom, video, bad inputs, interruption."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from vis.cli import app

runner = CliRunner()
FAST = ["--model", "efficientnet_lite0", "--octaves", "1", "--iterations", "1", "--threads", "2", "-q"]
# frames of a video stopped mid-way: at FAST's settings ~80 fps dream here, and a log shows progress every 5 s
LONG = 3000


def invoke(*args: str):
    return runner.invoke(app, ["dream", *map(str, args)])


def write_video(path: Path, n: int, size=(80, 60), fps: float = 12.0) -> Path:
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(0, 255, (size[1], size[0] + n, 3), dtype=np.uint8), (0, 0), 2)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for i in range(n):
        w.write(np.ascontiguousarray(base[:, i:i + size[0]]))
    w.release()
    return path


def video_info(path: Path) -> tuple[int, int, float, int]:
    cap = cv2.VideoCapture(str(path))
    info = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), cap.get(cv2.CAP_PROP_FPS))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return (*info, n)


def test_image_to_image_reports_memory(tmp_path, sample_photo) -> None:
    out = tmp_path / "d.png"
    result = invoke(sample_photo, "-o", out, "--max-size", "64", "--seed", "1", *FAST)
    assert result.exit_code == 0, result.output
    assert cv2.imread(str(out)).shape == (43, 64, 3)
    h, w = cv2.imread(str(sample_photo)).shape[:2]
    assert f"wrote {out} (64x43, the input's {w}x{h} shrunk to 64 a side)" in result.output
    assert "peak memory" in result.output
    whole = invoke(sample_photo, "-o", tmp_path / "whole.png", *FAST)
    assert f"wrote {tmp_path / 'whole.png'} ({w}x{h})" in whole.output
    again = invoke(sample_photo, "-o", out, "--max-size", "64", *FAST)
    assert again.exit_code == 2 and "--overwrite" in again.output


def test_the_header_names_the_classes_an_objective_reads(tmp_path, sample_photo) -> None:
    result = invoke(sample_photo, "-o", tmp_path / "c.png", "--max-size", "48", "--objective",
                    "class:goldfish+0.5*block10", *FAST[:-1])
    assert result.exit_code == 0, result.output
    assert "objective 1*class:1 'goldfish' + 0.5*block10, ort backend" in result.output


def cut_out(path: Path, size=(72, 96)) -> np.ndarray:
    """A photo-like RGBA PNG whose right half is transparent and a band half so; returns its alpha (uint8)."""
    rng = np.random.default_rng(3)
    bgra = cv2.GaussianBlur(rng.integers(0, 255, (*size, 4), dtype=np.uint8), (0, 0), 2)
    bgra[..., 3] = 255
    bgra[:, size[1] // 2:, 3] = 0
    bgra[:8, :, 3] = 128
    cv2.imwrite(str(path), bgra)
    return bgra[..., 3]


def test_a_cut_out_keeps_its_transparency(tmp_path) -> None:
    """An RGBA input's alpha goes back onto the dream (resized with it); where the format has none, the dream is
    shown over white, as the input was dreamed."""
    alpha = cut_out(tmp_path / "cut.png")
    result = invoke(tmp_path / "cut.png", "-o", tmp_path / "d.png", "--seed", "1", *FAST)
    assert result.exit_code == 0, result.output
    written = cv2.imread(str(tmp_path / "d.png"), cv2.IMREAD_UNCHANGED)
    assert written.shape == (72, 96, 4) and np.array_equal(written[..., 3], alpha)
    assert np.abs(written[..., :3].astype(int) - 255).max() > 40  # the transparent half was dreamed, not left white
    small = invoke(tmp_path / "cut.png", "-o", tmp_path / "s.webp", "--max-size", "48", *FAST)
    assert small.exit_code == 0, small.output
    shrunk = cv2.imread(str(tmp_path / "s.webp"), cv2.IMREAD_UNCHANGED)
    assert shrunk.shape == (36, 48, 4)
    assert np.abs(shrunk[..., 3].astype(int) - cv2.resize(alpha, (48, 36), interpolation=cv2.INTER_AREA)).max() <= 1
    flat = invoke(tmp_path / "cut.png", "-o", tmp_path / "d.jpg", "--seed", "1", *FAST)
    assert flat.exit_code == 0, flat.output
    jpeg = cv2.imread(str(tmp_path / "d.jpg"))
    assert jpeg.shape == (72, 96, 3) and jpeg[10:, 52:].min() >= 245  # the clear half over white


def deep_photo(path: Path, size=(48, 64), channels: int = 3) -> np.ndarray:
    """A smooth 16-bit image (a blurred noise on a ramp: more levels than 8 bits hold); returns its pixels (BGR(A))."""
    rng = np.random.default_rng(5)
    noise = cv2.GaussianBlur(rng.random((*size, channels), dtype=np.float32), (0, 0), 3)
    ramp = np.linspace(0.0, 0.5, size[1], dtype=np.float32)[None, :, None]
    pixels = np.round((0.5 * noise + ramp) * 65535).astype(np.uint16)
    cv2.imwrite(str(path), pixels)
    return pixels


def test_a_16_bit_photo_is_dreamed_into_16_bits_where_the_format_holds_them(tmp_path) -> None:
    """A 16-bit PNG dreamed into .png or .tif stays 16-bit (a 16-bit alpha exactly); into .jpg it is 8-bit, with one
    note; an 8-bit input still writes 8 bits, without one."""
    deep = deep_photo(tmp_path / "deep.png", channels=4)
    for name in ("d.png", "d.tif"):
        result = invoke(tmp_path / "deep.png", "-o", tmp_path / name, "--seed", "1", *FAST)
        assert result.exit_code == 0, result.output
        assert "note:" not in result.stderr
        written = cv2.imread(str(tmp_path / name), cv2.IMREAD_UNCHANGED)
        assert written.dtype == np.uint16 and written.shape == (48, 64, 4)
        assert len(np.unique(written[..., :3])) > 256 and np.array_equal(written[..., 3], deep[..., 3])
    flat = invoke(tmp_path / "deep.png", "-o", tmp_path / "d.jpg", "--seed", "1", *FAST)
    assert flat.exit_code == 0, flat.output
    assert cv2.imread(str(tmp_path / "d.jpg"), cv2.IMREAD_UNCHANGED).dtype == np.uint8
    assert flat.stderr.count("note: .jpg holds 8 bits a channel") == 1
    cv2.imwrite(str(tmp_path / "eight.png"), (deep[..., :3] // 257).astype(np.uint8))
    eight = invoke(tmp_path / "eight.png", "-o", tmp_path / "e.png", "--seed", "1", *FAST)
    assert eight.exit_code == 0, eight.output
    assert "note:" not in eight.stderr
    assert cv2.imread(str(tmp_path / "e.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint8


def test_a_colour_dream_into_a_grey_only_format_says_the_colours_are_lost(tmp_path) -> None:
    """.pgm holds grey only: the dream is written as its luminance, with a note, as the loss of 16 bits gets one."""
    cv2.imwrite(str(tmp_path / "photo.png"), (deep_photo(tmp_path / "deep.png") // 257).astype(np.uint8))
    result = invoke(tmp_path / "photo.png", "-o", tmp_path / "d.pgm", "--seed", "1", *FAST)
    assert result.exit_code == 0, result.output
    assert result.stderr.count("note: .pgm holds grey only: the colours are lost (.png keeps them)") == 1
    assert cv2.imread(str(tmp_path / "d.pgm"), cv2.IMREAD_UNCHANGED).shape == (48, 64)


def test_demo_into_a_folder_then_again(tmp_path) -> None:
    """The README's first command: the bundled photo dreamed with real weights, an image and a 12-frame zoom."""
    folder = tmp_path / "out"
    result = invoke("--demo", "-o", folder, "--threads", "2")
    assert result.exit_code == 0, result.output
    image = cv2.imread(str(folder / "dream-demo.jpg"))
    assert image is not None and max(image.shape[:2]) == 400
    w, h, fps, n = video_info(folder / "dream-zoom-demo.mp4")
    assert n == 12 and fps == 12.0 and max(w, h) == 320
    assert "wrote" in result.output and "peak memory" in result.output
    again = invoke("--demo", "-o", folder, "--threads", "2")  # its own files: replaced, and it says so
    assert again.exit_code == 0 and "overwriting the demo's earlier outputs" in again.output


@pytest.mark.parametrize("extra, message", [(["--provider", "cudaa"], "unknown provider 'cudaa'"),
                                            (["--backend", "banana"], "unknown backend 'banana'")])
def test_demo_refuses_a_bad_backend_or_provider_before_it_loads(tmp_path, extra, message) -> None:
    folder = tmp_path / "out"
    result = invoke("--demo", "-o", folder, *extra)
    assert result.exit_code == 2 and message in result.output, result.output
    assert "wrote" not in result.output and not folder.exists()


def test_demo_keeps_a_users_file_that_has_a_demo_name(tmp_path) -> None:
    """Only files an earlier demo wrote (and nobody changed since) are replaced without --overwrite."""
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "dream-demo.jpg").write_bytes(b"my own photo")
    refused = invoke("--demo", "-o", folder, "--threads", "2")
    assert refused.exit_code == 2 and "is not an output of an earlier demo" in refused.output, refused.output
    assert (folder / "dream-demo.jpg").read_bytes() == b"my own photo"
    assert invoke("--demo", "-o", folder, "--threads", "2", "--overwrite").exit_code == 0
    (folder / "dream-zoom-demo.mp4").write_bytes(b"edited since")  # a demo's file, changed by the user
    refused = invoke("--demo", "-o", folder, "--threads", "2")
    assert refused.exit_code == 2 and "dream-zoom-demo.mp4 exists" in refused.output
    assert (folder / "dream-zoom-demo.mp4").read_bytes() == b"edited since"


def test_a_demo_stopped_half_way_does_not_block_the_next(tmp_path, monkeypatch) -> None:
    """Ctrl-C during the zoom left a dreamed image that no record named, and the next demo refused to replace it."""
    import vis.cli._dream_demo as demo

    def stopped(setup, image, path, *args, **kwargs):
        path.write_bytes(b"a few frames")
        raise KeyboardInterrupt

    folder = tmp_path / "out"
    with monkeypatch.context() as patch:
        patch.setattr(demo, "run_zoom", stopped)
        first = invoke("--demo", "-o", folder, "--threads", "2")
    assert first.exit_code == 130 and (folder / "dream-demo.jpg").exists(), first.output
    again = invoke("--demo", "-o", folder, "--threads", "2")
    assert again.exit_code == 0 and "overwriting the demo's earlier outputs" in again.output, again.output


def test_demo_into_named_files_keeps_existing_ones(tmp_path) -> None:
    from vis.cli._dream_demo import demo_outputs

    assert demo_outputs(tmp_path / "a.png") == (tmp_path / "a.png", tmp_path / "a-zoom.mp4", True)
    assert demo_outputs(tmp_path / "b.mp4") == (tmp_path / "b.jpg", tmp_path / "b.mp4", True)
    (tmp_path / "c.png").mkdir()  # an existing folder stays a folder
    assert demo_outputs(tmp_path / "c.png")[0] == tmp_path / "c.png" / "dream-demo.jpg"
    (tmp_path / "a-zoom.mp4").write_bytes(b"keep me")
    refused = invoke("--demo", "-o", tmp_path / "a.png")
    assert refused.exit_code == 2 and "a-zoom.mp4 exists" in refused.output and "--overwrite" in refused.output
    assert (tmp_path / "a-zoom.mp4").read_bytes() == b"keep me" and not (tmp_path / "a.png").exists()
    result = invoke("--demo", "-o", tmp_path / "a.png", "--overwrite", "--threads", "2")
    assert result.exit_code == 0, result.output
    assert cv2.imread(str(tmp_path / "a.png")) is not None and video_info(tmp_path / "a-zoom.mp4")[3] == 12


def test_unreadable_input_is_one_line_of_ours(tmp_path) -> None:
    """FFmpeg inside OpenCV has its own say about a broken file; the user sees vis's line only."""
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_FFMPEG_LOGLEVEL"}
    done = subprocess.run([sys.executable, "-m", "vis", "dream", str(bad), "-o", str(tmp_path / "o.mp4")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"error: not an image or video that can be read: {bad}"]


def test_default_model_says_which(tmp_path, sample_photo) -> None:
    result = invoke(sample_photo, "-o", tmp_path / "d.jpg", "--max-size", "48", "--octaves", "1", "--iterations", "1",
                    "--backend", "torch", "-q")
    assert result.exit_code == 0, result.output
    assert "efficientnet_lite0" in result.output or "googlenet" in result.output


def test_zoom_video(tmp_path, sample_photo) -> None:
    out = tmp_path / "z.mp4"
    result = invoke(sample_photo, "-o", out, "--max-size", "64", "--zoom-frames", "3", "--fps", "8", *FAST)
    assert result.exit_code == 0, result.output
    assert video_info(out) == (64, 42, 8.0, 3)  # even sizes for the codec


def test_video_keeps_size_and_fps(tmp_path) -> None:
    src = write_video(tmp_path / "in.mp4", 5, fps=12)
    out = tmp_path / "out.mp4"
    result = invoke(src, "-o", out, "--max-size", "48", *FAST)
    assert result.exit_code == 0, result.output
    assert video_info(out) == (80, 60, 12.0, 5)
    assert "audio" not in result.output  # -q: a silent input is no news
    loud = invoke(src, "-o", tmp_path / "loud.mp4", "--max-size", "48", *[a for a in FAST if a != "-q"])
    assert loud.exit_code == 0 and "input has no audio" in loud.stdout


@pytest.mark.parametrize("name, codec, pix_fmt, note", [
    ("cutout.mov", "png", "rgba", "note: cutout.mov has transparency, which the dreamed video does not keep"),
    ("deep.mkv", "ffv1", "yuv420p16le", "note: deep.mkv has 16 bits a channel; the dreamed video has 8"),
    ("plain.mkv", "ffv1", "yuv420p", None),
])
def test_what_a_video_output_cannot_hold_of_the_input_is_said(tmp_path, name, codec, pix_fmt, note) -> None:
    """As a 16-bit photo dreamed into a JPEG is: a video input lost its alpha or its depth without a word."""
    av = pytest.importorskip("av")
    src = tmp_path / name
    with av.open(str(src), "w") as c:
        stream = c.add_stream(codec, rate=12)
        stream.width, stream.height, stream.pix_fmt = 64, 48, pix_fmt
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 4), 60 * i, np.uint8), format="rgba")
            frame.pts = i
            c.mux(stream.encode(frame))
        c.mux(stream.encode())
    result = invoke(src, "-o", tmp_path / "out.mp4", "--max-size", "48", *FAST)
    assert result.exit_code == 0 and video_info(tmp_path / "out.mp4")[3] == 3, result.output
    assert (note in result.output) if note else "note:" not in result.output, result.output


def test_guided_torch(tmp_path, sample_photo) -> None:
    result = invoke(sample_photo, "-o", tmp_path / "g.png", "--max-size", "48", "--guide", sample_photo,
                    "--backend", "torch", *FAST)
    assert result.exit_code == 0, result.output
    assert "guide:block10" in result.output


def test_googlenet_guides_inception3b_as_the_seminar_does(tmp_path, sample_photo) -> None:
    """Its plain dream stays on inception4c; a --guide image without an objective pulls inception_3b/output."""
    args = ["--max-size", "48", "-m", "googlenet", "-w", "random", *FAST[2:]]
    result = invoke(sample_photo, "-o", tmp_path / "g.png", "--guide", sample_photo, *args)
    assert result.exit_code == 0, result.output
    assert "objective guide:inception3b" in result.output
    plain = invoke(sample_photo, "-o", tmp_path / "p.png", *args)
    assert plain.exit_code == 0 and "objective inception4c" in plain.output


def test_an_animated_guide_is_its_first_frame_and_said_so(tmp_path, sample_photo, animation) -> None:
    photo = cv2.resize(cv2.imread(str(sample_photo)), (64, 48))[..., ::-1]
    guide = animation.write(tmp_path / "guide.gif", [photo, photo[::-1]], 100)
    result = invoke(sample_photo, "-o", tmp_path / "g.png", "--max-size", "48", "--guide", guide, *FAST)
    assert result.exit_code == 0, result.output
    assert f"note: --guide {guide} is animated: only its first frame is used" in result.stderr


def test_octaves_the_image_has_no_room_for_are_named(tmp_path, sample_photo) -> None:
    result = invoke(sample_photo, "-o", tmp_path / "o.png", "--max-size", "96", *FAST, "--octaves", "50")
    assert result.exit_code == 0, result.output
    assert "96x64 px has room for 3 of the 50 --octaves" in result.output and "dreaming 3" in result.output


def test_a_guide_term_in_a_mixture_takes_the_guide_image(tmp_path, sample_photo) -> None:
    """Without --guide the message asks for one; with it, the mixture runs (it was refused as 'not a layer')."""
    mixture = ["--objective", "block10 + 0.5*guide:block9", "--max-size", "48"]
    asked = invoke(sample_photo, "-o", tmp_path / "g.png", *mixture, *FAST)
    assert asked.exit_code == 2 and "needs a guide image: pass --guide IMAGE" in asked.output, asked.output
    result = invoke(sample_photo, "-o", tmp_path / "g.png", "--guide", sample_photo, *mixture, *FAST)
    assert result.exit_code == 0, result.output
    assert "guide:block9" in result.output and (tmp_path / "g.png").exists()


def test_device_loop_on_cpu_matches_the_host_loop(tmp_path, sample_photo) -> None:
    outs = {}
    for loop in ("host", "device"):
        outs[loop] = tmp_path / f"{loop}.png"
        result = invoke(sample_photo, "-o", outs[loop], "--max-size", "64", "--seed", "3", "--provider", "cpu",
                        "--loop", loop, *FAST)
        assert result.exit_code == 0, result.output
    assert np.array_equal(cv2.imread(str(outs["host"])), cv2.imread(str(outs["device"])))  # one octave: no resize


@pytest.mark.parametrize("loop, dtype", [("device", np.uint8), ("host", np.float32)])
def test_video_frames_reach_the_loop_as_decoded_only_on_the_device(tmp_path, monkeypatch, loop, dtype) -> None:
    """The device loop takes uint8 BGR frames (converted on the device); the host loop float RGB ones."""
    import vis.engine._device_dream as device_dream
    import vis.engine._dream as host_dream

    seen = []
    real_device, real_host = device_dream.DeviceDreamer.dream_frames, host_dream._dream  # the loop's own frames

    def device_spy(self, frames, *args, **kwargs):
        return real_device(self, (seen.append(f.dtype) or f for f in frames), *args, **kwargs)

    def host_spy(backend, image, *args, **kwargs):
        seen.append(image.dtype)
        return real_host(backend, image, *args, **kwargs)

    monkeypatch.setattr(device_dream.DeviceDreamer, "dream_frames", device_spy)
    monkeypatch.setattr(host_dream, "_dream", host_spy)
    src = write_video(tmp_path / "in.mp4", 3, fps=12)
    out = tmp_path / "out.mp4"
    result = invoke(src, "-o", out, "--max-size", "48", "--provider", "cpu", "--loop", loop, *FAST)
    assert result.exit_code == 0, result.output
    assert video_info(out) == (80, 60, 12.0, 3)
    assert seen == [np.dtype(dtype)] * 3


@pytest.mark.parametrize("fail_after", [None, 5])
def test_video_holds_every_dreamed_frame_in_order(tmp_path, monkeypatch, fail_after) -> None:
    """Frames are encoded in a worker while the next is dreamed: all of them land, in order, also when the dream
    stops with an error part way (the frames before it are kept)."""
    import vis.engine._dream as host_dream
    from vis.errors import VisError

    def numbered_frames(backend, frames, *args, **kwargs):
        for i, frame in enumerate(frames):
            if i == fail_after:
                raise VisError("the dream broke")
            yield np.full(frame.shape, 0.1 * (i % 8) + 0.1, np.float32)  # frame i is grey level i

    monkeypatch.setattr(host_dream, "dream_frames", numbered_frames)
    src = write_video(tmp_path / "in.mp4", 8, fps=12)
    out = tmp_path / "out.avi"  # MJPEG: every frame kept, each decodable alone
    result = invoke(src, "-o", out, "--provider", "cpu", *FAST)
    assert result.exit_code == (0 if fail_after is None else 2), result.output
    cap = cv2.VideoCapture(str(out))
    levels = []
    while (got := cap.read())[0]:
        levels.append(round((got[1].mean() / 255 - 0.1) / 0.1))
    cap.release()
    assert levels == list(range(fail_after or 8))


@pytest.mark.parametrize("flags, message", [
    (["--cuda-graph", "--provider", "cpu"], "CUDA graphs need the cuda execution provider"),
    (["--loop", "gpu"], "unknown dream loop 'gpu'"),
    (["--loop", "device", "--backend", "torch"], "use --backend ort"),
    (["--loop", "host", "--backend", "torch"], "use --backend ort"),
    (["--loop", "banana", "--backend", "torch"], "unknown dream loop 'banana'"),
])
def test_bad_loop_flags_exit_2(tmp_path, sample_photo, flags, message) -> None:
    result = invoke(sample_photo, "-o", tmp_path / "o.png", "--max-size", "48", *flags, *FAST)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("case", ["missing", "text", "zero_frames", "webcam", "no_input", "bad_out", "preview"])
def test_bad_inputs_exit_2_with_one_message(tmp_path, sample_photo, case) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video " * 50)
    zero = tmp_path / "zero.avi"
    cv2.VideoWriter(str(zero), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 32)).release()
    args = {
        "missing": [tmp_path / "nope.png", "-o", tmp_path / "o.png"],
        "text": [text, "-o", tmp_path / "o.mp4"],
        "zero_frames": [zero, "-o", tmp_path / "o.mp4"],
        "webcam": ["--webcam", "57", "-o", tmp_path / "o.mp4"],
        "no_input": ["-o", tmp_path / "o.png"],
        "bad_out": [sample_photo, "-o", tmp_path / "o.txt"],
        "preview": [sample_photo, "-o", tmp_path / "o.png", "--preview"],
    }[case]
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = runner.invoke(app, ["dream", *map(str, args), *FAST], env=env)
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and "Traceback" not in result.output


def test_sigint_mid_video_leaves_a_playable_file(tmp_path, dream_process) -> None:
    src = write_video(tmp_path / "long.mp4", LONG, size=(64, 48))
    out = tmp_path / "partial.mp4"
    proc = dream_process.start(src, "-o", out, *FAST[:-1])  # progress on
    shown, buf = dream_process.read_until_frame(proc.stderr, 4)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, buf + err
    frames = video_info(out)[3]
    assert 4 <= shown <= frames < LONG
    assert f"{out} holds the {frames} frames done so far" in err, err  # the frames in the file, not those read


def test_sigkill_mid_video_leaves_the_frames_done(tmp_path, dream_process) -> None:
    """No handler runs on SIGKILL: the file must already be readable (fragmented MP4, one fragment per frame).

    Slack of one frame: the muxer writes a frame's fragment when the next frame arrives.
    """
    src = write_video(tmp_path / "long.mp4", LONG, size=(80, 60), fps=30000 / 1001)
    out = tmp_path / "killed.mp4"
    done = 6
    proc = dream_process.start(src, "-o", out, "--weights", "random", *FAST[:-1])
    shown, buf = dream_process.read_until_frame(proc.stderr, done)
    proc.kill()
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL and shown >= done, buf
    cap = cv2.VideoCapture(str(out))
    assert cap.isOpened(), f"{out} does not open after SIGKILL"
    fps = cap.get(cv2.CAP_PROP_FPS)
    shapes = []
    while (got := cap.read())[0]:
        shapes.append(got[1].shape)
    cap.release()
    assert shown - 1 <= len(shapes) < LONG
    assert set(shapes) == {(60, 80, 3)}
    assert fps == pytest.approx(video_info(src)[2], abs=1e-6)


def test_a_video_is_not_dreamed_into_itself(tmp_path) -> None:
    src = write_video(tmp_path / "clip.mp4", 6)
    before = src.read_bytes()
    result = invoke(src, "-o", tmp_path / "." / "clip.mp4", "--overwrite", *FAST)
    assert result.exit_code == 2 and "is the input" in result.output, result.output
    assert src.read_bytes() == before


@pytest.mark.parametrize("case, message", [
    ("parent_is_file", "is a file, not a folder"),
    ("output_is_folder", "is a folder"),
    ("webm", "cannot write a video as .webm"),
    ("zoom", "--zoom must be at least 0 and below 1"),
    ("step", "--step must be a finite number, got nan"),
    ("step_negative", "--step must be a positive number, got -1"),
    ("octave_scale_one", "--octave-scale must be a number above 1"),
    ("blend_above_one", "--blend must be in [0, 1], got 1.5"),
    ("flow_unknown", "--flow must be dis, farneback or none, got 'lk'"),
    ("flow_size_small", "--flow-size must be 0 (the dream's size) or at least 16 pixels, got 8"),
    ("blend_0_with_flow", "--blend 0 dreams every frame afresh"),
    ("blend_0_with_flow_size", "drop --flow-size, --iterations-per-frame (or raise --blend)"),
    ("flow_none_with_flow_size", "which --flow none turns off: drop --flow-size"),
    ("guide_tiny", "is 1x1 px: a guide needs at least 32 px a side"),
    ("guide_shrunk_tiny", "is 2000x50 px, seen at 224x6 (224 px long): a guide needs at least 32 px a side"),
    ("virtual_cam_missing", "--virtual-cam needs pyvirtualcam"),
    ("guide_channel", "--guide pulls one whole layer"),
    ("demo_with_input", "drop an input"),
    ("demo_bad_name", "--demo -o takes a folder"),
    ("demo_with_settings", "drop --octaves, --iterations, --zoom-frames (or drop --demo)"),
    ("fps_zero", "--fps must be a positive number"),
    ("octave_scale_nan", "--octave-scale must be a finite number, got nan"),
    ("jitter_huge", "--jitter must be at most 4096"),
    ("guide_dense", "'guide:avgpool': avgpool has no spatial map"),
    ("fps_huge", "--fps must be a positive number of frames per second up to 1000, got 1e+09"),
    ("webcam_to_image", "a webcam input makes a video: use a video output (.mp4, .mov, .m4v, .avi, .mkv, .gif), not .png"),
    ("guide_missing", "--guide: image not found"),
    ("shrunk_below_minimum", "is 2000x50 px, and --max-size 160 makes it 160x4: a dream needs at least 32 px a side (raise --max-size)"),
    ("webcam_negative", "--webcam"),
    ("zoom_frames_video", "--zoom-frames zooms into a still image"),
    ("zoom_frames_image_output", "--zoom-frames writes a video: use a video output (.mp4, .mov, .m4v, .avi, .mkv, .gif), not .png"),
    ("provider", "unknown provider 'foo'"),
    ("torch_cuda", "--provider"),
    ("grey_model", "DeepDream needs a colour model"),
    ("empty_objective", "the objective is empty"),
    ("neuron_outside_map", "outside block10's 27x20 map at a 427x320 input"),
    ("neuron_outside_video_map", "outside block10's 4x5 map at a 60x80 input"),
    ("fps_with_video", "a video keeps its own frame rate"),
    ("zoom_with_video", "--zoom applies to a zoom video only (an image with --zoom-frames N)\n"),  # no word on fps
    ("frame_option_with_image", "--blend, --flow apply to a video or webcam input only"),
    ("zoom_without_frames", "--zoom sets the zoom video of --zoom-frames N"),
    ("octaves_per_frame", "--octaves-per-frame 2 is above --octaves 1"),
])
def test_bad_settings_exit_2_before_any_work(tmp_path, sample_photo, monkeypatch, case, message) -> None:
    import vis.models as models
    from vis.engine._backend import _torch_cuda

    if case == "torch_cuda" and _torch_cuda():
        pytest.skip("this torch has CUDA")
    if case == "virtual_cam_missing" and importlib.util.find_spec("pyvirtualcam") is not None:
        pytest.skip("pyvirtualcam is installed here")

    def never(*args, **kwargs):
        raise AssertionError("the model was loaded before the settings were checked")

    monkeypatch.setattr(models, "get_model", never)
    clip = write_video(tmp_path / "clip.mp4", 3)
    (tmp_path / "folder.png").mkdir()
    wide = tmp_path / "folder.png" / "wide.png"  # inside the folder: the listing below stays as it is
    cv2.imwrite(str(wide), np.zeros((50, 2000, 3), np.uint8))
    dot = tmp_path / "folder.png" / "dot.png"
    cv2.imwrite(str(dot), np.zeros((1, 1, 3), np.uint8))
    args = {
        "parent_is_file": [sample_photo, "-o", tmp_path / "clip.mp4" / "o.png"],
        "output_is_folder": [sample_photo, "-o", tmp_path / "folder.png", "--overwrite"],
        "webm": [clip, "-o", tmp_path / "o.webm"],
        "zoom": [sample_photo, "-o", tmp_path / "z.mp4", "--zoom-frames", "3", "--zoom", "-0.5"],
        "step": [sample_photo, "-o", tmp_path / "o.png", "--step", "nan"],
        "step_negative": [sample_photo, "-o", tmp_path / "o.png", "--step", "-1"],
        "octave_scale_one": [sample_photo, "-o", tmp_path / "o.png", "--octave-scale", "1"],
        "blend_above_one": [clip, "-o", tmp_path / "o.mp4", "--blend", "1.5"],
        "flow_unknown": [clip, "-o", tmp_path / "o.mp4", "--flow", "lk"],
        "flow_size_small": [clip, "-o", tmp_path / "o.mp4", "--flow-size", "8"],
        "blend_0_with_flow": [clip, "-o", tmp_path / "o.mp4", "--blend", "0", "--flow", "dis"],
        "blend_0_with_flow_size": [clip, "-o", tmp_path / "o.mp4", "--blend", "0", "--flow-size", "100",
                                   "--iterations-per-frame", "2"],
        "flow_none_with_flow_size": [clip, "-o", tmp_path / "o.mp4", "--flow", "none", "--flow-size", "100"],
        "guide_tiny": [sample_photo, "-o", tmp_path / "o.png", "--guide", dot],
        "guide_shrunk_tiny": [sample_photo, "-o", tmp_path / "o.png", "--guide", wide],
        "virtual_cam_missing": [clip, "-o", tmp_path / "o.mp4", "--virtual-cam"],
        "guide_channel": [sample_photo, "-o", tmp_path / "o.png", "--guide", sample_photo, "--objective", "block10:3"],
        "webcam_negative": ["--webcam", "-1"],
        "zoom_frames_video": [clip, "-o", tmp_path / "z.mp4", "--zoom-frames", "3"],
        "zoom_frames_image_output": [sample_photo, "-o", tmp_path / "z.png", "--zoom-frames", "3"],
        "provider": [sample_photo, "-o", tmp_path / "o.png", "--provider", "foo"],
        "empty_objective": [sample_photo, "-o", tmp_path / "o.png", "--objective", ""],
        "torch_cuda": [sample_photo, "-o", tmp_path / "o.png", "--backend", "torch", "--provider", "tensorrt"],
        "neuron_outside_map": [sample_photo, "-o", tmp_path / "o.png", "--objective", "block10:3@27,0"],
        "neuron_outside_video_map": [clip, "-o", tmp_path / "o.mp4", "--objective", "block10:3@0,5"],
        "fps_with_video": [clip, "-o", tmp_path / "o.mp4", "--fps", "5"],
        "zoom_with_video": [clip, "-o", tmp_path / "o.mp4", "--zoom", "0.1"],
        "frame_option_with_image": [sample_photo, "-o", tmp_path / "o.png", "--blend", "0.3", "--flow", "none"],
        "zoom_without_frames": [sample_photo, "-o", tmp_path / "o.png", "--zoom", "0.1"],
        "octaves_per_frame": [clip, "-o", tmp_path / "o.mp4", "--octaves-per-frame", "2"],
        "fps_zero": [sample_photo, "-o", tmp_path / "z.mp4", "--zoom-frames", "2", "--fps", "0"],
        "octave_scale_nan": [sample_photo, "-o", tmp_path / "o.png", "--octave-scale", "nan"],
        "jitter_huge": [sample_photo, "-o", tmp_path / "o.png", "--jitter", "99999999999999999999999"],
        "guide_dense": [sample_photo, "-o", tmp_path / "o.png", "--guide", sample_photo, "--objective", "guide:avgpool"],
        "fps_huge": [sample_photo, "-o", tmp_path / "z.mp4", "--zoom-frames", "2", "--fps", "1e9"],
        "webcam_to_image": ["--webcam", "0", "-o", tmp_path / "o.png"],
        "guide_missing": [sample_photo, "-o", tmp_path / "o.png", "--guide", tmp_path / "nope.jpg"],
        "shrunk_below_minimum": [wide, "-o", tmp_path / "o.png", "--max-size", "160"],
    }.get(case, [])
    own_options = {"demo_with_input": ["--demo", clip], "demo_bad_name": ["--demo", "-o", tmp_path / "r.txt", "-q"],
                   "demo_with_settings": ["--demo", "--zoom-frames", "3", "--iterations", "2", "--octaves", "2", "-o",
                                          tmp_path / "d", "--threads", "1"],
                   "grey_model": [sample_photo, "-o", tmp_path / "o.png", "-m", "lenet5", "-w", "random", "-q"]}
    result = invoke(*args, *FAST) if args else invoke(*own_options[case])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "folder.png"]  # nothing written


def test_an_objective_typo_fails_before_the_weights_load(tmp_path, sample_photo, monkeypatch) -> None:
    """build_setup parses the objective (and reads a guide image) before get_model: a typo costs no model load."""
    import vis.models as models

    monkeypatch.setattr(models, "get_model", lambda *a, **k: (_ for _ in ()).throw(AssertionError("model loaded")))
    result = invoke(sample_photo, "-o", tmp_path / "o.png", "--objective", "block99", *FAST)
    assert result.exit_code == 2 and "unknown layer" in result.output, result.output


@pytest.mark.parametrize("objective, refused", [("class:3", "fc8"), ("conv5_4 + 0.1*fc6:7", "fc6"), ("avgpool", "avgpool")])
def test_vgg19_objectives_behind_its_fixed_size_classifier_are_refused_on_ort(tmp_path, sample_photo, monkeypatch,
                                                                            objective, refused) -> None:
    """Its ONNX graph takes 224x224 only, so the dream failed in ORT with a traceback at the first octave."""
    import vis.models as models

    monkeypatch.setattr(models, "get_model", lambda *a, **k: (_ for _ in ()).throw(AssertionError("model loaded")))
    result = invoke(sample_photo, "-o", tmp_path / "o.png", "-m", "vgg19", "-w", "random", "--objective", objective)
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert f"error: {refused} of vgg19 takes 224x224 inputs only on the ort backend" in message
    assert "up to pool5" in message and "--backend torch" in message and not (tmp_path / "o.png").exists()


def test_vgg19_class_objective_dreams_on_torch(tmp_path, sample_photo) -> None:
    """torchvision's adaptive pooling takes any size: the torch backend is what the refusal above points to."""
    out = tmp_path / "o.png"
    result = invoke(sample_photo, "-o", out, "-m", "vgg19", "-w", "random", "--objective", "class:3", "--backend",
                    "torch", "--max-size", "48", "--octaves", "1", "--iterations", "1", "-q")
    assert result.exit_code == 0, result.output
    assert out.exists()


def test_default_model_names_itself_when_an_objective_does_not_fit(tmp_path, sample_photo, monkeypatch) -> None:
    import vis.engine._dream_setup as dream_setup

    monkeypatch.setattr(dream_setup, "default_model", lambda: ("efficientnet_lite0", None))
    result = runner.invoke(app, ["dream", str(sample_photo), "-o", str(tmp_path / "o.png"), "--objective", "inception4c"])
    assert result.exit_code == 2, result.output
    assert "efficientnet_lite0 is the default model here" in result.output and "-m googlenet" in result.output


def test_odd_video_reports_the_size_written(tmp_path) -> None:
    """OpenCV's writers make even sizes themselves, so the odd clip is FFV1 in Matroska, written with PyAV."""
    av = pytest.importorskip("av")
    src = tmp_path / "odd.mkv"
    with av.open(str(src), "w") as container:
        stream = container.add_stream("ffv1", rate=12)
        stream.width, stream.height, stream.pix_fmt = 81, 61, "bgr0"
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.full((61, 81, 3), 60 * i, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    assert video_info(src)[:2] == (81, 61)
    out = tmp_path / "o.mp4"
    result = invoke(src, "-o", out, *FAST)
    assert result.exit_code == 0, result.output
    assert "80x60 at" in result.output and "cropped from 81x61: video encoders need even sides" in result.output
    assert video_info(out)[:2] == (80, 60)


def test_interrupt_before_the_first_frame_leaves_no_file(tmp_path, monkeypatch) -> None:
    import vis.engine._dream as dream_module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
        yield  # a generator, like dream_frames

    monkeypatch.setattr(dream_module, "dream_frames", interrupted)
    src = write_video(tmp_path / "clip.mp4", 4)
    out = tmp_path / "o.mp4"
    result = invoke(src, "-o", out, *FAST)
    assert result.exit_code == 130, result.output
    assert "nothing written" in result.output and not out.exists()


def test_sigterm_finishes_the_file_as_ctrl_c_does(tmp_path, dream_process) -> None:
    """SIGTERM finishes the file (a Matroska file's index is written on close) and says what it holds, as Ctrl-C does."""
    src = write_video(tmp_path / "long.mp4", LONG, size=(64, 48))
    out = tmp_path / "stopped.mkv"
    proc = dream_process.start(src, "-o", out, *FAST[:-1])
    shown, buf = dream_process.read_until_frame(proc.stderr, 4)
    proc.terminate()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, buf + err  # 128 + SIGTERM, as a shell reports it
    frames = video_info(out)[3]
    assert 4 <= frames < LONG and f"holds the {frames} frames done so far" in err, err


def test_an_avi_cut_before_it_opens_gets_one_error_line_as_subprocess(tmp_path) -> None:
    """OpenCV's own AVI parser, which it tried after FFmpeg, printed "Unexpected element..." past its log level."""
    whole = tmp_path / "whole.avi"
    writer = cv2.VideoWriter(str(whole), cv2.VideoWriter_fourcc(*"MJPG"), 12, (80, 60))
    for shade in range(0, 200, 10):
        writer.write(np.full((60, 80, 3), shade, np.uint8))
    writer.release()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(whole.read_bytes()[:1000])
    out = subprocess.run([sys.executable, "-m", "vis", "dream", str(cut), "-o", str(tmp_path / "o.mp4")],
                         capture_output=True, text=True, errors="replace", timeout=120)
    assert out.returncode == 2
    assert out.stderr == f"error: not a readable video (cut short or corrupt?): {cut}\n"


def test_a_truncated_video_keeps_the_frames_done_and_says_so(tmp_path) -> None:
    source = tmp_path / "cut.avi"
    writer = cv2.VideoWriter(str(source), cv2.VideoWriter_fourcc(*"MJPG"), 12, (80, 60))
    rng = np.random.default_rng(0)
    for _ in range(20):
        writer.write(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8))
    writer.release()
    source.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    out = tmp_path / "out.mp4"
    result = invoke(source, "-o", out, *FAST)
    assert result.exit_code == 2, result.output
    assert "ended after" in result.output and "(truncated or corrupt)" in result.output
    done = int(result.output.split("holds the ")[1].split()[0])
    assert 0 < done < 20 and video_info(out)[3] == done


TINY = ["--model", "efficientnet_lite0", "--octaves", "2", "--iterations", "1", "--threads", "1", "-q"]


@pytest.mark.parametrize("suffix, zoom", [(".mkv", False), (".mp4", False), (".avi", False), (".mkv", True)])
def test_a_full_disk_fails_and_keeps_the_frames_done(tmp_path, sample_photo, full_disk, suffix, zoom) -> None:
    """Every written kind reports a failed write (.mkv wrote through OpenCV, which dropped it and said "wrote")."""
    full_disk(3)
    out = tmp_path / f"out{suffix}"
    if zoom:
        result = invoke(sample_photo, "-o", out, "--max-size", "64", "--zoom-frames", "6", *TINY)
    else:
        result = invoke(write_video(tmp_path / "in.mp4", 6, size=(64, 48)), "-o", out, *TINY)
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {out}: No space left on device; {out} holds the frames done so far"], result.output
    assert "wrote" not in result.output and "Traceback" not in result.output
    assert video_info(out)[3] == 3


def test_a_full_disk_before_the_first_frame_leaves_no_file(tmp_path, full_disk) -> None:
    full_disk(0)
    out = tmp_path / "out.mkv"
    result = invoke(write_video(tmp_path / "in.mp4", 4, size=(64, 48)), "-o", out, *TINY)
    assert result.exit_code == 2 and "No space left on device; no frame was finished, nothing written" in result.output
    assert not out.exists()


def test_ctrl_c_reports_the_frames_in_the_file(tmp_path, monkeypatch) -> None:
    """Ctrl-C while the 6th frame is dreamed: 6 frames were read, the file holds 5, and the message says 5."""
    import vis.engine._dream as dream_module

    def stopped_at_six(backend, frames, *args, **kwargs):
        for i, frame in enumerate(frames):
            if i == 5:
                raise KeyboardInterrupt
            yield frame

    monkeypatch.setattr(dream_module, "dream_frames", stopped_at_six)
    out = tmp_path / "int.mp4"
    result = invoke(write_video(tmp_path / "in.mp4", 10, size=(64, 48)), "-o", out, *TINY)
    assert result.exit_code == 130, result.output
    assert f"interrupted; {out} holds the 5 frames done so far" in result.output
    assert video_info(out)[3] == 5


def test_ctrl_c_in_a_zoom_reports_the_frames_in_the_file(tmp_path, sample_photo, monkeypatch) -> None:
    import vis.engine._dream as dream_module

    def stopped_after_one(backend, image, *args, **kwargs):
        yield image
        raise KeyboardInterrupt

    monkeypatch.setattr(dream_module, "dream_zoom", stopped_after_one)
    out = tmp_path / "z.mp4"
    result = invoke(sample_photo, "-o", out, "--max-size", "64", "--zoom-frames", "4", *TINY)
    assert result.exit_code == 130, result.output
    assert f"interrupted; {out} holds the 1 frame done so far" in result.output  # one frame: no plural
    assert video_info(out)[3] == 1


def test_crop_notes_compare_with_the_input_size(tmp_path) -> None:
    """A 96x64 clip dreamed at --max-size 64 (64x43) is written 96x64: nothing was cropped. A 121x91 image zoomed
    is written 120x90: that is said, as for a video."""
    clip = write_video(tmp_path / "v6.mp4", 2, size=(96, 64))
    result = invoke(clip, "-o", tmp_path / "ms.mp4", "--max-size", "64", *TINY)
    assert result.exit_code == 0, result.output
    assert "(2 frames, 96x64 at 12 fps" in result.output and "cropped" not in result.output
    assert video_info(tmp_path / "ms.mp4")[:2] == (96, 64)
    odd = tmp_path / "odd.png"
    noise = np.random.default_rng(0).integers(0, 255, (91, 121, 3), np.uint8)
    cv2.imwrite(str(odd), cv2.GaussianBlur(noise, (0, 0), 2))
    zoomed = invoke(odd, "-o", tmp_path / "z.mp4", "--zoom-frames", "1", *TINY)
    assert zoomed.exit_code == 0, zoomed.output
    assert re.search(r"\(1 frame, 120x90 at 25 fps, zoom 0.05 per frame, \d+\.\d\d fps dreamed; cropped from 121x91: "
                     r"video encoders need even sides\)", zoomed.output), zoomed.output
    assert video_info(tmp_path / "z.mp4")[:2] == (120, 90)


def test_a_one_frame_video_is_one_frame(tmp_path) -> None:
    result = invoke(write_video(tmp_path / "v1.mp4", 1, size=(64, 48)), "-o", tmp_path / "o.mp4", *TINY)
    assert result.exit_code == 0, result.output
    assert "(1 frame, 64x48 at 12 fps" in result.output


def test_an_image_with_a_video_suffix_is_an_image(tmp_path, sample_photo) -> None:
    """Content decides the kind both ways: a PNG named .mp4 dreams into an image (an MP4 named .jpg is a video)."""
    disguised = tmp_path / "photo.mp4"
    cv2.imwrite(str(tmp_path / "p.png"), cv2.resize(cv2.imread(str(sample_photo)), (96, 64)))
    disguised.write_bytes((tmp_path / "p.png").read_bytes())
    result = invoke(disguised, "-o", tmp_path / "o.png", *TINY)
    assert result.exit_code == 0, result.output
    assert cv2.imread(str(tmp_path / "o.png")).shape == (64, 96, 3)
    as_video = invoke(disguised, "-o", tmp_path / "o.mp4", *TINY)
    assert as_video.exit_code == 2 and "is written as a video: pass --zoom-frames N" in as_video.output


def test_an_animated_gif_dreams_into_an_animated_gif(tmp_path, sample_photo, animation) -> None:
    """Every frame dreamed with the video loop, each keeping its own delay (a frame held half a second stays held)."""
    photo = cv2.resize(cv2.imread(str(sample_photo)), (72, 48))
    frames = [np.roll(photo, 3 * i, axis=1) for i in range(5)]
    src = animation.write(tmp_path / "in.gif", frames, [100, 500, 100, 100, 300])
    out = tmp_path / "out.gif"
    result = invoke(src, "-o", out, *TINY)
    assert result.exit_code == 0, result.output
    assert "(5 frames, 72x48, variable frame rate kept," in result.output
    assert "audio" not in result.output  # an image format has no sound to speak of
    assert animation.delays(out) == [100, 500, 100, 100, 300]
    dreamed = cv2.VideoCapture(str(out)).read()[1]
    assert dreamed.shape == (48, 72, 3) and np.abs(dreamed.astype(float) - frames[0]).mean() > 3  # changed


def test_a_gif_output_from_an_image_or_a_fast_video(tmp_path, sample_photo, animation) -> None:
    out = tmp_path / "z.gif"
    needs_zoom = invoke(sample_photo, "-o", out, *TINY)
    assert needs_zoom.exit_code == 2 and "written as an animated GIF: pass --zoom-frames N" in needs_zoom.output
    too_fast = invoke(sample_photo, "-o", out, "--zoom-frames", "3", "--fps", "60", *TINY)
    assert too_fast.exit_code == 2 and "a GIF plays at most 50 frames a second" in too_fast.output
    too_slow = invoke(sample_photo, "-o", out, "--zoom-frames", "3", "--fps", "0.001", *TINY)
    assert too_slow.exit_code == 2 and "a GIF frame shows at most 100 s here" in too_slow.output
    zoom = invoke(sample_photo, "-o", out, "--zoom-frames", "3", "--fps", "25", "--max-size", "64", *TINY)
    assert zoom.exit_code == 0, zoom.output
    assert animation.delays(out) == [40, 40, 40]  # 64x43: no even crop in a GIF
    assert cv2.VideoCapture(str(out)).read()[1].shape == (43, 64, 3)
    fast = invoke(write_video(tmp_path / "v60.mp4", 6, size=(48, 32), fps=60), "-o", tmp_path / "v.gif", *TINY)
    assert fast.exit_code == 0, fast.output
    assert "(4 frames, 48x32; 2 of the 60 fps input's frames left out, as a GIF plays at most 50 a second;" in fast.output



def test_a_variable_frame_rate_video_keeps_its_pauses(tmp_path, variable_rate_clip) -> None:
    """A clip that pauses (frames at 0, 1, 2, 10, 11, 30 thirtieths): the output keeps each frame's time."""
    import av

    ticks = [0, 1, 2, 10, 11, 30]
    out = tmp_path / "out.mp4"
    result = invoke(variable_rate_clip(tmp_path / "vfr.mp4", ticks), "-o", out, *TINY)
    assert result.exit_code == 0, result.output
    assert "(6 frames, 64x48, variable frame rate kept," in result.output
    with av.open(str(out)) as container:
        assert [float(f.time) for f in container.decode(video=0)] == pytest.approx([t / 30 for t in ticks], abs=1e-3)


@pytest.mark.parametrize("case", ["cut_in_first_frame", "junk"])
def test_a_broken_gif_is_one_clear_error(tmp_path, sample_photo, case, animation) -> None:
    """A GIF that does not decode is not handed to FFmpeg, which would dream a torn first frame as a video."""
    src = tmp_path / "in.gif"
    if case == "junk":
        src.write_bytes(b"GIF89a" + bytes(range(256)) * 8)
    else:
        photo = cv2.resize(cv2.imread(str(sample_photo)), (96, 64))
        whole = animation.write(tmp_path / "whole.gif", [photo, photo[::-1]], [100, 100]).read_bytes()
        src.write_bytes(whole[: len(whole) // 4])
    result = invoke(src, "-o", tmp_path / "out.gif", *TINY)
    assert result.exit_code == 2 and "not a readable image (cut short or corrupt?)" in result.output
    assert not (tmp_path / "out.gif").exists()
