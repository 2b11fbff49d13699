"""The CLI through typer's CliRunner and as a subprocess: help, version, models, layers, predict, export."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import torch
from typer.testing import CliRunner

from vis.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_help_lists_commands() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("models", "layers", "predict", "export"):
        assert command in result.output


def test_version_as_subprocess() -> None:
    out = subprocess.run([sys.executable, "-m", "vis", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("vis ")


@pytest.mark.parametrize("args, message", [
    (["bench", "dream", "--frames", "0"], "error: Invalid value for '--frames'"),
    (["bench", "dream", "--width", "5000"], "error: Invalid value for '--width'"),
    (["dream", "--iterations", "x"], "error: Invalid value for '--iterations'"),
    (["nosuch"], "error: No such command 'nosuch'"),
    (["maximize"], "error: Missing argument 'model'"),
    # nan fails typer's bound check, whose message ('should be greater than or equal to 0') misleads
    (["saliency", "m", "i.png", "-o", "s.png", "--noise", "nan"], "error: --noise must be a finite number, got nan"),
    (["saliency", "m", "i.png", "-o", "s.png", "--noise=-inf"], "error: --noise must be a finite number, got -inf"),
    # an argument too many is most likely an output without -o, or in dream the model given as in other commands
    # (the hint is each command's own: what it takes by position, and its -o and -m where it has them)
    (["dream", "efficientnet_lite0", "photo.png", "-o", "d.png"],
     "error: Got unexpected extra argument(s) (photo.png): dream takes INPUT; name the output with -o and a model with -m"),
    (["export", "lenet5", "-o", "a.onnx", "b.onnx"],
     "error: Got unexpected extra argument(s) (b.onnx): export takes MODEL; name the output with -o"),
    (["bench", "dream", "efficientnet_lite0"],
     "error: Got unexpected extra argument(s) (efficientnet_lite0): dream takes no arguments; name a model with --model"),
    (["layers", "googlenet", "extra"], "error: Got unexpected extra argument(s) (extra): layers takes MODEL ("),
])
def test_usage_errors_are_one_error_line_as_subprocess(args, message) -> None:
    # The console script reports typer's usage errors as it reports its own: one `error:` line that says where help is
    out = subprocess.run([sys.executable, "-m", "vis", *args], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith(message) and out.stderr.count("\n") == 1, out.stderr
    command = "" if args[0] == "nosuch" else " bench dream" if args[0] == "bench" else f" {args[0]}"
    assert out.stderr.rstrip().endswith(f"vis{command} -h')"), out.stderr  # 'python -m vis' as run here


@pytest.mark.parametrize("args, message", [
    (["bench", "step", "lenet5", "--engines", "ort,torch,ort"], "engine ort is given twice"),
    (["bench", "grad", "lenet5", "--size", "32", "32", "--objective", "class:3"],
     "lenet5 takes only 28x28 where the objective reads fc4: its classifier has a fixed input size (got 32x32)"),
])
def test_bench_refusals(args, message) -> None:
    result = invoke(*args)
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output


def test_bench_dream_refuses_a_flow_size_without_a_flow() -> None:
    result = invoke("bench", "dream", "--flow", "none", "--flow-size", "100")
    assert result.exit_code == 2 and "--flow-size sizes the optical flow, and --flow none computes none" in result.output


@pytest.mark.parametrize("args, option", [
    (["bench", "dream", "--backends", "ort,,torch"], "--backends 'ort,,torch'"),
    (["bench", "step", "googlenet", "--engines", "ort,"], "--engines 'ort,'"),
    (["bench", "step", "googlenet", "--sizes", "64,,96"], "--sizes '64,,96'"),
    (["style", "content.png", "style.png", "-o", "out.png", "--style-layers", "conv1_1,,conv2_1"],
     "--style-layers 'conv1_1,,conv2_1'"),
])
def test_an_empty_entry_in_a_comma_list_is_refused(args, option) -> None:
    # one message for every list option: an entry left out by mistake is not quietly dropped
    result = invoke(*args)
    assert result.exit_code == 2 and f"{option} has an empty entry between commas" in result.output, result.output


@pytest.mark.parametrize("args, flag", [(["maximize", "googlenet", "--objective", "inception4c", "--step", "nan"], "--step"),
                                        (["dream", "--demo", "--blend", "inf"], "--blend")])
def test_non_finite_numbers_are_refused(args, flag, tmp_path) -> None:
    # nan slips past typer's min/max (every comparison with it is False); vis refuses it for every float option
    result = invoke(*args, "-o", str(tmp_path / "x.png"))
    assert result.exit_code == 2 and f"{flag} must be a finite number" in result.output, result.output
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("command", [["dream"], ["maximize"], ["atlas"], ["style"], ["train", "lenet"]])
def test_a_seed_past_int64_is_refused_without_printing_the_bound_in_help(command) -> None:
    refused = invoke(*command, "--seed", str(2**63))
    assert refused.exit_code == 2 and "Invalid value for '--seed': must be below 2**63" in refused.output, refused.output
    shown = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0 and "--seed" in shown.output and str(2**63 - 1) not in shown.output


def test_a_max_frames_past_int64_is_refused() -> None:
    refused = invoke("dream", "--demo", "--max-frames", str(2**63))
    assert refused.exit_code == 2 and "Invalid value for '--max-frames': must be below 2**63" in refused.output


def test_ctrl_c_while_the_interpreter_shuts_down_exits_at_once_without_a_traceback() -> None:
    """A Ctrl-C after the command's work, in an exit hook (torch's run there): the output is all there, exit 130."""
    script = ("import atexit, os, signal, sys, time\n"
              "atexit.register(lambda: (os.kill(os.getpid(), signal.SIGINT), time.sleep(5)))  # runs last\n"
              "sys.argv = ['vis', 'models']\n"
              "from vis.cli import main\n"
              "main()\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 130 and out.stderr == "", out.stderr
    assert "efficientnet_lite0" in out.stdout


def test_no_command_prints_help_and_no_error_as_subprocess() -> None:
    out = subprocess.run([sys.executable, "-m", "vis"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "Usage: " in out.stdout + out.stderr and "dream" in out.stdout + out.stderr
    assert "error:" not in out.stdout + out.stderr


def test_models_table() -> None:
    result = invoke("models")
    assert result.exit_code == 0
    assert "efficientnet_lite0" in result.output and "packaged" in result.output


def test_layers_googlenet_as_subprocess() -> None:
    out = subprocess.run([sys.executable, "-m", "vis", "layers", "googlenet"], capture_output=True, text=True, check=True)
    line = next(line for line in out.stdout.splitlines() if line.startswith("inception4c"))
    assert "512x14x14" in line


def test_layers_size_option() -> None:
    result = invoke("layers", "googlenet", "--size", "512", "512")
    assert result.exit_code == 0
    assert "512x32x32" in next(line for line in result.output.splitlines() if line.startswith("inception4c"))


@pytest.mark.parametrize("args,expected", [
    (("layers", "googlenett"), "googlenet"),
    (("export", "vgg19", "-o", "x.onnx", "--weights", "random", "--layers", "conv4_9"), "conv4_1"),
    (("predict", "lenet6", "x.png"), "lenet5"),
    (("layers", "lenet5", "--size", "8", "8"), "at least 28"),
    (("dream", "x.png", "--provider", "gpu", "-o", "y.png"), "unknown provider 'gpu'. Did you mean: cuda, tensorrt?"),
    (("predict", "photo.png", "lenet5"), "unknown model 'photo.png' (that is a file: the model's name comes first)."),
    (("dream", "googlenet", "-o", "y.png"), "googlenet is a model: name it with --model (vis dream INPUT -m googlenet"),
    (("dream", "photo.png", "-o", "."), ". is a folder: name an image or video file"),
    (("dream", "photo.png", "-o", "y.png", "--step", "256"), "--step must be at most 255 (8-bit levels"),
    (("dream", "photo.png", "-o", "y.png", "--iterations", "0"), "Invalid value for '--iterations'"),
])
def test_bad_names_exit_2_with_suggestions(args, expected, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    import cv2

    cv2.imwrite(str(tmp_path / "photo.png"), np.full((40, 40, 3), 128, np.uint8))
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert "Traceback" not in result.output


def test_unknown_layer_as_subprocess(tmp_path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "vis", "export", "googlenet", "-o", str(tmp_path / "g.onnx"), "--weights", "random", "--layers", "inception4z"],
        capture_output=True, text=True,
    )
    assert out.returncode == 2
    assert "inception4c" in out.stderr and "Traceback" not in out.stderr


def test_predict_json_real_weights(sample_photo) -> None:
    result = invoke("predict", "efficientnet_lite0", str(sample_photo), "--top", "3", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    top = payload["results"][0]["top"]
    assert len(top) == 3 and top[0]["class"] in {"palace", "bell cote", "pagoda", "church"}
    assert top[0]["probability"] >= top[1]["probability"]
    every = json.loads(invoke("predict", "efficientnet_lite0", str(sample_photo), "--top", "1000", "--json").output)
    assert abs(sum(c["probability"] for c in every["results"][0]["top"]) - 1) < 1e-5  # unrounded: they sum to 1


def test_many_large_photos_are_kept_at_the_models_size_and_classified_as_whole(tmp_path, sample_photo) -> None:
    """predict and features keep each picture at the size the evaluation transform shrinks it to (memory bounded by
    the count, not the photos' sizes), and the classes are those of the whole picture."""
    from vis.cli._stills import read_stills
    from vis.engine import load_image, predict
    from vis.models import get_model, model_spec

    big, strip, icon = tmp_path / "big.png", tmp_path / "strip.png", tmp_path / "icon.png"
    photo = cv2.imread(str(sample_photo))
    cv2.imwrite(str(big), cv2.resize(photo, (1500, 1000)))
    cv2.imwrite(str(strip), cv2.resize(photo, (2400, 300)))
    cv2.imwrite(str(icon), cv2.resize(photo, (48, 32)))
    _, pictures, _ = read_stills([big, strip, icon], "efficientnet_lite0")
    side = model_spec("efficientnet_lite0").preprocessing.resize
    # a small one is kept as it is, not enlarged (10,000 icons at 256 px would be 10 GB)
    assert [p.shape[:2] for p in pictures] == [(side, round(1.5 * side)), (side, 2 * side), (32, 48)]
    result = invoke("predict", "efficientnet_lite0", str(big), str(strip), "--top", "3", "--json")
    assert result.exit_code == 0, result.output
    whole = predict("efficientnet_lite0", get_model("efficientnet_lite0"), [load_image(big), load_image(strip)], top=3)
    for row, expected in zip(json.loads(result.output)["results"], whole):
        assert [(c["index"], c["probability"]) for c in row["top"]] == [(i, pytest.approx(q, abs=1e-6))
                                                                       for i, _, q in expected.classes]


def test_a_top_past_the_classes_shows_them_all_and_says_so(image_files) -> None:
    """LeNet-5 has 10 classes: --top 20 prints the 10, and a note on stderr says why (stdout stays JSON)."""
    result = invoke("predict", "lenet5", "-w", "random", str(image_files["grey"]), "--top", "20", "--json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["results"][0]["top"]) == 10
    assert "note: lenet5 has 10 classes: --top 20 shows all of them" in result.stderr


def test_predict_grey_rgba_and_bad_files(image_files) -> None:
    result = invoke("predict", "efficientnet_lite0", str(image_files["grey"]), str(image_files["rgba"]), "--top", "2")
    assert result.exit_code == 0, result.output
    assert result.output.count("%") == 4
    for bad in ("missing", "text"):
        result = invoke("predict", "efficientnet_lite0", str(image_files[bad]))
        assert result.exit_code == 2 and str(image_files[bad]) in result.output


def test_predict_skips_a_file_it_cannot_read_and_classifies_the_rest(image_files, tmp_path) -> None:
    """One bad file among many costs its own result only; the exit code and stderr say so, and --json lists it."""
    clip = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 10, (32, 32))
    for _ in range(3):
        writer.write(np.full((32, 32, 3), 128, np.uint8))
    writer.release()
    garbled = tmp_path / "garbled.mp4"  # a video's name is not enough to be called a video
    garbled.write_bytes(b"\x00" * 64)
    files = [str(image_files["grey"]), str(image_files["text"]), str(clip), str(garbled)]
    result = invoke("predict", "lenet5", "-w", "random", *files, "--top", "1")
    assert result.exit_code == 2
    assert result.stdout.startswith(f"{files[0]}:") and result.stdout.count("%") == 1
    assert f"skipped: not a readable image: {files[1]}" in result.stderr
    assert f"skipped: {clip} is a video: this command reads still images" in result.stderr
    assert f"skipped: not a readable image: {garbled}" in result.stderr
    assert "error: 3 of the 4 images could not be read (said above)" in result.stderr
    assert "note: lenet5's weights are random (untrained): these classes say nothing about the images" in result.stderr
    as_json = invoke("predict", "lenet5", "-w", "random", *files, "--top", "1", "--json")
    payload = json.loads(as_json.stdout)
    assert as_json.exit_code == 2 and [r["image"] for r in payload["results"]] == files[:1]
    assert [s["image"] for s in payload["skipped"]] == files[1:]
    none = invoke("predict", "lenet5", "-w", "random", *files[1:])
    assert none.exit_code == 2 and "none of the 3 images could be read" in none.stderr and not none.stdout
    for unreadable in (files[1:], files[1:2]):  # --json answers in JSON even when nothing could be read
        as_json = invoke("predict", "lenet5", "-w", "random", *unreadable, "--json")
        payload = json.loads(as_json.stdout)
        assert as_json.exit_code == 2 and payload["results"] == [] and len(payload["skipped"]) == len(unreadable)
    alone = invoke("predict", "lenet5", "-w", "random", files[1])
    assert alone.exit_code == 2 and alone.stderr == f"error: not a readable image: {files[1]}\n" and not alone.stdout


def test_predict_skips_a_file_it_may_not_read(image_files, monkeypatch) -> None:
    """No permission to read one file (tested as root by a read that fails so): that file is skipped, the rest is
    classified; the argument check no longer refuses the whole command up front."""
    import numpy as np

    import vis.engine._images as images

    locked = str(image_files["grey"])
    real = np.fromfile

    def fromfile(name, *args, **kwargs):
        if name == locked:
            raise PermissionError(13, "Permission denied", name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(images.np, "fromfile", fromfile)
    result = invoke("predict", "lenet5", "-w", "random", locked, str(image_files["rgb"]), "--top", "1")
    assert result.exit_code == 2
    assert f"skipped: cannot read {locked}: Permission denied" in result.stderr
    assert result.stdout.startswith(f"{image_files['rgb']}:")


def test_lenet_is_told_of_a_dark_digit_on_white(tmp_path) -> None:
    """LeNet-5 learned MNIST's light digits on black: a scanned dark-on-white digit gets a note, a light one none."""
    import cv2

    digit = np.zeros((28, 28), np.uint8)
    cv2.line(digit, (14, 4), (14, 24), 255, 3)
    light, dark = tmp_path / "light.png", tmp_path / "dark.png"
    cv2.imwrite(str(light), digit)
    cv2.imwrite(str(dark), 255 - digit)
    result = invoke("predict", "lenet5", "-w", "random", str(light), str(dark), "--top", "1")
    assert result.exit_code == 0, result.output
    assert result.stderr.count("mostly light") == 1
    assert f"and {dark} is mostly light: answers for dark digits on white mean little; invert" in result.stderr
    calm = invoke("predict", "efficientnet_lite0", "-w", "random", str(dark), "--top", "1")
    assert "mostly light" not in calm.stderr  # photos may be light


def test_offline_weights_exit_2(monkeypatch, tmp_path) -> None:
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))  # weights cached here are not used
    result = invoke("export", "googlenet", "-o", str(tmp_path / "g.onnx"))
    assert result.exit_code == 2
    assert "googlenet-1378be20.pth" in result.output and "--weights random" in result.output


