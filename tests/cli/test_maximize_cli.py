"""`vis maximize` and `vis atlas` through typer's CliRunner and as a subprocess."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from vis.cli import app

runner = CliRunner()


def test_maximize_writes_image_and_is_reproducible(tmp_path):
    paths = [tmp_path / "a.png", tmp_path / "b.png"]
    for path in paths:
        result = runner.invoke(app, ["maximize", "lenet5", "--objective", "conv2:3", "-o", str(path),
                                     "--weights", "random", "--iterations", "4", "--seed", "3", "--threads", "1", "-q"])
        assert result.exit_code == 0, result.output
        assert "scales 28," in result.output
    a, b = (cv2.imread(str(p)) for p in paths)
    assert a.shape == (28, 28, 3) and np.array_equal(a, b)


def test_maximize_refuses_to_overwrite(tmp_path):
    out = tmp_path / "x.png"
    out.write_bytes(b"keep")
    result = runner.invoke(app, ["maximize", "lenet5", "--objective", "conv2:3", "-o", str(out),
                                 "--weights", "random"])
    assert result.exit_code == 2 and "--overwrite" in result.output
    assert out.read_bytes() == b"keep"


def test_class_image_is_classified(tmp_path):
    out = tmp_path / "digit.png"
    result = runner.invoke(app, ["maximize", "lenet5", "--objective", "class:7", "-o", str(out), "--weights", "random",
                                 "--iterations", "5", "--backend", "torch", "-q"])
    assert result.exit_code == 0, result.output
    assert "lenet5 classifies it as:" in result.output
    assert len([line for line in result.output.splitlines() if line.startswith("  ") and "%" in line]) == 5


def test_a_top_past_the_classes_is_said(tmp_path):
    result = runner.invoke(app, ["maximize", "lenet5", "--objective", "class:7", "-o", str(tmp_path / "d.png"),
                                 "--weights", "random", "--iterations", "2", "--top", "11", "-q"])
    assert result.exit_code == 0, result.output
    assert len([line for line in result.stdout.splitlines() if line.startswith("  ") and "%" in line]) == 10
    assert "note: lenet5 has 10 classes: --top 11 shows all of them" in result.stderr


def test_atlas_grid(tmp_path):
    out = tmp_path / "grid.png"
    result = runner.invoke(app, ["atlas", "lenet5", "--layer", "conv2", "--channels", "0:3", "-o", str(out),
                                 "--weights", "random", "--iterations", "2", "--batch", "2", "--threads", "1", "-q"])
    assert result.exit_code == 0, result.output
    grid = cv2.imread(str(out))
    assert grid is not None and grid.shape[1] == 2 * 32 + 4


def test_atlas_progress_names_each_batchs_channels(tmp_path):
    out = tmp_path / "grid.png"
    result = runner.invoke(app, ["atlas", "lenet5", "--layer", "conv2", "--channels", "10:13", "-o", str(out),
                                 "--weights", "random", "--iterations", "4", "--batch", "2", "--threads", "1"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "step" in line]
    assert lines[0].startswith("conv2:10-11 (2 of 3 channels): scale 28 (1/1) step 4/4")  # the layer's numbers
    assert lines[-1].startswith("conv2:12 (3 of 3 channels): scale 28 (1/1) step 4/4"), result.output


@pytest.mark.parametrize("args, message", [
    (["maximize", "googlenet", "--objective", "inception9z:1"], "unknown layer"),
    (["maximize", "googlenet", "--objective", "inception4a:512"], "out of range"),
    (["maximize", "googlenet", "--objective", "inception4a:1", "--scales", "112,56"], "--scales must ascend"),
    (["maximize", "googlenet", "--objective", "inception4a:1", "--scales", "56,x"], "--scales must be"),
    (["maximize", "googlenet", "--objective", "inception4a:1", "--scales", "8,16"], "--scales must be integers"),
    (["maximize", "vgg19", "--objective", "class:dragonfly", "--scales", "56,224"], "needs 224x224"),
    (["maximize", "googlenet", "--objective", "inception4a:1", "--param", "gan"], "unknown parameterisation"),
    (["maximize", "lenet5", "--objective", "conv2:1", "--backend", "tf"], "unknown backend"),
    (["maximize", "nosuchnet", "--objective", "conv1:1"], "unknown model"),
    (["atlas", "googlenet", "--layer", "inception9z", "--channels", "0:4"], "unknown layer"),
    (["atlas", "googlenet", "--layer", "inception4a", "--channels", "500:520"], "out of range"),
    (["atlas", "googlenet", "--layer", "inception4a", "--channels", "a-b"], "--channels must look like"),
    (["atlas", "googlenet", "--layer", "inception4a", "--channels", "1,2,1"], "channel 1 more than once"),
    (["atlas", "googlenet", "--layer", "inception4a", "--channels", "0:8:0"], "step of at least 1"),
    (["maximize", "googlenet", "--objective", "inception4a:1", "--param", "fft", "--scales", "56,112"], "fft optimises at one size"),
    (["maximize", "googlenet", "--objective", "inception4a:1", "--param", "fft", "--step", "0.1"], "whose step size is --lr"),
    (["maximize", "googlenet", "--objective", "inception4a:1", "--lr", "0.1"], "--lr is Adam's learning rate"),
    (["atlas", "googlenet", "--layer", "inception4a", "--param", "fft", "--blur-every", "2"], "--blur-every blurs"),
    (["atlas", "googlenet", "--layer", "inception4a", "--param", "fft", "--scales", "32,48"], "fft optimises at one size"),
    (["atlas", "googlenet", "--layer", "inception4a", "-c", "0:3", "--columns", "100"], "--columns 100 is more than the 3"),
    (["atlas", "googlenet", "--layer", "inception4a", "-c", ""], "--channels is empty"),
    (["maximize", "googlenet", "--objective", "inception4a:1", "--top", "3"], "--top sets how many classes are printed"),
    (["maximize", "googlenet", "--objective", "inception4a:1", "--size", "100000"], "sizes above 4096 px are refused"),
    (["maximize", "googlenet", "--objective", "inception4a:1", "--tv", "inf"], "--tv must be a finite number, got inf"),
    (["maximize", "googlenet", "--objective", "inception4a:1 - inception4a:1"], "cancel out"),
])
def test_bad_inputs_exit_2_with_one_message(tmp_path, args, message):
    result = runner.invoke(app, [*args, "-o", str(tmp_path / "o.png"), "--weights", "random", "--iterations", "1", "-q"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.output
    assert not (tmp_path / "o.png").exists()


def test_subprocess_error_exit_code(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "vis", "atlas", "lenet5", "--layer", "conv2", "--channels",
                           "0:999", "-o", str(tmp_path / "g.png"), "--weights", "random"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error:") and "Traceback" not in proc.stderr


@pytest.mark.parametrize("command", [["maximize", "lenet5", "--objective", "conv2:1"], ["atlas", "lenet5", "--layer", "conv2"]])
def test_an_output_no_image_is_written_as_fails_before_the_work(tmp_path, monkeypatch, command):
    import vis.engine._atlas as atlas_module
    import vis.engine._maximize as maximize_module

    def never(*args, **kwargs):
        raise AssertionError("optimised before the output was checked")

    monkeypatch.setattr(maximize_module, "maximize", never)
    monkeypatch.setattr(atlas_module, "atlas", never)
    result = runner.invoke(app, [*command, "-o", str(tmp_path / "o.txt"), "--weights", "random", "-q"])
    assert result.exit_code == 2 and "cannot write an image as .txt" in result.output, result.output


def test_atlas_default_takes_all_channels_of_a_small_layer(tmp_path):
    out = tmp_path / "a.png"
    result = runner.invoke(app, ["atlas", "lenet5", "-l", "tanh1", "-o", str(out), "--weights", "random",
                                 "--iterations", "1", "-q"])
    assert result.exit_code == 0, result.output
    assert "6 channels of tanh1" in result.output and out.exists()
    result = runner.invoke(app, ["atlas", "lenet5", "-l", "tanh1", "-c", "5", "-o", str(tmp_path / "one.png"),
                                 "--weights", "random", "--iterations", "1", "-q"])
    assert result.exit_code == 0 and "1 channel of tanh1" in result.output, result.output


def test_a_neuron_outside_the_map_fails_before_the_work(tmp_path):
    result = runner.invoke(app, ["maximize", "lenet5", "--weights", "random", "--objective", "conv2:1@30,30",
                                 "-o", str(tmp_path / "o.png"), "-q"])
    assert result.exit_code == 2 and "outside conv2's" in result.output, result.output
    assert not (tmp_path / "o.png").exists()


def test_maximize_refuses_a_guide_objective_and_points_to_dream(tmp_path) -> None:
    result = runner.invoke(app, ["maximize", "lenet5", "-w", "random", "--objective", "guide:tanh2",
                                 "-o", str(tmp_path / "g.png")])
    assert result.exit_code == 2 and "vis dream IMAGE --guide GUIDE" in result.output, result.output
    assert not (tmp_path / "g.png").exists()


def test_the_objective_printed_is_the_written_images(tmp_path):
    """The progress showed the objective of the jittered image before the last step (61 where the file held 30):
    the line after "wrote" is the written file's, recomputed here in torch."""
    import re

    import torch

    from vis.engine import load_image
    from vis.models import get_model

    out = tmp_path / "seven.png"
    result = runner.invoke(app, ["maximize", "lenet5", "--objective", "class:7", "-o", str(out), "--weights", "random",
                                 "--iterations", "5", "--threads", "1", "-q"])
    assert result.exit_code == 0, result.output
    printed = float(re.search(r"objective (\S+) on the image written", result.output).group(1))
    grey = load_image(out)[..., :1].transpose(2, 0, 1)[None]
    with torch.no_grad():
        logit = get_model("lenet5", weights="random")(torch.from_numpy(np.ascontiguousarray(grey)))[0, 7].item()
    assert printed == pytest.approx(logit, rel=1e-3, abs=1e-3)


