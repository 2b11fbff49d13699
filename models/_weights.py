"""Where weights come from: ``imagenet`` (published files, cached), ``random`` (seeded, well-scaled) or a file."""

from __future__ import annotations

import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from vis._text import counted
from vis.errors import VisError, WeightsUnavailableError


@dataclass(frozen=True)
class WeightsFile:
    """A published weight file.

    ``url`` is downloaded once into torch hub's checkpoint folder and its sha256 checked against the prefix in the
    file name (torchvision's convention, ``name-<sha256 prefix>.pth``); ``local`` returns a path when the file ships
    in an installed package.
    """

    url: str | None = None
    local: Callable[[], str | None] | None = None
    note: str = ""

    @property
    def file_name(self) -> str | None:
        return self.url.rsplit("/", 1)[-1] if self.url else None

    def cache_path(self) -> Path | None:
        if not self.file_name:
            return None
        return Path(torch.hub.get_dir()) / "checkpoints" / self.file_name

    def available_locally(self) -> bool:
        if self.local is not None and self.local():
            return True
        path = self.cache_path()
        return bool(path and path.exists())

    def load(self) -> dict[str, torch.Tensor]:
        if self.local is not None:
            path = self.local()
            if path:
                return read_state_dict(Path(path))
        if not self.url:
            raise WeightsUnavailableError("no published weights for this model; use --weights random or a file")
        path = self.cache_path()
        if not path.exists():
            self._download(path)
        try:
            return read_state_dict(path)
        except WeightsUnavailableError as e:  # a download cut short, or a file put there by hand
            raise WeightsUnavailableError(f"{e}; delete it and run again to download it anew ({self.url})") from e

    def _download(self, path: Path) -> None:
        # torch writes to a temporary file beside ``path`` and renames it only once the hash matched
        print(f"downloading {self.url} to {path} (once)", file=sys.stderr)
        named_hash = re.search(r"-([0-9a-f]{6,})\.", path.name)
        hash_prefix = named_hash.group(1) if named_hash else None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(self.url, str(path), hash_prefix=hash_prefix, progress=sys.stderr.isatty())
        except (OSError, RuntimeError) as e:  # URLError is an OSError; a hash mismatch is a RuntimeError
            raise WeightsUnavailableError(
                f"cannot download weights from {self.url} ({e}). Download the file elsewhere and put it at "
                f"{path}, or use --weights random (or --weights PATH for a state_dict file)."
            ) from e


def read_state_dict(path: Path, model_name: str | None = None, mmap: bool = False) -> dict[str, torch.Tensor]:
    """A state_dict from a file: a plain one, or a checkpoint holding it under state_dict/model_state_dict/model.
    ``mmap``: map the tensors rather than read them (torch's zip format only), for a check of names and shapes.

    Raises:
        WeightsUnavailableError: a missing file, one torch cannot read, or a vis checkpoint of a model other than
            ``model_name``.
    """
    if not path.exists():
        raise WeightsUnavailableError(f"weights file not found: {path}")
    if path.is_dir():
        raise WeightsUnavailableError(f"expected a weights file, got a folder: {path}")
    try:
        with warnings.catch_warnings():
            # torch's weights-only reader warns of any pickle protocol but its own 2 (a pickle not saved by torch),
            # before the line vis says about the file
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            obj: Any = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as e:  # torch raises many types (and terse messages) for a corrupt or foreign file
        raise WeightsUnavailableError(f"{path} is not a PyTorch weights file that torch.load can read "
                                      f"({_load_failure(path, e)})") from e
    # A vis checkpoint (or a common training checkpoint) keeps the state_dict under a key.
    if isinstance(obj, dict):
        trained = obj.get("model")
        if isinstance(trained, str) and model_name is not None and trained != model_name:
            raise WeightsUnavailableError(f"{path} is a vis checkpoint of {trained}, not of {model_name}")
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(obj.get(key), dict):
                return obj[key]
        return obj
    raise WeightsUnavailableError(f"{path} holds a {type(obj).__name__}, not a state_dict")


# How torch's legacy (pre-1.6, not zip) files begin: the pickled magic number 0x1950a86a20f9469cfc6c.
_LEGACY_TORCH_MAGIC = (0x1950A86A20F9469CFC6C).to_bytes(10, "little")


