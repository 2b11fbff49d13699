"""`vis filters | features | saliency | cam | patches | embed` through CliRunner and as a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from vis.cli import app

runner = CliRunner()
R = ("--weights", "random")


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def folder(image_files, tmp_path):
    """image_files' folder plus a labelled subfolder: 4 good top-level images, 2 in 'cls', 1 bad, 1 text file."""
    (tmp_path / "cls").mkdir()
    rng = np.random.default_rng(5)
    for i in range(2):
        cv2.imwrite(str(tmp_path / "cls" / f"{i}.jpg"), rng.integers(0, 255, (33 + i, 47, 3), dtype=np.uint8))
    (tmp_path / "readme.md").write_text("hi")
    return tmp_path


def test_every_command_on_odd_images(image_files, folder, tmp_path_factory) -> None:
    out = tmp_path_factory.mktemp("out")  # not inside the scanned folder
    cases = [
        ("filters", "lenet5", "--layer", "conv2", *R),
        ("features", "lenet5", image_files["grey"], image_files["rgba"], image_files["deep"], "--layer", "tanh1", "-c", "0:6:2,5", *R),
        ("saliency", "lenet5", image_files["rgba"], "--samples", "3", *R),
        ("cam", "lenet5", image_files["grey"], "--layer", "tanh2", *R),
        ("patches", "lenet5", "--layer", "tanh2", "--channel", "3", "--images", folder, "-k", "4", *R),
        ("embed", "lenet5", "--images", folder, "--layer", "tanh2", *R),
    ]
    for args in cases:
        png, npy = out / f"{args[0]}.png", out / f"{args[0]}.npy"
        result = invoke(*args, "-o", png, "--npy", npy)
        of_folder = args[0] in ("patches", "embed")
        # the folder's broken notes.png is in the exit code, as in predict and dream; its readme.md is no image
        assert result.exit_code == (2 if of_folder else 0), (args[0], result.output)
        assert png.stat().st_size > 1000 and np.load(npy).size > 0  # written all the same
        if of_folder:
            assert "6 images; 1 could not be read (notes.png); skipped 1 other file (readme.md)" in result.output
            assert "error: 1 of the 7 images could not be read (said above)" in result.output
        if args[0] == "embed":  # 6 images allow perplexity 5/3, not the default 30: said, not done quietly
            assert "perplexity 1.67, not 30: 6 images allow no more" in result.output
    assert np.load(out / "features.npy").shape == (3, 4, 28, 28)
    assert np.load(out / "filters.npy").shape == (16, 6, 5, 5)
    assert np.load(out / "embed.npy").shape == (6, 2)
    result = invoke("filters", "lenet5", "--layer", "conv1", *R, "-o", out / "filters.png")
    assert result.exit_code == 2 and "--overwrite" in result.output


@pytest.mark.parametrize(("model", "first", "shape"), [("lenet5", "conv1", (6, 1, 5, 5)),
                                                       ("googlenet", "conv1", (64, 3, 7, 7)),
                                                       ("efficientnet_lite0", "stem", (32, 3, 3, 3))])
def test_filters_default_to_the_first_convolution(tmp_path, model, first, shape) -> None:
    result = invoke("filters", model, *R, "-o", tmp_path / "f.png", "--npy", tmp_path / "f.npy")
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "f.npy").shape == shape and (tmp_path / "f.png").stat().st_size > 1000


def test_real_efficientnet_cam_and_saliency(sample_photo, tmp_path) -> None:
    result = invoke("cam", "efficientnet_lite0", sample_photo, "--method", "cam", "-o", tmp_path / "c.png", "--npy", tmp_path / "c.npy")
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "c.npy").shape == (7, 7)
    result = invoke("saliency", "efficientnet_lite0", sample_photo, "--class", "698", "-o", tmp_path / "s.png")
    assert result.exit_code == 0 and "wrote " + str(tmp_path / "s.png") + " (class 698 'palace')" in result.output
    assert "the figure shows the centre 374x374 of its 640x427 px" in result.output


