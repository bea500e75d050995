"""Models: architectures by name, their checkpoints, and training a base classifier.

AlexNet in the torchvision layout, small test networks, and any torchvision classifier wrapped
with the input transform (:mod:`model_classes.registry`); saving and loading checkpoints with
their metadata (:mod:`model_classes.checkpoints`); resumable training
(:mod:`model_classes.training`). Builds on :mod:`helpers` only.
"""

from model_classes.registry import ARCHITECTURES, build_model

__all__ = ["ARCHITECTURES", "build_model"]
