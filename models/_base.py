"""The common shape of every vis network: an ordered table of named stages.

Each architecture keeps torchvision's (or the weight file's) module layout so that published state_dicts load
with strict key checking, and describes its forward pass as a list of :class:`Stage` s. Layers are addressed by
stage name, never by index; running "up to" a layer executes only the stages it needs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from vis.errors import UnknownNameError


@dataclass(frozen=True)
class Stage:
    """One addressable layer: ``fn`` maps the previous stage's output to this stage's output.

    Attributes:
        name: the layer's name, e.g. ``conv4_1`` or ``inception4c``.
        kind: what it is: ``conv``, ``relu``, ``pool``, ``bn``, ``tanh``, ``inception``, ``block``, ``fc``, ...
        fn: the computation of this stage.
        tags: extra facts, e.g. ``pre_relu`` (a conv output before its ReLU; ``pre_tanh`` in LeNet-5), ``logits``.
    """

    name: str
    kind: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    tags: tuple[str, ...] = field(default=())


class StagedNet(nn.Module):
    """Base of the vis architectures.

    ``forward`` takes images as float32 NCHW in [0, 1] (RGB, or one grey channel for LeNet) and applies the
    model's own normalisation first, so every caller, and every exported ONNX graph, needs no preprocessing
    knowledge. The normalisation constants are non-persistent buffers: they stay out of the state_dict.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.register_buffer("input_mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("input_std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def stages(self) -> list[Stage]:
        """The forward pass as an ordered list of named stages."""
        raise NotImplementedError

    def layer_names(self) -> list[str]:
        return [s.name for s in self.stages()]

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.input_mean) / self.input_std

    def forward_layers(self, x: torch.Tensor, layers: Sequence[str]) -> list[torch.Tensor]:
        """Outputs of ``layers`` (in the order asked) for images ``x`` of shape (N, C, H, W) in [0, 1].

        Stages past the deepest requested layer are not run.

        Raises:
            UnknownNameError: a name is not a layer of this model (the message lists the closest ones).
        """
        stages = self.stages()
        index = {s.name: i for i, s in enumerate(stages)}
        for name in layers:
            if name not in index:
                raise UnknownNameError(f"layer of {type(self).__name__}", name, index)
        wanted = set(layers)
        last = max(index[n] for n in layers)
        found: dict[str, torch.Tensor] = {}
        h = self.normalize(x)
        for stage in stages[: last + 1]:
            h = stage.fn(h)
            if stage.name in wanted:
                found[stage.name] = h
        return [found[n] for n in layers]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.normalize(x)
        for stage in self.stages():
            h = stage.fn(h)
        return h
