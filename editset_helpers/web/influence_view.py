"""TracIn on the visualizer: an edit image's proponents and opponents, and a training image's page.

When ``compute_tracin_influence.py --compute-influence --edit-set <dir>/<name>_edit_dataset.pt``
has written ``<influence dir>/influence_<name>.npz``, the edit image's page lists its top
proponents and opponents (thumbnails from the error-review image route, raw and normalised
scores), each linking to ``/influence/image``: the training image's own page, with its
self-influence when a self-influence result of its split is in the folder, and the edit images
it supports or opposes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from flask import Blueprint, Flask, current_app, render_template, request, url_for

from editset_helpers.web.lru import LRUCache
from helpers.cli import parse_integer
from helpers.errors import NotFoundError, UserError
from influence.results import SelfInfluenceFile, TestInfluenceFile

EXTENSION = "influence_view"
DEFAULT_DIR = Path("results/tracin")
SHOWN = 8  # proponents and opponents listed per edit image

bp = Blueprint("influence", __name__)


@dataclass
class InfluenceState:
    folder: Path
    files: LRUCache[tuple[str, str, int, int], Any] = field(
        default_factory=lambda: LRUCache(8))

    def _read(self, path: Path, reader: Any) -> Any:
        stat = path.stat()
        return self.files.get_or_create((reader.__name__, str(path), stat.st_size,
                                         stat.st_mtime_ns), lambda: reader.read(path))

    def for_set(self, set_name: str) -> TestInfluenceFile | None:
        path = self.folder / f"influence_{set_name.replace('/', '__')}.npz"
        if not path.is_file():
            return None
        try:
            return self._read(path, TestInfluenceFile)
        except UserError:
            return None  # not ours or damaged: the page shows no influence, not an error

    def results(self) -> list[tuple[str, Any]]:
        """Every readable result in the folder: ("self" | "test", file)."""
        found = []
        for path in sorted(self.folder.glob("*.npz")) if self.folder.is_dir() else []:
            for kind, reader in (("self", SelfInfluenceFile), ("test", TestInfluenceFile)):
                try:
                    found.append((kind, self._read(path, reader)))
                    break
                except UserError:
                    continue
        return found


def register_influence(app: Flask, influence_dir: str | Path | None = None) -> None:
    app.extensions[EXTENSION] = InfluenceState(Path(influence_dir or DEFAULT_DIR))
    app.register_blueprint(bp)


def _state() -> InfluenceState:
    return current_app.extensions[EXTENSION]


def _thumb(dataset: str, split: str, index: int) -> str:
    return url_for("error_review.image_png", dataset=dataset, split=split, index=index,
                   size="thumb")


def _page_url(dataset: str, split: str, index: int) -> str:
    return url_for("influence.image_page", dataset=dataset, split=split, index=index)


def influence_for_image(set_name: str, metadata: dict[str, Any], position: int
                        ) -> dict[str, Any] | None:
    """The proponents and opponents of one edit image, ready for the template, or None."""
    state = current_app.extensions.get(EXTENSION)
    result = state.for_set(set_name) if state else None
    if result is None:
        return None
    t = None
    if metadata.get("image_idx") is not None:
        t = result.find(str(metadata.get("dataset", result.dataset)),
                        str(metadata.get("split", "")), int(metadata["image_idx"]))
    if t is None and len(result) > position:
        t = position  # a set without indices: the result follows the set's order
    if t is None:
        return None
    entry = result.explain(t, limit=SHOWN)
    for rows in entry.values():
        if isinstance(rows, list):
            for row in rows:
                row["thumb"] = _thumb(row["dataset"], row["split"], row["image_idx"])
                row["page"] = _page_url(row["dataset"], row["split"], row["image_idx"])
    entry["file"] = result.path.name
    return entry


@bp.get("/influence/image")
def image_page() -> Any:
    dataset = request.args.get("dataset", "")
    split = request.args.get("split", "")
    raw = request.args.get("index", "")
    try:
        index = parse_integer(raw, minimum=0)
    except Exception:
        raise UserError(f"index must be a whole number >= 0, got {raw[:20]!r}") from None
    self_rows, appearances = [], []
    for kind, result in _state().results():
        if result.dataset != dataset or result.split != split:
            continue
        if kind == "self":
            where = np.nonzero(result.arrays["indices"] == index)[0]
            if len(where):
                p = int(where[0])
                names = result.class_names
                rank = int((result.scores("normalized") > result.scores("normalized")[p]).sum())
                self_rows.append({"file": result.path.name,
                                  "raw": float(result.scores("raw")[p]),
                                  "normalized": float(result.scores("normalized")[p]),
                                  "rank": rank + 1, "of": len(result.arrays["indices"]),
                                  "label": names[int(result.arrays["labels"][p])],
                                  "predicted": names[int(result.arrays["predicted"][p])]})
            continue
        for name in ("proponents_normalized", "opponents_normalized"):
            hits = np.argwhere(result.arrays[f"{name}_index"] == index)
            for t, rank in hits.tolist():
                entry = result.explain(t, limit=0, score="normalized")
                appearances.append({"file": result.path.name, "kind": name.split("_")[0][:-1],
                                    "rank": rank + 1,
                                    "score": float(result.arrays[f"{name}_score"][t, rank]),
                                    "edit": entry})
    if not self_rows and not appearances:
        raise NotFoundError(f"no influence result in {_state().folder} mentions {dataset}/"
                            f"{split} image {index}")
    visualizer = current_app.extensions.get("edit_set_visualizer")
    frame = ({"sets": visualizer.catalog.scan(), "models": visualizer.models,
              "directory": visualizer.catalog.directory} if visualizer else {"sets": []})
    return render_template("visualizer/influence_image.html", current=None, **frame,
                           dataset=dataset, split=split,
                           index=index, thumb=url_for("error_review.image_png", dataset=dataset,
                                                      split=split, index=index, size="large"),
                           self_rows=self_rows, appearances=appearances)
