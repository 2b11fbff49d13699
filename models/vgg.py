"""VGG-19 with torchvision's module layout and state_dict keys (``features.N``, ``classifier.N``).

Simonyan & Zisserman 2014, https://arxiv.org/abs/1409.1556
"""

from __future__ import annotations

import torch
from torch import nn

from vis.models._base import Stage, StagedNet

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Convolutions per block for VGG-19 (configuration "E" of the paper).
VGG19_BLOCKS = ((64, 64), (128, 128), (256, 256, 256, 256), (512, 512, 512, 512), (512, 512, 512, 512))


class VGG(StagedNet):
    def __init__(self, blocks: tuple[tuple[int, ...], ...] = VGG19_BLOCKS, num_classes: int = 1000):
        super().__init__(IMAGENET_MEAN, IMAGENET_STD)
        layers: list[nn.Module] = []
        self._feature_names: list[tuple[str, str, tuple[str, ...]]] = []
        in_ch = 3
        for b, widths in enumerate(blocks, start=1):
            for c, width in enumerate(widths, start=1):
                layers += [nn.Conv2d(in_ch, width, 3, padding=1), nn.ReLU()]
                self._feature_names += [(f"conv{b}_{c}", "conv", ("pre_relu",)), (f"relu{b}_{c}", "relu", ())]
                in_ch = width
            layers.append(nn.MaxPool2d(2, 2))
            self._feature_names.append((f"pool{b}", "pool", ()))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), nn.Dropout(),
            nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(),
            nn.Linear(4096, num_classes),
        )

    def stages(self) -> list[Stage]:
        out = [Stage(name, kind, self.features[i], tags) for i, (name, kind, tags) in enumerate(self._feature_names)]
        c = self.classifier
        out += [
            Stage("avgpool", "pool", self.avgpool),
            Stage("fc6", "fc", lambda x: c[0](torch.flatten(x, 1)), ("pre_relu",)),
            Stage("relu6", "relu", c[1]),
            Stage("drop6", "dropout", c[2]),
            Stage("fc7", "fc", c[3], ("pre_relu",)),
            Stage("relu7", "relu", c[4]),
            Stage("drop7", "dropout", c[5]),
            Stage("fc8", "fc", c[6], ("logits",)),
        ]
        return out
