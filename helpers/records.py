"""The identity an image carries from the data layer to every report, CSV row and web page."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class ImageRecord:
    """Where an image comes from and what it is: enough to find it again and to name its class."""

    dataset: str
    split: str
    index: int
    label: int
    class_name: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
