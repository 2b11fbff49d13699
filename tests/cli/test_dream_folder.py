"""`vis dream FOLDER -o OUTDIR`: every still image of a folder dreamed into a folder of the same shape."""

from __future__ import annotations

import signal
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from vis.cli import app

runner = CliRunner()
FAST = ["--model", "efficientnet_lite0", "--weights", "random", "--octaves", "2", "--iterations", "1", "--threads", "1",
        "-q"]


def invoke(*args):
    return runner.invoke(app, ["dream", *map(str, args)])


@pytest.fixture
def photos(tmp_path, sample_photo, animation) -> Path:
    """A folder of odd inputs: two photos (one in a subfolder), a still GIF beside a PNG of the same name, an
    animated GIF, a tiny image, a broken .jpg and a text file."""
    photo = cv2.imread(str(sample_photo))
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    cv2.imwrite(str(folder / "a.jpg"), cv2.resize(photo, (96, 64)))
    cv2.imwrite(str(folder / "sub" / "b.png"), cv2.resize(photo, (64, 80)))
    cv2.imwrite(str(folder / "c.png"), cv2.resize(photo, (72, 48)))
    animation.write(folder / "c.gif", [cv2.resize(photo, (80, 56))[..., ::-1]], 100)  # one frame: a still
    animation.write(folder / "anim.gif", [cv2.resize(photo, (64, 48)), cv2.resize(photo, (64, 48))[::-1]], 100)
    cv2.imwrite(str(folder / "tiny.png"), cv2.resize(photo, (20, 20)))
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    (folder / "notes.txt").write_text("hello")
    return folder


def test_a_folder_dreams_into_a_folder_of_the_same_shape(tmp_path, photos) -> None:
    out = tmp_path / "dreams"
    result = invoke(photos, "-o", out, *FAST)
    assert result.exit_code == 2, result.output  # two images could not be dreamed: said, and in the exit code
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == ["a.jpg", "c.gif.png", "c.png", "sub/b.png"]  # the still GIF keeps its name beside c.png
    for name, source in [("a.jpg", "a.jpg"), ("c.gif.png", "c.gif"), ("c.png", "c.png"), ("sub/b.png", "sub/b.png")]:
        dreamed, original = cv2.imread(str(out / name)), cv2.imread(str(photos / source))
        assert dreamed.shape == original.shape
        assert np.abs(dreamed.astype(int) - original).mean() > 1  # dreamed, not copied
    assert "6 images to dream" in result.output and "1 video or animation, 1 other file" in result.output
    assert "skipped broken.jpg: not a readable image" in result.output
    assert "skipped tiny.png: the image is 20x20 px: a dream needs at least 32 px a side" in result.output
    assert f"2 of the 6 images could not be dreamed (said above); wrote 4 dreams into {out}" in result.output
    single = tmp_path / "single.png"  # one model for the folder dreams each image as a run of its own does
    assert invoke(photos / "sub" / "b.png", "-o", single, *FAST).exit_code == 0
    np.testing.assert_array_equal(cv2.imread(str(single)), cv2.imread(str(out / "sub" / "b.png")))


def test_a_cut_out_in_a_folder_keeps_its_transparency(tmp_path, sample_photo) -> None:
    folder = tmp_path / "cut"
    folder.mkdir()
    bgra = cv2.cvtColor(cv2.resize(cv2.imread(str(sample_photo)), (64, 48)), cv2.COLOR_BGR2BGRA)
    bgra[:, 40:, 3] = 0
    cv2.imwrite(str(folder / "logo.png"), bgra)
    result = invoke(folder, "-o", tmp_path / "dreams", *FAST)
    assert result.exit_code == 0, result.output
    dreamed = cv2.imread(str(tmp_path / "dreams" / "logo.png"), cv2.IMREAD_UNCHANGED)
    assert dreamed.shape == (48, 64, 4) and np.array_equal(dreamed[..., 3], bgra[..., 3])