@pytest.mark.parametrize("args,expected", [
    (("filters", "googlenet", "--layer", "conv9", *R), "conv1"),
    (("filters", "googlenet", "--layer", "inception3a", *R), "not a single convolution"),
    (("features", "lenet5", "{rgb}", "--layer", "tanh1", "--channels", "0:9", *R), "out of range"),
    (("features", "lenet5", "{missing}", "--layer", "tanh1", *R), "not found"),
    (("features", "lenet5", "{text}", "--layer", "tanh1", *R), "not a readable image"),
    (("saliency", "lenet5", "{missing}", *R), "not found"),
    (("saliency", "lenet5", "{rgb}", "--class", "12", *R), "out of range"),
    (("saliency", "lenet5", "{rgb}", "--noise", "0.9", *R), "--noise is SmoothGrad's: it needs --samples N"),
    (("saliency", "lenet5", "{rgb}", "--samples", "2", "--noise", "0", *R), "--noise 0 makes every SmoothGrad copy"),
    (("cam", "lenet5", "{rgb}", "--layer", "fc1", *R), "no spatial maps"),
    (("cam", "vgg19", "{rgb}", "--method", "cam", *R), "Grad-CAM"),
    (("cam", "lenet5", "{rgb}", "--method", "gradcm", *R), "gradcam"),
    (("patches", "lenet5", "--layer", "tanh2", "--channel", "16", "--images", "{dir}", *R), "out of range"),
    (("patches", "lenet5", "--layer", "tanh9", "--channel", "1", "--images", "{dir}", *R), "tanh2"),
    (("patches", "lenet5", "--layer", "tanh2", "--channel", "1", "--images", "{empty}", *R), "0 images"),
    (("embed", "lenet5", "--layer", "tanh2", "--images", "{nowhere}", *R), "not found"),
])
def test_bad_inputs_exit_2(args, expected, image_files, tmp_path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "a.txt").write_text("x")
    names = {k: str(v) for k, v in image_files.items()} | {"dir": str(tmp_path), "empty": str(empty), "nowhere": str(tmp_path / "no")}
    result = invoke(*[a.format(**names) for a in args], "-o", tmp_path / "o.png")
    assert result.exit_code == 2, result.output
    assert expected in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("command", [("patches", "--channel", "1"), ("embed",)])
def test_a_missing_folder_is_reported_before_an_existing_output(command, tmp_path) -> None:
    out = tmp_path / "o.png"
    out.write_bytes(b"kept")
    result = invoke(command[0], "lenet5", "--layer", "tanh2", *command[1:], "--images", tmp_path / "no", "-o", out, *R)
    assert result.exit_code == 2 and "folder not found" in result.output, result.output
    assert out.read_bytes() == b"kept"


