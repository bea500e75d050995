"""The identity an image carries from the data layer to every edit set, report, CSV row and page.

One vocabulary everywhere, the seed's edit-set keys: ``dataset``, ``split``, ``image_idx`` (the
index in the split), ``true_label`` and ``true_class`` (the name from the data set's own
metadata). Edit-set records, reports and the web API extend it with ``predicted_label`` /
``predicted_class`` and scores; nothing downstream looks a class name up again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class ImageRecord:
    """Where an image comes from and what it is: enough to find it again and to name its class."""

    dataset: str
    split: str
    image_idx: int
    true_label: int
    true_class: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def key(self) -> tuple[str, str, int]:
        """(data set, split, index): what identifies the image across tools."""
        return self.dataset, self.split, self.image_idx