def test_export_writes_checks_and_refuses_overwrite(tmp_path) -> None:
    out = tmp_path / "new" / "folder" / "g.onnx"
    result = invoke("export", "googlenet", "-o", str(out), "--weights", "random", "--layers", "inception3a,inception4c")
    assert result.exit_code == 0, result.output
    proto = onnx.load(str(out))
    onnx.checker.check_model(proto, full_check=True)
    assert [o.name for o in proto.graph.output] == ["inception3a", "inception4c"]
    before = out.stat().st_mtime_ns
    result = invoke("export", "googlenet", "-o", str(out), "--weights", "random")
    assert result.exit_code == 2 and "--overwrite" in result.output
    assert out.stat().st_mtime_ns == before
    result = invoke("export", "googlenet", "-o", str(out), "--weights", "random", "--overwrite", "--opset", "18")
    assert result.exit_code == 0
    assert onnx.load(str(out)).opset_import[0].version == 18


@pytest.mark.parametrize("tty, expected", [(True, "\rframe 1   \rframe 2   \n"), (False, "frame 1\nframe 2\n")])
def test_progress_is_in_place_on_a_terminal_and_lines_in_a_log(monkeypatch, capsys, tty, expected) -> None:
    import sys

    from vis.cli._app import end_progress, progress_line

    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty)
    progress_line("frame 1")
    progress_line("frame 2")
    end_progress()
    assert capsys.readouterr().err == expected
    end_progress()  # nothing open: nothing to end
    assert capsys.readouterr().err == ""