def mappable(path: Path) -> bool | None:
    """Whether :func:`read_state_dict` can map ``path``'s tensors (torch's zip format); ``None`` for torch's legacy
    format, which can only be read whole; ``False`` for anything else (a missing file, a folder, a foreign file)."""
    import zipfile

    if not path.is_file():
        return False
    if zipfile.is_zipfile(path):
        return True
    with open(path, "rb") as f:
        return None if _LEGACY_TORCH_MAGIC in f.read(32) else False


def apply_state_dict(model: nn.Module, state: dict[str, torch.Tensor], source: str, drop_prefixes: tuple[str, ...] = ()) -> None:
    state = {k.removeprefix("module."): v for k, v in state.items()}
    state = {k: v for k, v in state.items() if not k.startswith(drop_prefixes)}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise VisError(f"weights from {source} do not fit {type(model).__name__}: "
                       f"{_misfit(model.state_dict(), state)}") from e


def refuse_non_finite(state: dict[str, torch.Tensor], source: str) -> None:
    """Refuse weights holding NaN or infinity (a training run that diverged, a file written wrong): every output
    would be NaN, and a dream would run to its end and then blame the image.

    Raises:
        WeightsUnavailableError: naming the first such tensor.
    """
    for name, tensor in state.items():
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point():
            bad = int((~torch.isfinite(tensor)).sum())
            if bad:
                raise WeightsUnavailableError(f"{source} holds weights that are not finite: {name} has "
                                              f"{bad} of {tensor.numel()} values NaN or infinite")


def _misfit(expected: dict[str, torch.Tensor], given: dict[str, torch.Tensor]) -> str:
    """What differs between a model's tensors and a file's, in a line (torch lists every key)."""
    def some(names: list[str]) -> str:
        return ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")

    missing = sorted(set(expected) - set(given))
    unknown = sorted(set(given) - set(expected))
    parts = []
    if missing:
        parts.append(f"{len(missing)} of the model's {len(expected)} tensors are not in the file ({some(missing)})")
    if unknown:
        parts.append(f"the file has {counted(len(unknown), 'tensor')} the model lacks ({some(unknown)})")
    if not parts:
        name = next((k for k in expected if tuple(expected[k].shape) != tuple(getattr(given[k], "shape", ()))), None)
        if name is None:
            return "torch refused them"
        parts.append(f"{name} is {tuple(expected[name].shape)} in the model and "
                     f"{tuple(getattr(given[name], 'shape', ()))} in the file")
    return "; ".join(parts)


def init_random(model: nn.Module, seed: int, calibration_input: torch.Tensor | None) -> None:
    """Seeded, well-scaled random weights.

    Kaiming-normal convolutions and linear layers keep activations at unit scale through ReLU stacks; batch norm
    statistics are then calibrated on ``calibration_input`` so that a deep net's activations and input gradients
    stay well conditioned (a raw random GoogLeNet's fp32 gradient is ~2% off its fp64 one).
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.normal_(0.0, (2.0 / fan_in) ** 0.5, generator=gen)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.BatchNorm2d):
                m.reset_parameters()
        bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        if bns and calibration_input is not None:
            momenta = [m.momentum for m in bns]
            for m in bns:
                m.momentum = None  # cumulative average over the calibration batch
            model.train()
            model(calibration_input)
            for m, mom in zip(bns, momenta):
                m.momentum = mom
    model.eval()


def smooth_noise(n: int, channels: int, size: int, seed: int) -> torch.Tensor:
    """Low-frequency random images in [0, 1], closer to natural image statistics than white noise."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, channels, max(2, size // 16), max(2, size // 16), generator=gen)
    fine = torch.rand(n, channels, size, size, generator=gen)
    up = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    return (0.8 * up + 0.2 * fine).clamp(0, 1)


def _load_failure(path: Path, error: Exception) -> str:
    """Why torch.load failed, in a few words: its own messages run to paragraphs of advice on ``weights_only``
    that fit a pickle with foreign objects, not a photo given by mistake."""
    with open(path, "rb") as f:
        magic = f.read(4)
    if not (magic.startswith(b"PK\x03\x04") or magic[:1] == b"\x80"):  # torch's zip archive, a bare pickle
        return "it is neither a zip archive nor a pickle"
    if magic.startswith(b"PK") and "zip archive" in str(error):
        return "its zip archive is damaged or cut short"
    if "weights_only" in str(error):
        return "it holds Python objects other than tensors, which vis does not unpickle, for safety"
    reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
    detail = f"{type(error).__name__}: {reason}" if len(reason) > 8 else type(error).__name__
    return detail if len(detail) <= 200 else detail[:200].rsplit(" ", 1)[0] + " ..."
