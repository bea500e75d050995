"""The Flask app: HTML pages (overview, gallery, image detail) over a JSON API.

Pages keep the chosen set in the ``set`` query parameter, so a view can be shared and reloaded.
Set names from URLs are only ever looked up in the folder's scanned list (:class:`Catalog`); a
name or index that is not there is a 404 (JSON under ``/api/``, HTML elsewhere), a set whose
file does not load is a 422 with the reason, a bad filter a 400.

Everything costly is cached per set file identity (path, size, mtime): the decoded set, each
model's probabilities, the analysis, every PNG. A changed file gets a new identity, and image
URLs carry it (``v=``), so browsers may keep them for good.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException

from editset_helpers.web import charts
from editset_helpers.web.analysis import SetAnalysis, analyze
from editset_helpers.web.catalog import Catalog, CatalogEntry, UnreadableSetError
from editset_helpers.web.error_review import register_error_review
from editset_helpers.web.influence_view import influence_for_image, register_influence
from editset_helpers.web.lru import LRUCache
from editset_helpers.web.map_view import register_map
from editset_helpers.web.models import ROLES, VERDICTS, Models, Predictor, load_models
from editset_helpers.web.queries import SORTS, ImageQuery, QueryError, run_query
from editset_helpers.web.sets import FileIdentity, LoadedSet
from editset_helpers.web.thumbnails import SIZES, encode_png, scale_for
from helpers import strict_json
from helpers.cache import PROJECT_ROOT
from helpers.cli import parse_integer
from helpers.errors import NotFoundError, UserError
from helpers.text_format import file_size

log = logging.getLogger(__name__)

EXTENSION = "edit_set_visualizer"
CHARTS = ("class_distribution", "confusion")
NOT_AVAILABLE = "\u2013"  # an en dash for "no value"
NO_MODEL_NOTE = ("no model loaded (artifacts/alexnet_base.pth not found): accuracy, class "
                 "probabilities and verdicts are hidden; pass --weights PATH to see them")

FIELD_LABELS = {"predicted_probability": "p(pred)", "true_probability": "p(true)"}

class StrictJSONProvider(DefaultJSONProvider):
    """API answers are strict JSON: a NaN probability is ``null`` (named in a note), never the
    ``NaN`` token that a browser's ``JSON.parse`` rejects."""

    sort_keys = False  # keep the documented field order

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        kwargs.setdefault("default", self.default)
        kwargs.setdefault("ensure_ascii", self.ensure_ascii)
        kwargs.setdefault("sort_keys", self.sort_keys)
        return strict_json.dumps(obj, **kwargs)


bp = Blueprint("visualizer", __name__)


@dataclass
class Visualizer:
    """What the views share: the folder's catalog, the models, and the caches built on them."""

    catalog: Catalog
    models: Models
    predictor: Predictor
    analyses: LRUCache[FileIdentity, SetAnalysis]
    pngs: LRUCache[tuple[Any, ...], bytes]

    def analysis(self, name: str) -> SetAnalysis:
        loaded = self.catalog.open(name)
        return self.analyses.get_or_create(loaded.identity,
                                           lambda: analyze(loaded, self.predictor))

    def png(self, key: tuple[Any, ...], draw: Callable[[], bytes]) -> bytes:
        return self.pngs.get_or_create(key, draw)