def test_an_error_after_progress_on_a_terminal_gets_its_own_line(monkeypatch, capsys) -> None:
    import sys

    import typer

    from vis.cli._app import fail, progress_line

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    progress_line("octave 1/4")
    assert isinstance(fail("interrupted", 130), typer.Exit)
    err = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().err)  # a terminal gets the error in red
    assert err == "\roctave 1/4   \nerror: interrupted\n"  # was "\roctave 1/4   error: ..."


@pytest.mark.parametrize("command", [["dream", "x.png", "-o", "y.png"], ["maximize", "lenet5", "--objective", "conv2:1", "-o", "y.png"],
                                     ["saliency", "lenet5", "x.png", "-o", "y.png"], ["bench", "grad", "lenet5"],
                                     ["predict", "lenet5", "x.png"], ["train", "lenet", "-o", "l.pt"],
                                     ["embed", "lenet5", "--images", ".", "--layer", "tanh2", "-o", "e.png"]])
def test_a_thread_count_far_above_the_cores_is_refused(command, tmp_path, monkeypatch) -> None:
    """--threads 100000 made ORT start 100000 threads (16 GiB) before the first step; it is a usage error now."""
    from vis.cli._app import MAX_THREADS

    monkeypatch.chdir(tmp_path)
    result = invoke(*command, "--threads", str(MAX_THREADS + 1))
    assert result.exit_code == 2 and "--threads" in result.output, result.output
    assert list(tmp_path.iterdir()) == []