def test_empty_folder_as_subprocess(tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    out = subprocess.run([sys.executable, "-m", "vis", "embed", "lenet5", "--images", str(tmp_path), "--layer", "tanh2",
                          "-o", str(tmp_path / "t.png"), "--weights", "random"], capture_output=True, text=True)
    assert out.returncode == 2
    assert "0 images (1 other file skipped)" in out.stderr and "Traceback" not in out.stderr


def test_outputs_are_named_as_written_and_checked_before_the_work(tmp_path) -> None:
    """A figure without suffix is a .png and numbers a .npy, in the messages and in the overwrite check."""
    first = invoke("filters", "lenet5", *R, "-o", tmp_path / "f", "--npy", tmp_path / "raw")
    assert first.exit_code == 0, first.output
    assert (tmp_path / "f.png").exists() and (tmp_path / "raw.npy").exists()
    assert f"wrote {tmp_path / 'raw.npy'}" in first.output
    again = invoke("filters", "lenet5", *R, "-o", tmp_path / "f", "--npy", tmp_path / "other.npy")
    assert again.exit_code == 2 and "f.png exists" in again.output, again.output
    numbers_again = invoke("filters", "lenet5", *R, "-o", tmp_path / "g.png", "--npy", tmp_path / "raw")
    assert numbers_again.exit_code == 2 and "raw.npy exists" in numbers_again.output, numbers_again.output


@pytest.mark.parametrize("flag", ["-o", "--npy"])
def test_a_folder_named_as_output_is_refused_not_written_beside(tmp_path, flag) -> None:
    """-o out with a folder out/ used to write out.png next to it."""
    (tmp_path / "out").mkdir()
    args = ["-o", tmp_path / "f.png", "--npy", tmp_path / "out"] if flag == "--npy" else ["-o", tmp_path / "out"]
    result = invoke("filters", "lenet5", *R, *args)
    assert result.exit_code == 2 and f"{tmp_path / 'out'} is a folder: name a file to write" in result.output, result.output
    assert [p.name for p in tmp_path.iterdir()] == ["out"] and not any((tmp_path / "out").iterdir())


def test_output_names_with_a_trailing_dot_or_an_upper_case_npy(tmp_path) -> None:
    result = invoke("filters", "lenet5", *R, "-o", tmp_path / "f.", "--npy", tmp_path / "w.NPY")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.png", "w.NPY"]
    assert np.load(tmp_path / "w.NPY").ndim == 4


@pytest.mark.parametrize("name, message", [("o.npy", "cannot write a figure as .npy"), ("o.txt", "cannot write a figure as .txt")])
def test_a_figure_suffix_matplotlib_cannot_write_exits_2(tmp_path, name, message) -> None:
    result = invoke("filters", "lenet5", *R, "-o", tmp_path / name)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output, result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, message", [
    (("saliency", "efficientnet_lite0", "{rgb}", "--class", "1000"), "class 1000 given to --class is out of range: efficientnet_lite0 has 1000 classes (0..999)"),
    (("cam", "efficientnet_lite0", "{rgb}", "--class", "-1"), "class -1 given to --class must be >= 0"),
    (("cam", "efficientnet_lite0", "{rgb}", "--class", "tabbby"), "unknown class of efficientnet_lite0 (given to "
                                                                  "--class) 'tabbby'. Did you mean: tabby"),
    (("cam", "efficientnet_lite0", "{rgb}", "--class", "cat"), "Did you mean: tiger cat, Persian cat, Siamese cat, "
                                                               "Egyptian cat"),
    (("saliency", "efficientnet_lite0", "{rgb}", "--class", "CARDIGAN"), "'Cardigan' (264), 'cardigan' (474)"),
    (("saliency", "efficientnet_lite0", "{rgb}", "--provider", "bogus"), "unknown provider 'bogus'"),
    (("cam", "vgg19", "{rgb}", "--method", "cam"), "plain CAM needs a global-average-pooled net"),
    (("cam", "efficientnet_lite0", "{rgb}", "--method", "cam", "--layer", "block10"), "plain CAM reads head"),
])
def test_class_and_provider_fail_before_the_model_loads(args, message, image_files, tmp_path, monkeypatch) -> None:
    import vis.models as models

    monkeypatch.setattr(models, "get_model", lambda *a, **k: (_ for _ in ()).throw(AssertionError("model loaded")))
    result = invoke(*[a.format(rgb=image_files["rgb"]) for a in args], "-o", tmp_path / "o.png")
    assert result.exit_code == 2 and message in result.output, result.output


@pytest.mark.parametrize("command", ["patches", "embed"])
def test_a_taken_output_fails_before_the_folder_is_read(tmp_path, monkeypatch, command) -> None:
    import vis.engine._inspect as inspect

    (tmp_path / "o.png").write_bytes(b"keep")
    monkeypatch.setattr(inspect, "scan_images", lambda *a, **k: pytest.fail("the folder was read"))
    extra = ("--channel", "1") if command == "patches" else ()
    result = invoke(command, "lenet5", "--layer", "tanh2", *extra, "--images", tmp_path, *R, "-o", tmp_path / "o.png")
    assert result.exit_code == 2 and "--overwrite" in result.output, result.output
    assert (tmp_path / "o.png").read_bytes() == b"keep"