def create_app(edit_sets_dir: str | Path, *, weights: str | Path | None = None,
               repaired: str | Path | None = None, models: Models | None = None,
               max_open_sets: int = 4, device: str | None = None,
               activations_dir: str | Path | None = None,
               review: dict[str, Any] | None = None,
               influence_dir: str | Path | None = None) -> Flask:
    """The visualizer for the ``.pt`` files in ``edit_sets_dir``.

    Parameters
    ----------
    edit_sets_dir
        Folder of edit sets (``<name>_edit_dataset.pt``; any other ``.pt`` is listed too).
    weights, repaired
        Checkpoints of the base and the repaired model; without ``weights`` the pages show the
        sets' own records only. Ignored when ``models`` is given.
    max_open_sets
        Decoded sets kept in memory at once.
    device
        Where the models run (``auto``, ``cpu``, ``cuda``, ``mps``; the CPU when not given).
    activations_dir
        Folder of activation sets for the embedding map (``/map``; default
        ``data/activations``).
    review
        Keyword arguments of :func:`~editset_helpers.web.error_review.register_error_review`
        for the data review page (``/error-review``): reports folder, decisions file, data root.
    influence_dir
        Folder of TracIn results (``compute_tracin_influence.py``; default ``results/tracin``):
        an edit image's page lists its proponents and opponents when its set has one.

    Raises
    ------
    UserError
        The folder or a checkpoint is missing or unreadable.
    """
    directory = Path(edit_sets_dir)
    if not directory.exists():
        raise NotFoundError(f"edit-set folder {directory} not found; make edit sets with "
                            "`uv run python editset_generator.py misclassified` or pass "
                            "--edit-sets-dir DIR")
    if not directory.is_dir():
        raise UserError(f"--edit-sets-dir {directory} is a file; give the folder holding the "
                        "*_edit_dataset.pt files")
    if models is None:
        models = load_models(weights, repaired, device=device)
    if models.base is None and models.note is None:
        models.note = NO_MODEL_NOTE
    model_names = models.base.metadata.class_names if models.base is not None else None
    app = Flask(__name__, template_folder=str(PROJECT_ROOT / "templates"),
                static_folder=str(PROJECT_ROOT / "static"), static_url_path="/static")
    app.json = StrictJSONProvider(app)
    # Set names may hold "/" (sets in subfolders); "//x" is then a name to look up (and not
    # find), not a redirect to another URL.
    app.url_map.merge_slashes = False
    app.extensions[EXTENSION] = Visualizer(
        Catalog(directory, fallback_class_names=model_names, max_open=max_open_sets),
        models, Predictor(models), LRUCache(2 * max_open_sets), LRUCache(8192))
    app.register_blueprint(bp)
    register_map(app, activations_dir or "data/activations")
    register_error_review(app, **(review or {}))
    register_influence(app, influence_dir)
    app.register_error_handler(NotFoundError, lambda e: _error(404, str(e)))
    app.register_error_handler(UnreadableSetError, lambda e: _error(422, str(e)))
    app.register_error_handler(UserError, lambda e: _error(400, str(e)))
    app.register_error_handler(HTTPException, lambda e: _error(e.code or 500, e.description))
    app.register_error_handler(Exception, _internal_error)
    app.jinja_env.globals["verdicts"] = VERDICTS
    app.add_template_filter(file_size, "filesize")
    app.add_template_filter(_percent, "percent")
    app.add_template_filter(_number, "number")
    app.add_template_filter(lambda key: FIELD_LABELS.get(key, key.replace("_", " ")),
                            "field_label")
    return app


def _state() -> Visualizer:
    return current_app.extensions[EXTENSION]


# ------------------------------------------------------------------------------------- pages


@bp.get("/")
def overview() -> Any:
    name = request.args.get("set")
    if not name:
        return _to_first_set("visualizer.overview")
    analysis = _state().analysis(name)
    return _page("overview.html", name, analysis=analysis, summary=analysis.summary)


@bp.get("/gallery")
def gallery() -> Any:
    name = request.args.get("set")
    if not name:
        return _to_first_set("visualizer.gallery")
    analysis = _state().analysis(name)
    query = ImageQuery.parse(request.args, analysis)
    page = run_query(analysis, query)
    cards = [analysis.row_dict(p) | {"thumb": _image_url(analysis.loaded, p, "thumb"),
                                     "detail": url_for(".image", set=name, index=p)}
             for p in page.positions]
    return _page("gallery.html", name, analysis=analysis, query=query, page=page, cards=cards,
                 sorts=SORTS, per_page_choices=(30, 60, 120, 240, 600))


@bp.get("/image")
def image() -> Any:
    name = request.args.get("set")
    if not name:
        raise QueryError("the image page needs ?set=NAME&index=N")
    analysis = _state().analysis(name)
    position = _index(request.args.get("index"))
    analysis.loaded.row(position)  # 404 for an index the set does not have
    details = analysis.row_dict(position)
    per_page = ImageQuery().per_page
    return _page("detail.html", name, analysis=analysis, image=details,
                 large=_image_url(analysis.loaded, position, "large"),
                 chart=(url_for(".probabilities_png", name=name, index=position,
                                v=analysis.loaded.identity.tag)
                        if analysis.usable("base") or analysis.usable("repaired") else None),
                 gallery_page=position // per_page + 1,
                 count=len(analysis.loaded),
                 influence=influence_for_image(name, details.get("metadata") or {}, position))