def test_names_that_would_meet_get_names_of_their_own(tmp_path, sample_photo, animation) -> None:
    """A still GIF becomes .png, and a grey-only .pgm too (a colour dream cannot be one), unless that name is taken
    by another image, whatever its case (U.GIF beside U.PNG meet on macOS and Windows)."""
    photo = cv2.resize(cv2.imread(str(sample_photo)), (64, 48))
    folder, out = tmp_path / "photos", tmp_path / "dreams"
    folder.mkdir()
    for name in ["a.png", "a.gif.png", "U.PNG", "g.pgm"]:
        cv2.imwrite(str(folder / name), photo if name != "g.pgm" else photo[..., 0])
    (folder / "j.jfif").write_bytes(cv2.imencode(".jpg", photo)[1].tobytes())  # a JPEG by another name
    for name in ["a.gif", "U.GIF"]:
        animation.write(folder / name, [photo[..., ::-1]], 100)
    result = invoke(folder, "-o", out, *FAST)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["U.GIF.png", "U.PNG", "a.gif-2.png", "a.gif.png", "a.png",
                                                     "g.png", "j.png"]
    assert cv2.imread(str(out / "g.png"), cv2.IMREAD_UNCHANGED).shape == (48, 64, 3)  # dreamed in colour


def test_a_linked_folder_is_dreamed_and_an_output_a_link_reaches_is_refused(tmp_path, sample_photo) -> None:
    """Photos gathered by links are dreamed where the links put them. An output folder that a link of the input
    reaches is inside the input: the next run (to another folder) would dream the dreams, so it is refused."""
    photo = cv2.resize(cv2.imread(str(sample_photo)), (64, 48))
    folder, kept, out = tmp_path / "photos", tmp_path / "archive", tmp_path / "dreams"
    folder.mkdir(), kept.mkdir(), out.mkdir()
    cv2.imwrite(str(kept / "k.png"), photo)
    (folder / "trip").symlink_to(kept)
    result = invoke(folder, "-o", out, *FAST)
    assert result.exit_code == 0 and "1 image to dream" in result.output, result.output
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == ["trip", "trip/k.png"]
    for output in (kept / "dreams", kept):  # the folder a link reaches, or one inside it
        result = invoke(folder, "-o", output, *FAST)
        assert result.exit_code == 2, result.output
        assert f"-o {output} is inside {folder / 'trip'}, which the input folder {folder} reads through a link" in result.output
    assert sorted(p.name for p in kept.iterdir()) == ["k.png"]


@pytest.mark.parametrize("where", ["inside", "around"])
def test_an_output_folder_overlapping_the_input_is_refused(tmp_path, photos, where) -> None:
    """Inside the input a later run would dream the dreams (or write over a subfolder's photos); around it the
    dreams would land among the input's files."""
    out = photos / "sub" if where == "inside" else tmp_path
    before = sorted(p.stat().st_mtime_ns for p in photos.rglob("*") if p.is_file())
    result = invoke(photos, "-o", out, *FAST, "--overwrite")
    expected = "is inside the input folder" if where == "inside" else "holds the input folder"
    assert result.exit_code == 2 and expected in result.output and "photos-dreams" in result.output, result.output
    assert sorted(p.stat().st_mtime_ns for p in photos.rglob("*") if p.is_file()) == before


@pytest.mark.parametrize("case", ["no_output", "output_file", "output_suffix", "output_is_input", "existing",
                                  "skip_and_overwrite", "skip_for_one_image", "zoom", "video_option", "empty",
                                  "only_hidden", "empty_subfolder"])