def test_a_file_name_too_long_is_one_line_exit_2(tmp_path) -> None:
    long = "a" * 300
    for args in (["predict", "lenet5", "-w", "random", str(tmp_path / f"{long}.png")],
                 ["filters", "lenet5", "-w", "random", "-o", str(tmp_path / f"{long}.png")]):
        result = invoke(*args)
        assert result.exit_code == 2 and "File name too long" in result.output, result.output
        assert "Traceback" not in result.output


@pytest.mark.parametrize("stem", ["a" * 251, "é" * 125])  # 255 bytes with .png: the longest name that fits
def test_the_longest_output_name_that_fits_is_written(image_files, tmp_path, stem) -> None:
    """Outputs are written under a temporary name beside them: it must fit where the output's own name fits."""
    for args in (["filters", "lenet5", "-w", "random", "-o", str(tmp_path / f"{stem}.png")],
                 ["dream", str(image_files["rgb"]), "-w", "random", "--octaves", "1", "--iterations", "1",
                  "-o", str(tmp_path / "d" / f"{stem}.png")]):
        result = invoke(*args)
        assert result.exit_code == 0, result.output
    assert (tmp_path / f"{stem}.png").stat().st_size > 0 and (tmp_path / "d" / f"{stem}.png").stat().st_size > 0
    assert not [p for p in tmp_path.rglob(".*")]  # no temporary file left behind


