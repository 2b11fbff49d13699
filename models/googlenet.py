"""GoogLeNet (Inception v1) with torchvision's module layout and state_dict keys.

Szegedy et al. 2014, https://arxiv.org/abs/1409.4842. torchvision's ImageNet weights expect its
``transform_input``: ImageNet-normalised input mapped back to ``(x - 0.5) / 0.5``. Since vis feeds [0, 1] images,
that whole chain is one normalisation with mean 0.5 and std 0.5, applied by :class:`StagedNet`.
Like torchvision, the 5x5 branch uses a 3x3 convolution (the published weights were trained that way).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from vis.models._base import Stage, StagedNet


class BasicConv2d(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, **kwargs: int):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_ch, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    def __init__(self, in_ch: int, ch1: int, ch3red: int, ch3: int, ch5red: int, ch5: int, pool_proj: int):
        super().__init__()
        self.branch1 = BasicConv2d(in_ch, ch1, kernel_size=1)
        self.branch2 = nn.Sequential(BasicConv2d(in_ch, ch3red, kernel_size=1), BasicConv2d(ch3red, ch3, kernel_size=3, padding=1))
        self.branch3 = nn.Sequential(BasicConv2d(in_ch, ch5red, kernel_size=1), BasicConv2d(ch5red, ch5, kernel_size=3, padding=1))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True), BasicConv2d(in_ch, pool_proj, kernel_size=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionAux(nn.Module):
    def __init__(self, in_ch: int, num_classes: int):
        super().__init__()
        self.conv = BasicConv2d(in_ch, 128, kernel_size=1)
        self.fc1 = nn.Linear(2048, 1024)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(F.adaptive_avg_pool2d(x, (4, 4)))
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))


# name -> (in, 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj), torchvision's table
INCEPTION_TABLE = {
    "inception3a": (192, 64, 96, 128, 16, 32, 32),
    "inception3b": (256, 128, 128, 192, 32, 96, 64),
    "inception4a": (480, 192, 96, 208, 16, 48, 64),
    "inception4b": (512, 160, 112, 224, 24, 64, 64),
    "inception4c": (512, 128, 128, 256, 24, 64, 64),
    "inception4d": (512, 112, 144, 288, 32, 64, 64),
    "inception4e": (528, 256, 160, 320, 32, 128, 128),
    "inception5a": (832, 256, 160, 320, 32, 128, 128),
    "inception5b": (832, 384, 192, 384, 48, 128, 128),
}


class GoogLeNet(StagedNet):
    def __init__(self, num_classes: int = 1000, aux_logits: bool = False):
        super().__init__(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
        self.conv1 = BasicConv2d(3, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        for name, args in INCEPTION_TABLE.items():
            setattr(self, name, Inception(*args))
            if name == "inception3b":
                self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
            if name == "inception4e":
                self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        # Auxiliary heads only matter for training; the published file holds them, loading drops them if absent.
        self.aux1 = InceptionAux(512, num_classes) if aux_logits else None
        self.aux2 = InceptionAux(528, num_classes) if aux_logits else None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(1024, num_classes)

    def stages(self) -> list[Stage]:
        order = ["conv1", "maxpool1", "conv2", "conv3", "maxpool2", "inception3a", "inception3b", "maxpool3",
                 "inception4a", "inception4b", "inception4c", "inception4d", "inception4e", "maxpool4",
                 "inception5a", "inception5b"]
        kinds = {"conv": "conv", "maxp": "pool", "ince": "inception"}
        out = [Stage(n, kinds[n[:4]], getattr(self, n)) for n in order]
        out += [
            Stage("avgpool", "pool", lambda x: torch.flatten(self.avgpool(x), 1)),
            Stage("dropout", "dropout", self.dropout),
            Stage("fc", "fc", self.fc, ("logits",)),
        ]
        return out