def test_a_folder_run_that_cannot_go_on_says_why_before_any_work(tmp_path, photos, case) -> None:
    out = tmp_path / "dreams"
    args, expected = {
        "no_output": ([photos], "a folder input needs -o OUTPUT_FOLDER"),
        "output_file": ([photos, "-o", photos / "a.jpg"], "is a file: a folder input writes a folder of images"),
        "output_suffix": ([photos, "-o", tmp_path / "x.png"], "writes a folder of images, not .png"),
        "output_is_input": ([photos, "-o", photos], "is the input folder: the dreams would replace the photos"),
        "existing": ([photos, "-o", out], f"{out} already holds 1 of the 6 outputs (sub/b.png); pass --overwrite "
                     "to replace it, --skip-existing to keep it"),
        "skip_and_overwrite": ([photos, "-o", out, "--skip-existing", "--overwrite"], "choose one"),
        "skip_for_one_image": ([photos / "a.jpg", "-o", tmp_path / "a.png", "--skip-existing"],
                               "--skip-existing keeps the dreams a folder input already has"),
        "zoom": ([photos, "-o", out, "--zoom-frames", "3"], "--zoom-frames zooms into one image"),
        "video_option": ([photos, "-o", out, "--blend", "0.5"], "--blend applies to a video or webcam input only"),
        "empty": ([tmp_path / "none", "-o", out], "holds no still image to dream (the folder is empty)"),
        "only_hidden": ([tmp_path / "none", "-o", out], "holds no still image to dream (no file but hidden ones)"),
        "empty_subfolder": ([tmp_path / "none", "-o", out], "holds no still image to dream (only empty folders)"),
    }[case]
    if case == "existing":
        (out / "sub").mkdir(parents=True)
        (out / "sub" / "b.png").write_bytes(b"mine")
    if case in ("empty", "only_hidden", "empty_subfolder"):
        (tmp_path / "none").mkdir()
    if case == "only_hidden":
        (tmp_path / "none" / ".DS_Store").write_bytes(b"")
    if case == "empty_subfolder":
        (tmp_path / "none" / "sub").mkdir()
    result = invoke(*args, *FAST)
    assert result.exit_code == 2 and expected in result.output, result.output
    assert "Traceback" not in result.output
    if case == "existing":
        assert (out / "sub" / "b.png").read_bytes() == b"mine"
    else:
        assert not out.exists() and not (tmp_path / "x.png").exists()


def test_ctrl_c_keeps_the_dreams_written(tmp_path, sample_photo, dream_process, monkeypatch) -> None:
    photo = cv2.imread(str(sample_photo))
    folder, out = tmp_path / "photos", tmp_path / "dreams"
    folder.mkdir()
    for i in range(30):
        cv2.imwrite(str(folder / f"{i:02d}.png"), np.roll(photo, 10 * i, axis=1))
    proc = dream_process.start(folder, "-o", out, *FAST[:-1])
    seen = dream_process.read_until(proc.stdout, "wrote")
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, seen + rest + err
    kept = sorted(out.glob("*.png"))
    assert 1 <= len(kept) < 30 and not list(out.glob(".*"))  # no half-written file
    assert f"interrupted; {len(kept)} of the 30 dreams written to {out}; --skip-existing goes on" in err, err
    for path in kept:
        assert cv2.imread(str(path)).shape == photo.shape
    stamps = {path: path.stat().st_mtime_ns for path in kept}
    resumed = invoke(folder, "-o", out, *FAST, "--skip-existing")
    assert resumed.exit_code == 0, resumed.output
    assert f"{30 - len(kept)} images to dream into {out}; kept: {len(kept)} dream" in resumed.output
    assert len(list(out.glob("*.png"))) == 30 and {p: p.stat().st_mtime_ns for p in kept} == stamps
    monkeypatch.setattr("vis.cli._dream_cmd.build_setup", None)  # with every dream there, no model is built
    done = invoke(folder, "-o", out, *FAST, "--skip-existing")
    assert done.exit_code == 0 and "0 images to dream into" in done.output, done.output
    assert f"nothing left to dream into {out}" in done.output and "wrote" not in done.output


def test_a_full_disk_stops_the_run_and_keeps_the_dreams_written(tmp_path, photos, monkeypatch) -> None:
    import errno
    import os

    import vis.engine._images as images

    calls = []

    def failing_second(real):  # the second image's file finds the disk full as it is named
        def publish(src, dst):
            calls.append(dst)
            if len(calls) == 2:
                raise OSError(errno.ENOSPC, "No space left on device")
            real(src, dst)
        return publish

    # a new file is named by a hard link (an existing name then fails), one being replaced by os.replace
    monkeypatch.setattr(images.os, "replace", failing_second(os.replace))
    monkeypatch.setattr(images.os, "link", failing_second(os.link))
    out = tmp_path / "dreams"
    result = invoke(photos, "-o", out, *FAST)
    assert result.exit_code == 2 and "No space left on device" in result.output, result.output
    assert f"1 of the 6 dreams written to {out}" in result.output and "Traceback" not in result.output
    assert [p.name for p in out.rglob("*") if p.is_file()] == ["a.jpg"]  # whole; no partial file left


