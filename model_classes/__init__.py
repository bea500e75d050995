"""Architectures by name: AlexNet in the torchvision layout, small test networks, and any
torchvision classifier wrapped with the input transform (see :mod:`model_classes.registry`)."""

from model_classes.registry import ARCHITECTURES, build_model

__all__ = ["ARCHITECTURES", "build_model"]