def test_a_failed_command_removes_the_output_folders_it_created(tmp_path) -> None:
    """check_output makes the output's folders before the work; a run that then fails takes back the empty ones."""
    (tmp_path / "kept").mkdir()
    result = invoke("patches", "lenet5", "-w", "random", "--layer", "conv1", "--channel", "0", "--images",
                    tmp_path / "nope", "-o", tmp_path / "kept" / "new" / "deeper" / "p.png")
    assert result.exit_code == 2 and "folder not found" in result.output, result.output
    assert [p.name for p in tmp_path.iterdir()] == ["kept"] and not any((tmp_path / "kept").iterdir())
    made = invoke("filters", "lenet5", "-w", "random", "-o", tmp_path / "new" / "f.png")
    assert made.exit_code == 0 and (tmp_path / "new" / "f.png").exists(), made.output


def test_torch_commands_take_threads(image_files, monkeypatch) -> None:
    """predict, features, patches, embed, train and style compute with torch: --threads limits them too."""
    import torch

    asked = []
    monkeypatch.setattr(torch, "set_num_threads", asked.append)
    result = invoke("predict", "lenet5", "-w", "random", str(image_files["grey"]), "--threads", "1")
    assert result.exit_code == 0 and asked == [1], result.output
    result = invoke("predict", "lenet5", "-w", "random", str(image_files["grey"]))
    assert result.exit_code == 0 and asked == [1], result.output  # 0, the default, leaves torch's own setting