def _page(template: str, name: str | None, **context: Any) -> str:
    state = _state()
    return render_template(f"visualizer/{template}", sets=state.catalog.scan(), current=name,
                           models=state.models, directory=state.catalog.directory, **context)


def _to_first_set(endpoint: str) -> Any:
    """No set chosen: go to the first readable one, so the URL always names the set shown."""
    state = _state()
    entries = state.catalog.scan()
    first = next((e for e in entries if e.ok), None)
    if first is None:
        return render_template("visualizer/empty.html", sets=entries, current=None,
                               models=state.models, directory=state.catalog.directory)
    return redirect(url_for(endpoint, set=first.name))


# --------------------------------------------------------------------------------------- API


@bp.get("/api/sets")
def api_sets() -> Any:
    state = _state()
    return jsonify({"directory": str(state.catalog.directory), "models": state.models.describe(),
                    "note": state.models.note,
                    "sets": [_set_dict(e) for e in state.catalog.scan()]})


@bp.get("/api/sets/<path:name>/summary")
def api_summary(name: str) -> Any:
    analysis = _state().analysis(name)
    charts_urls = {kind: url_for(".chart_png", name=name, kind=kind,
                                 v=analysis.loaded.identity.tag) for kind in CHARTS}
    return jsonify(analysis.summary | {"charts": charts_urls})


@bp.get("/api/sets/<path:name>/images")
def api_images(name: str) -> Any:
    analysis = _state().analysis(name)
    query = ImageQuery.parse(request.args, analysis)
    page = run_query(analysis, query)
    return jsonify({"set": name, "total": page.total, "page": query.page,
                    "per_page": query.per_page, "pages": page.pages,
                    "score_key": analysis.loaded.score_key,
                    "images": [_image_dict(analysis, p) for p in page.positions]})


@bp.get("/api/sets/<path:name>/images/<int:index>")
def api_image(name: str, index: int) -> Any:
    analysis = _state().analysis(name)
    analysis.loaded.row(index)
    details = _image_dict(analysis, index)
    outputs = {role: analysis.usable(role) for role in ROLES}
    details["probabilities"] = {role: None if out is None else out.probabilities[index].tolist()
                                for role, out in outputs.items()}
    details["probability_classes"] = _probability_classes(analysis)
    return jsonify(details)


@bp.get("/api/sets/<path:name>/images/<int:index>.png")
def image_png(name: str, index: int) -> Response:
    loaded = _state().catalog.open(name)
    loaded.row(index)
    size = request.args.get("size", "thumb")
    if size not in SIZES:
        raise QueryError(f"size must be one of {', '.join(SIZES)}, got {size!r}")
    height, width = loaded.pixels.shape[1:3]
    data = _state().png((loaded.identity, "image", index, size),
                        lambda: encode_png(loaded.pixels[index], scale_for(height, width, size)))
    return _png_response(data, loaded.identity, f"{index}-{size}")


@bp.get("/api/sets/<path:name>/images/<int:index>/probabilities.png")
def probabilities_png(name: str, index: int) -> Response:
    analysis = _state().analysis(name)
    row = analysis.loaded.row(index)
    panels = [(_model_title(analysis, role), output.probabilities[index])
              for role in ROLES if (output := analysis.usable(role)) is not None]
    if not panels:
        raise NotFoundError("no model output for this set: start the visualizer with --weights")
    data = _state().png((analysis.loaded.identity, "probabilities", index),
                        lambda: charts.probabilities_png(_probability_classes(analysis), panels,
                                                         row.true_label))
    return _png_response(data, analysis.loaded.identity, f"p{index}")