def test_a_folder_keeps_each_images_depth(tmp_path) -> None:
    """A 16-bit PNG beside an 8-bit one: each dream is written with its own image's bits."""
    folder = tmp_path / "in"
    folder.mkdir()
    ramp = np.linspace(0.0, 1.0, 64 * 48 * 3).reshape(48, 64, 3)
    cv2.imwrite(str(folder / "deep.png"), np.round(ramp * 65535).astype(np.uint16))
    cv2.imwrite(str(folder / "flat.png"), np.round(ramp * 255).astype(np.uint8))
    result = invoke(folder, "-o", tmp_path / "out", *FAST)
    assert result.exit_code == 0, result.output
    deep = cv2.imread(str(tmp_path / "out" / "deep.png"), cv2.IMREAD_UNCHANGED)
    assert deep.dtype == np.uint16 and len(np.unique(deep)) > 256
    assert cv2.imread(str(tmp_path / "out" / "flat.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint8


def test_an_image_it_may_not_read_is_skipped(tmp_path, photos, monkeypatch) -> None:
    """A permission (OpenCV's reader raises it; root, as in CI, may read anything, so it is raised here)."""
    import errno

    import vis.engine._images as images

    load = images.load_image_alpha

    def guarded(path):
        if Path(path).name == "a.jpg":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return load(path)

    monkeypatch.setattr(images, "load_image_alpha", guarded)
    result = invoke(photos, "-o", tmp_path / "dreams", *FAST)
    assert result.exit_code == 2 and "skipped a.jpg: Permission denied" in result.output, result.output
    assert (tmp_path / "dreams" / "c.png").exists() and not (tmp_path / "dreams" / "a.jpg").exists()


@pytest.mark.parametrize("flag", [[], ["--skip-existing"]])
def test_a_dream_another_run_wrote_meanwhile_is_kept(tmp_path, sample_photo, monkeypatch, flag) -> None:
    """Two runs into one folder: each output is looked at again just before its image is dreamed."""
    import vis.cli._dream_runs as runs

    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(folder / name), cv2.resize(cv2.imread(str(sample_photo)), (64, 48)))
    real = runs.run_image

    def and_another_run(setup, picture, output, *args, **kwargs):
        written = real(setup, picture, output, *args, **kwargs)
        (out / "b.png").write_bytes(b"the other run's dream")
        return written

    monkeypatch.setattr(runs, "run_image", and_another_run)
    result = invoke(folder, "-o", out, *FAST, *flag)
    assert result.exit_code == 0, result.output
    assert (out / "b.png").read_bytes() == b"the other run's dream"
    assert f"kept {out / 'b.png'}: written since this run began" in result.output


def test_a_dream_written_by_another_run_during_this_ones_dream_is_kept_too(tmp_path, sample_photo, monkeypatch) -> None:
    """The race the look before each image leaves: the other run writes the file while this one dreams it. Its
    file stays; this dream goes beside it, said so, and the folder goes on."""
    import vis.engine._dream as dreaming

    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(folder / name), cv2.resize(cv2.imread(str(sample_photo)), (64, 48)))
    real = dreaming.dream
    calls = []

    def and_another_run(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            (out / "a.png").write_bytes(b"the other run's dream")
        return real(*args, **kwargs)

    monkeypatch.setattr(dreaming, "dream", and_another_run)
    result = invoke(folder, "-o", out, *FAST)
    assert result.exit_code == 0, result.output
    assert (out / "a.png").read_bytes() == b"the other run's dream"
    assert f"kept {out / 'a.png'}: written since this run began (by another run?); this dream is in {out / 'a-2.png'}" \
        in result.output
    assert cv2.imread(str(out / "a-2.png")).shape == (48, 64, 3) and (out / "b.png").is_file()