@pytest.mark.parametrize("command", ["dream", "dream_guide", "style", "style_of", "features", "saliency", "cam",
                                     "patches", "embed"])
def test_an_input_is_never_written_over_even_with_overwrite(image_files, tmp_path, command) -> None:
    """--overwrite replaces an earlier output; an output named like the command's own input (a photo, a style or
    guide image, a file of the scanned folder) would lose it, and is refused before any work."""
    photo, other = image_files["rgb"], image_files["grey"]
    folder = photo.parent
    args = {
        "dream": ["dream", photo, "-o", photo],
        "dream_guide": ["dream", other, "--guide", photo, "-o", photo],
        "style": ["style", photo, other, "-o", photo],
        "style_of": ["style", other, photo, "-o", photo],
        "features": ["features", "lenet5", other, photo, "-l", "tanh1", "-o", photo],
        "saliency": ["saliency", "lenet5", photo, "-o", photo],
        "cam": ["cam", "lenet5", photo, "-o", photo],
        "patches": ["patches", "lenet5", "-l", "tanh1", "-c", "0", "--images", folder, "-o", photo],
        "embed": ["embed", "lenet5", "-l", "tanh1", "--images", folder, "-o", photo],
    }[command]
    before = photo.read_bytes()
    result = invoke(*map(str, args), "-w", "random", "--overwrite")
    assert result.exit_code == 2 and f"{photo} is an input of this command" in result.output, result.output
    assert photo.read_bytes() == before