def test_patch_captions_name_the_subfolder(folder, tmp_path_factory, monkeypatch) -> None:
    """Two folders may hold a 0.jpg: the caption says which one (the path under --images)."""
    import vis.engine._plots as plots

    shown = {}
    monkeypatch.setattr(plots, "plot_patches", lambda patches, captions, path, *a, **k: shown.setdefault("c", captions) and path)
    out = tmp_path_factory.mktemp("out") / "p.png"
    result = invoke("patches", "lenet5", "--layer", "tanh2", "--channel", "3", "--images", folder, "-k", "6", *R, "-o", out)
    assert result.exit_code == 2 and "1 of the 7 images could not be read" in result.output  # the broken notes.png
    names = [c.rsplit(" ", 1)[0] for c in shown["c"]]
    assert sorted(n for n in names if n.startswith("cls/")) == ["cls/0.jpg", "cls/1.jpg"], names


def test_an_animation_given_for_one_picture_is_its_first_frame_and_said_so(tmp_path, animation) -> None:
    """predict, features and a folder scan read an animated GIF's first frame (what OpenCV decodes), and say so on
    stderr, so that predict's --json stays one JSON document."""
    rng = np.random.default_rng(3)
    colours = rng.integers(0, 255, (16, 3), dtype=np.uint8)  # few colours: the GIF's palette keeps them exactly
    first, second = colours[rng.integers(0, 16, (40, 40))], colours[rng.integers(0, 16, (40, 40))]
    gif = animation.write(tmp_path / "loop.gif", [first, second], 100)
    still = tmp_path / "first.png"
    cv2.imwrite(str(still), first[..., ::-1])
    predicted = invoke("predict", "lenet5", gif, "--json", *R)
    assert predicted.exit_code == 0, predicted.output
    assert json.loads(predicted.stdout)["results"][0]["top"]
    assert f"note: {gif} is animated: only its first frame is used" in predicted.stderr
    maps = {}
    for name, picture in (("gif", gif), ("still", still)):
        npy = tmp_path / f"{name}.npy"
        result = invoke("features", "lenet5", picture, "--layer", "tanh1", "-c", "0:3", *R, "-o", tmp_path / f"{name}.png",
                        "--npy", npy)
        assert result.exit_code == 0, result.output
        assert ("is animated" in result.stderr) == (name == "gif")
        maps[name] = np.load(npy)
    np.testing.assert_array_equal(maps["gif"], maps["still"])
    folder = tmp_path / "pictures"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), second[..., ::-1])
    animation.write(folder / "a.gif", [first, second], 100)
    scanned = invoke("embed", "lenet5", "--images", folder, "--layer", "tanh2", *R, "-o", tmp_path / "embed.png")
    assert scanned.exit_code == 0, scanned.output
    assert "4 images; of 1 animation, only the first frame is used" in scanned.output


def test_a_grad_cam_map_that_is_zero_everywhere_is_said(sample_photo, tmp_path) -> None:
    """Grad-CAM keeps only what raises the class: for class 319 (dragonfly) nothing in the temple photo does, and the
    blank figure gets a line saying why, where the predicted class's map gets none (real ImageNet weights)."""
    blank = invoke("cam", "efficientnet_lite0", sample_photo, "--class", "dragonfly", "-o", tmp_path / "c.png",
                   "--threads", "1")
    assert blank.exit_code == 0, blank.output
    assert "note: the map is zero everywhere: nothing at head raises the score of class 319 'dragonfly'" in blank.stderr
    predicted = invoke("cam", "efficientnet_lite0", sample_photo, "-o", tmp_path / "top.png", "--threads", "1")
    assert predicted.exit_code == 0 and "zero everywhere" not in predicted.output



def test_feature_rows_of_images_with_one_name_are_told_apart() -> None:
    from vis.cli._inspect_cmds import _row_names

    assert _row_names([Path("cat/0.png"), Path("dog/0.png"), Path("dog/1.png")]) == ["cat/0.png", "dog/0.png", "1.png"]