def test_an_objective_that_never_woke_is_said(tmp_path, monkeypatch):
    """Where no start excites the objective, the image is only its start: said on stderr, not silently exit 0."""
    import vis.engine._maximize as maximizing

    monkeypatch.setattr(maximizing, "objective_of", lambda backend, image, channels: (0.0, False))
    result = runner.invoke(app, ["maximize", "lenet5", "--objective", "conv2:3", "-o", str(tmp_path / "x.png"),
                                 "--weights", "random", "--iterations", "2", "--threads", "1", "-q"])
    assert result.exit_code == 0, result.output
    assert "note: conv2:3 gave no gradient from any start tried" in result.stderr
    assert "none of them excites it" in result.stderr and "no pixel" not in result.stderr  # photos may wake it


def test_an_atlas_says_which_channels_never_woke(tmp_path, monkeypatch):
    import vis.engine._atlas as atlases

    real = atlases.atlas
    monkeypatch.setattr(atlases, "atlas", lambda *a, **k: real(*a, **k)._replace(asleep=[1, 2]))
    result = runner.invoke(app, ["atlas", "lenet5", "--layer", "conv2", "--channels", "0:3", "-o",
                                 str(tmp_path / "a.png"), "--weights", "random", "--iterations", "1", "-q"])
    assert result.exit_code == 0, result.output
    assert "note: no start woke 2 channels of conv2 (1,2): none of the starts tried excites them, so their tiles " \
        "show only noisy grey" in result.stderr
