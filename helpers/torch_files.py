"""Read a ``.pt``/``.pth`` file safely, with the one-line errors users need.

Every tensor file is read with ``weights_only=True`` (no code runs from a file), and the reasons
a read fails (missing, not a torch file, a pickle with code in it) become one line that names
the file and what to do, instead of torch's advice to load it unsafely.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from helpers.errors import NotFoundError, UserError


def load_weights_only(path: str | Path, *, what: str, missing_hint: str, mmap: bool = False
                      ) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU; ``what`` names the file's role.

    ``mmap``: map the file instead of reading it, so tensors that are never used (an epoch
    checkpoint's optimizer state) cost nothing.
    """
    path = Path(path)
    if not path.exists():
        raise NotFoundError(f"{what} {path} not found; {missing_hint}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as error:
        text = str(error)
        if "WeightsUnpickler error:" in text:  # drop torch's advice to load unsafely
            text = "not a tensor-only file: " + text.split("WeightsUnpickler error:")[1].strip()
        first = (text.splitlines() or [type(error).__name__])[0]
        raise UserError(f"{path} is not a readable {what} file ({first[:160]})") from None