def test_count_progress_in_a_log_says_the_first_and_last_counts_and_one_every_five_seconds(capsys, monkeypatch) -> None:
    from vis.cli import _app

    clock = iter([0.0, 1.0, 6.0, 7.0, 7.5])
    monkeypatch.setattr(_app.time, "monotonic", lambda: next(clock))
    progress = _app.CountProgress("reading photos:", "files")
    for done in range(5):
        progress(done, 4)
    assert capsys.readouterr().err == "reading photos: 0/4 files\nreading photos: 2/4 files\nreading photos: 4/4 files\n"
    silent = _app.CountProgress("reading photos:", "files", enabled=False)
    silent(4, 4)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("args", [
    ["dream", "{photo}", "-o", "{out}.png", "-w", "random"],
    ["dream", "{photo}", "-o", "{out}.mp4", "--zoom-frames", "2", "-w", "random"],
    ["filters", "lenet5", "-o", "{out}", "-w", "random"],  # no suffix: the figure would go to pipe.png beside it
    ["filters", "lenet5", "-o", "{photo}.png", "--npy", "{out}", "-w", "random"],
    ["export", "lenet5", "-o", "{out}.onnx"],
    ["train", "lenet", "-o", "{out}.pt"],
])
def test_a_pipe_or_device_named_as_output_is_refused(image_files, tmp_path, args) -> None:
    """Writes go to a temporary file renamed over the output: with --overwrite, as root, -o /dev/null replaced the
    device with a file; a pipe made the writability probe wait for a reader for ever. A pipe stands in for both."""
    import os
    import signal
    import stat

    pipe = tmp_path / "pipe"
    named = {"{out}": str(pipe), "{out}.png": f"{pipe}.png", "{out}.mp4": f"{pipe}.mp4", "{out}.onnx": f"{pipe}.onnx",
             "{out}.pt": f"{pipe}.pt", "{photo}": str(image_files["rgb"]), "{photo}.png": str(tmp_path / "f.png")}
    args = [named.get(a, a) for a in args]
    target = next(Path(a) for a in args if a.startswith(str(pipe)))
    os.mkfifo(target)

    def hung(*_):
        raise TimeoutError("the command waited on the pipe")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    try:
        result = invoke(*args, "--overwrite")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert result.exit_code == 2 and f"{target} is not a regular file (a device, pipe or socket)" in result.output, result.output
    assert stat.S_ISFIFO(target.lstat().st_mode)


def test_a_path_that_starts_with_tilde_is_in_the_home_folder(tmp_path, monkeypatch) -> None:
    """``-o=~/x.png`` and a quoted "~/x" reach vis unexpanded: they name the home folder, not a new folder ~."""
    import cv2

    home = tmp_path / "home"
    (home / "in").mkdir(parents=True)
    cv2.imwrite(str(home / "in" / "digit.png"), np.random.default_rng(0).integers(0, 256, (28, 28), np.uint8))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    result = invoke("features", "lenet5", "~/in/digit.png", "-l", "conv1", "--output=~/out/maps.png", "-w", "random",
                    "--npy", "~/out/maps")
    assert result.exit_code == 0, result.output
    assert (home / "out" / "maps.png").is_file() and (home / "out" / "maps.npy").is_file()
    assert not (tmp_path / "~").exists()


def test_a_figure_another_run_wrote_meanwhile_is_kept(tmp_path, monkeypatch) -> None:
    """Both runs began before either wrote: the second does not replace the first's figure (exit 2, its own beside)."""
    import cv2

    import vis.engine._inspect as inspect

    cv2.imwrite(str(tmp_path / "digit.png"), np.random.default_rng(0).integers(0, 256, (28, 28), np.uint8))
    real, out = inspect.feature_maps, tmp_path / "maps.png"

    def and_another_run(*args, **kwargs):
        out.write_bytes(b"the other run's figure")
        return real(*args, **kwargs)

    monkeypatch.setattr(inspect, "feature_maps", and_another_run)
    result = invoke("features", "lenet5", str(tmp_path / "digit.png"), "-l", "conv1", "-o", str(out), "-w", "random")
    assert result.exit_code == 2, result.output
    assert f"{out} exists (written by another run while this one worked?) and is kept; this result is in " \
           f"{tmp_path / 'maps-2.png'}" in " ".join(result.output.split())
    assert out.read_bytes() == b"the other run's figure" and (tmp_path / "maps-2.png").stat().st_size > 1000