@bp.get("/api/sets/<path:name>/charts/<kind>.png")
def chart_png(name: str, kind: str) -> Response:
    if kind not in CHARTS:
        raise NotFoundError(f"no chart {kind!r}; charts are {', '.join(CHARTS)}")
    analysis = _state().analysis(name)

    def draw() -> bytes:
        summary = analysis.summary
        if kind == "confusion":
            return charts.confusion_png(summary["confusion"]["classes"],
                                        summary["confusion"]["matrix"])
        true_counts = {c["label"]: c["count"] for c in summary["true_class_counts"]}
        predicted = {c["label"]: c["count"] for c in summary["predicted_class_counts"]}
        labels = sorted(set(true_counts) | set(predicted))
        return charts.class_distribution_png(
            [analysis.loaded.class_name(c) for c in labels],
            [true_counts.get(c, 0) for c in labels],
            [predicted.get(c, 0) for c in labels] if summary["predicted_known"] else None)

    data = _state().png((analysis.loaded.identity, "chart", kind), draw)
    return _png_response(data, analysis.loaded.identity, kind)


# ----------------------------------------------------------------------------------- helpers


def _set_dict(entry: CatalogEntry) -> dict[str, Any]:
    data = entry.to_dict()
    if entry.ok:
        data["summary"] = url_for(".api_summary", name=entry.name)
        data["page"] = url_for(".overview", set=entry.name)
    return data


def _image_dict(analysis: SetAnalysis, position: int) -> dict[str, Any]:
    name = analysis.loaded.name
    return analysis.row_dict(position) | {
        "thumbnail": _image_url(analysis.loaded, position, "thumb"),
        "image": _image_url(analysis.loaded, position, "large"),
        "page": url_for(".image", set=name, index=position)}


def _image_url(loaded: LoadedSet, position: int, size: str) -> str:
    return url_for(".image_png", name=loaded.name, index=position, size=size,
                   v=loaded.identity.tag)


def _probability_classes(analysis: SetAnalysis) -> list[str]:
    widths = [o.probabilities.shape[1] for r in ROLES if (o := analysis.usable(r)) is not None]
    return [analysis.loaded.class_name(k) for k in range(max(widths, default=0))]


def _model_title(analysis: SetAnalysis, role: str) -> str:
    model = _state().models.get(role)
    return f"{role} model ({Path(model.path).name})" if model and model.path else f"{role} model"


def _index(raw: str | None) -> int:
    if raw is None:
        raise QueryError("the image page needs ?set=NAME&index=N")
    try:
        return parse_integer(raw)
    except argparse.ArgumentTypeError:
        shown = raw if len(raw) <= 24 else f"{raw[:20]}... ({len(raw)} characters)"
        raise QueryError(f"index must be a whole number (digits 0-9), got {shown!r}") from None


def _png_response(data: bytes, identity: FileIdentity, part: str) -> Response:
    """A PNG kept by the browser for good when its URL names the file version (``v=``)."""
    response = Response(data, mimetype="image/png")
    response.set_etag(f"{identity.tag}-{part}")
    if request.args.get("v") == identity.tag:
        response.cache_control.max_age = 31_536_000
        response.cache_control.immutable = True
    else:
        response.cache_control.no_cache = True
    return response.make_conditional(request)


def _error(status: int, message: str) -> tuple[Any, int]:
    if request.path.startswith("/api/"):
        return jsonify({"error": message, "status": status}), status
    state = _state()
    try:
        entries = state.catalog.scan()
    except UserError:  # the folder itself went away: still show the message
        entries = []
    current = request.args.get("set")
    known = current if any(e.name == current and e.ok for e in entries) else None
    return render_template("visualizer/error.html", status=status, message=message,
                           sets=entries, current=known, models=state.models,
                           directory=state.catalog.directory), status


def _internal_error(error: Exception) -> tuple[Any, int]:
    """A bug: keep the traceback in the server log, give the browser one line."""
    log.exception("error while answering %s", request.full_path)
    return _error(500, f"internal error ({type(error).__name__}); the server log has the "
                       "traceback")


def _percent(fraction: float | None) -> str:
    return NOT_AVAILABLE if fraction is None or np.isnan(fraction) else f"{100 * fraction:.1f}%"


def _number(value: float | None) -> str:
    return NOT_AVAILABLE if value is None else f"{value:.3f}"