@pytest.mark.parametrize("command", [("patches", "--channel", "1"), ("embed",)])
def test_folder_scans_show_their_progress_unless_quiet(folder, tmp_path_factory, command) -> None:
    out = tmp_path_factory.mktemp("out")
    args = (*command[:1], "lenet5", *command[1:], "--layer", "tanh2", "--images", folder, *R)
    shown = invoke(*args, "-o", out / "a.png")
    unread = "error: 1 of the 7 images could not be read (said above)\n"  # the folder's broken notes.png
    assert shown.exit_code == 2, shown.output
    # in a log (CliRunner's stderr is no terminal) the first and the last count each get a line
    assert f"reading {folder}: 0/8 files\nreading {folder}: 8/8 files\n" in shown.stderr
    assert "lenet5 to tanh2: 6/6 images\n" in shown.stderr
    quiet = invoke(*args, "-o", out / "b.png", "-q")
    assert quiet.exit_code == 2 and quiet.stderr == unread and quiet.stdout == shown.stdout.replace("a.png", "b.png")
    if command[0] == "embed":
        assert shown.stderr.endswith("lenet5 to tanh2: 6/6 images\nt-SNE of 6 images, then the figure\n" + unread)
    if command[0] == "patches":  # -k 9 (the default) of a folder of 6 images
        assert "(6 patches, not 9: one per image, and the folder has 6, receptive field" in shown.stdout


@pytest.mark.parametrize("suffix, magic", [(".webp", b"RIFF"), (".tif", b"II*\x00"), (".svg", b"<?xml")])
def test_figures_take_the_suffixes_image_outputs_take(tmp_path, suffix, magic) -> None:
    result = invoke("filters", "lenet5", *R, "-o", tmp_path / f"f{suffix}")
    assert result.exit_code == 0, result.output
    assert (tmp_path / f"f{suffix}").read_bytes().startswith(magic)


def test_smoothgrad_counts_its_noisy_copies_unless_quiet(image_files, tmp_path) -> None:
    args = ("saliency", "lenet5", image_files["grey"], "--samples", "20", *R)
    shown = invoke(*args, "-o", tmp_path / "a.png")
    assert shown.exit_code == 0, shown.output
    assert shown.stderr.startswith("SmoothGrad: ") and shown.stderr.endswith("SmoothGrad: 20/20 noisy copies\n")
    quiet = invoke(*args, "-o", tmp_path / "b.png", "-q")
    assert quiet.exit_code == 0 and "SmoothGrad" not in quiet.stderr


@pytest.mark.parametrize("given", ["Egyptian cat", "egyptian_cat", "285"])
def test_a_class_is_named_or_numbered(given, image_files, tmp_path) -> None:
    """--class takes a class's name as predict prints it (any case, _ for a space) or its number: the same class."""
    result = invoke("saliency", "efficientnet_lite0", image_files["rgb"], "--class", given, "-o", tmp_path / "s.png",
                    "--threads", "1")
    assert result.exit_code == 0, result.output
    assert "(class 285 'Egyptian cat')" in result.output


def test_drawing_many_feature_maps_is_announced(image_files, tmp_path, monkeypatch) -> None:
    """A figure of 1000s of maps takes a while to draw; over MANY_MAPS maps a line on stderr says it is under way
    (here the threshold is lowered so that 6 maps count as many), under it nothing is said."""
    import vis.cli._inspect_cmds as inspect_cmds

    monkeypatch.setattr(inspect_cmds, "MANY_MAPS", 5)
    many = invoke("features", "lenet5", image_files["grey"], "--layer", "tanh1", "-c", "0:6", *R, "-o", tmp_path / "a.png")
    assert many.exit_code == 0 and "drawing 6 maps into one figure ..." in many.stderr, many.output
    few = invoke("features", "lenet5", image_files["grey"], "--layer", "tanh1", "-c", "0:5", *R, "-o", tmp_path / "b.png")
    assert few.exit_code == 0 and "into one figure" not in few.output, few.output


def test_features_skips_an_unreadable_image_and_says_so_in_the_exit_code(image_files, tmp_path) -> None:
    """As predict does: the readable images are drawn, the other one is named on stderr, and the exit code is 2."""
    result = invoke("features", "lenet5", image_files["rgb"], image_files["text"], "--layer", "tanh1", *R,
                    "-o", tmp_path / "f.png", "--npy", tmp_path / "f.npy")
    assert result.exit_code == 2, result.output
    assert "skipped: not a readable image: " + str(image_files["text"]) in result.stderr
    assert "1 of the 2 images could not be read (said above)" in result.stderr
    assert np.load(tmp_path / "f.npy").shape[0] == 1 and (tmp_path / "f.png").stat().st_size > 1000
