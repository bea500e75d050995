"""AlexNet in the torchvision layout, as an ``nn.Sequential`` the repair engine can walk.

The children are ``preprocess`` (no state), ``features``, ``avgpool``, ``flatten`` and
``classifier``, so the state_dict keys are exactly torchvision's (``features.0.weight`` ...
``classifier.6.bias``) and a plain torchvision state_dict loads unchanged, while the layer
sequence is explicit: no hidden ``torch.flatten`` inside a ``forward``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torchvision
from torch import nn

from helpers.transforms import CIFAR10_MEAN, CIFAR10_STD, InputTransform


class AlexNet(nn.Sequential):
    def __init__(self, num_classes: int = 10, *, input_size: int = 64,
                 mean: Sequence[float] = CIFAR10_MEAN, std: Sequence[float] = CIFAR10_STD,
                 dropout: float = 0.5):
        body = torchvision.models.alexnet(weights=None, num_classes=num_classes, dropout=dropout)
        super().__init__(OrderedDict(
            preprocess=InputTransform(input_size, mean, std),
            features=body.features,
            avgpool=body.avgpool,
            flatten=nn.Flatten(1),
            classifier=body.classifier,
        ))
