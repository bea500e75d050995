"""The review page ``/error-review``: look at what the data-quality checks found, and decide.

It reads the newest ``label_issues`` and ``near_duplicates`` reports (and the prediction
validation summary) in the data-quality folder, shows each finding with its images (a
duplicate pair side by side), labels, predictions and scores, filters them by type, score,
class, split and decision, and records **mark fixed / ignore / relabel as <class>** in
:class:`data_quality.decisions.DecisionStore` (SQLite), which survives a restart and exports to
CSV and JSON (the file ``--label-overrides`` and ``--exclude-flagged`` read).

The page runs on the researcher's machine, and any web site they visit could send their
browser to it. So the write routes are POST only and refuse, with 403, a request that

* lacks the page's token (an HMAC of a random nonce under a secret made at start-up: a page of
  another site cannot read it), or
* comes from another origin (``Origin``, or failing that ``Referer``, must be this server), or
* names a host that is not an IP address or ``localhost`` (a DNS-rebinding site would name its
  own domain).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    jsonify,
    render_template,
    request,
    url_for,
)

from data_quality.decisions import DEFAULT_DATABASE, Decision, DecisionStore
from data_quality.reports import DEFAULT_OUTPUT_DIR, list_reports, read_report
from editset_helpers.web.lru import LRUCache
from editset_helpers.web.thumbnails import SIZES, encode_png, scale_for
from helpers.cli import parse_integer, parse_number
from helpers.errors import NotFoundError, UserError

log = logging.getLogger(__name__)

EXTENSION = "error_review"
TOKEN_HEADER = "X-Review-Token"
TYPES = ("all", "label", "duplicate")
STATUSES = ("all", "open", "fixed", "ignored", "relabel")
PER_PAGE = 48

bp = Blueprint("error_review", __name__)


@dataclass
class ReviewState:
    """The folder of reports, the decision store, and caches of splits and PNGs."""

    folder: Path
    store: DecisionStore
    data_root: Path
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    splits: LRUCache[tuple[str, str], Any] = field(default_factory=lambda: LRUCache(4))
    pngs: LRUCache[tuple[str, str, int, str], bytes] = field(
        default_factory=lambda: LRUCache(4096))
    reports: LRUCache[tuple[str, int, int], dict[str, Any]] = field(
        default_factory=lambda: LRUCache(8))

    def token(self) -> str:
        nonce = secrets.token_urlsafe(16)
        return f"{nonce}.{self._sign(nonce)}"

    def token_ok(self, token: str | None) -> bool:
        if not token or "." not in token:
            return False
        nonce, _, signature = token.partition(".")
        return hmac.compare_digest(signature, self._sign(nonce))

    def _sign(self, nonce: str) -> str:
        return hmac.new(self.secret, nonce.encode(), hashlib.sha256).hexdigest()

    def report(self, path: Path) -> dict[str, Any]:
        stat = path.stat()
        return self.reports.get_or_create((str(path), stat.st_size, stat.st_mtime_ns),
                                          lambda: read_report(path))

    def split(self, dataset: str, split: str) -> Any:
        from helpers.datasets import load_split

        return self.splits.get_or_create(
            (dataset, split), lambda: load_split(dataset, split, data_root=self.data_root,
                                                 download=False))


def register_error_review(app: Flask, data_quality_dir: str | Path = DEFAULT_OUTPUT_DIR, *,
                          decisions: str | Path | None = None,
                          data_root: str | Path = "data") -> None:
    """Add ``/error-review`` to ``app``.

    An existing decision database is checked now (read-only), so a damaged one stops the server
    at start-up with one line; a new one is created by the first decision.
    """
    folder = Path(data_quality_dir)
    database = Path(decisions) if decisions else folder / DEFAULT_DATABASE.name
    app.extensions[EXTENSION] = ReviewState(folder, DecisionStore(database), Path(data_root))
    app.register_blueprint(bp)


def _state() -> ReviewState:
    return current_app.extensions[EXTENSION]


# --------------------------------------------------------------------------------- findings


def _newest(kind: str, chosen: str | None) -> Path | None:
    state = _state()
    candidates = [p for p in list_reports(state.folder) if p.name.startswith(f"{kind}_report_")]
    if chosen:
        match = [p for p in candidates if p.name == chosen]
        if not match:
            raise NotFoundError(f"no {kind} report {chosen!r} in {state.folder}")
        return match[0]
    return candidates[0] if candidates else None


def _findings(label_report: dict | None, pair_report: dict | None
              ) -> list[dict[str, Any]]:
    """Every finding as one card: label issues first, then pairs, each in report order."""
    decided = _state().store.by_key()
    items = []
    for row in (label_report or {}).get("errors", []):
        key = (row["dataset"], row["split"], row["index"], "label")
        items.append({"type": "label", "dataset": row["dataset"], "split": row["split"],
                      "index": row["index"], "issue": "label", "score": row["quality_score"],
                      "classes": {row["given_class"]}, "row": row,
                      "decision": decided.get(key)})
    for row in (pair_report or {}).get("similar_pairs", []):
        a, b = row["a"], row["b"]
        issue = f"duplicate:{b['split']}/{b['index']}"
        key = (a["dataset"], a["split"], a["index"], issue)
        items.append({"type": "duplicate", "dataset": a["dataset"], "split": a["split"],
                      "index": a["index"], "issue": issue, "score": row["similarity"],
                      "classes": {a["class"], b["class"]}, "splits": {a["split"], b["split"]},
                      "row": row, "decision": decided.get(key)})
    return items


@dataclass
class Filters:
    """The page's query: type, split, class, score range, decision status, page."""

    type: str = "all"
    split: str = ""
    klass: str = ""
    min_score: float | None = None
    max_score: float | None = None
    status: str = "all"
    page: int = 1

    @classmethod
    def parse(cls, args: Any) -> Filters:
        def choice(name: str, allowed: tuple[str, ...]) -> str:
            value = args.get(name) or allowed[0]
            if value not in allowed:
                raise UserError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
            return value

        def number(name: str) -> float | None:
            raw = args.get(name)
            if raw in (None, ""):
                return None
            try:
                return parse_number(raw)
            except Exception:
                raise UserError(f"{name} must be a number, got {raw[:20]!r}") from None

        page_raw = args.get("page") or "1"
        try:
            page = parse_integer(page_raw, minimum=1)
        except Exception:
            raise UserError(f"page must be a whole number >= 1, got {page_raw[:20]!r}") from None
        return cls(choice("type", TYPES), args.get("split", ""), args.get("class", ""),
                   number("min_score"), number("max_score"), choice("status", STATUSES), page)

    def keep(self, item: dict[str, Any]) -> bool:
        if self.type != "all" and item["type"] != self.type:
            return False
        if self.split and self.split not in item.get("splits", {item["split"]}):
            return False
        if self.klass and self.klass not in item["classes"]:
            return False
        if self.min_score is not None and item["score"] < self.min_score:
            return False
        if self.max_score is not None and item["score"] > self.max_score:
            return False
        decision = item["decision"].decision if item["decision"] else None
        if self.status == "open":
            return decision is None
        return self.status == "all" or decision == self.status


def _overview(items: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    overview: dict[str, dict[str, int]] = {}
    for item in items:
        counts = overview.setdefault(item["type"], {"total": 0, "open": 0, "fixed": 0,
                                                    "ignored": 0, "relabel": 0})
        counts["total"] += 1
        counts[item["decision"].decision if item["decision"] else "open"] += 1
    return overview


# ------------------------------------------------------------------------------------ pages


@bp.get("/error-review")
def review_page() -> Any:
    state = _state()
    label_path = _newest("label_issues", request.args.get("labels"))
    pair_path = _newest("near_duplicates", request.args.get("pairs"))
    validation_path = _newest("prediction_validation", None)
    label_report = state.report(label_path) if label_path else None
    pair_report = state.report(pair_path) if pair_path else None
    validation = state.report(validation_path) if validation_path else None
    filters = Filters.parse(request.args)
    items = _findings(label_report, pair_report)
    shown = [i for i in items if filters.keep(i)]
    pages = max(1, -(-len(shown) // PER_PAGE))
    page = min(filters.page, pages)
    class_names = next((r["class_names"] for r in (label_report, pair_report, validation) if r),
                       [])
    splits = sorted({s for i in items for s in i.get("splits", {i["split"]})})
    return render_template(
        "error_review.html", folder=state.folder, database=state.store.path,
        label_report=label_path, pair_report=pair_path, validation=validation,
        validation_path=validation_path, overview=_overview(items),
        items=shown[(page - 1) * PER_PAGE:page * PER_PAGE], total=len(shown), page=page,
        pages=pages, filters=filters, class_names=class_names, splits=splits,
        types=TYPES, statuses=STATUSES, token=state.token(), token_header=TOKEN_HEADER,
        image_url=_image_url, reports=[p.name for p in list_reports(state.folder)],
        query=request.args.to_dict())


def _image_url(dataset: str, split: str, index: int, size: str = "thumb") -> str:
    return url_for("error_review.image_png", dataset=dataset, split=split, index=index,
                   size=size)


@bp.get("/error-review/image.png")
def image_png() -> Response:
    dataset = request.args.get("dataset", "")
    split_name = request.args.get("split", "")
    size = request.args.get("size", "thumb")
    if size not in SIZES:
        raise UserError(f"size must be one of {', '.join(SIZES)}, got {size!r}")
    raw = request.args.get("index", "")
    try:
        index = parse_integer(raw, minimum=0)
    except Exception:
        raise UserError(f"index must be a whole number >= 0, got {raw[:20]!r}") from None
    state = _state()
    split = state.split(dataset, split_name)
    if index >= len(split):
        raise NotFoundError(f"{dataset}/{split_name} has no image {index}")

    def draw() -> bytes:
        pixels = split.images[index].permute(1, 2, 0).contiguous().numpy()
        return encode_png(np.asarray(pixels), scale_for(pixels.shape[0], pixels.shape[1], size))

    data = state.pngs.get_or_create((dataset, split_name, index, size), draw)
    response = Response(data, mimetype="image/png")
    response.cache_control.max_age = 3600
    return response


# ------------------------------------------------------------------------------ write routes


def _refuse_foreign() -> None:
    """403 unless the request carries the page's token and comes from this server's origin."""
    state = _state()
    host = (request.host or "").rsplit(":", 1)[0].strip("[]")
    if not _local_host_name(host):
        abort(403, description=f"refused: host {host!r} is not an IP address or localhost")
    origin = request.headers.get("Origin")
    if not origin or origin == "null":
        referer = request.headers.get("Referer")
        if referer:
            parts = urlsplit(referer)
            origin = f"{parts.scheme}://{parts.netloc}"
    if not origin or origin.rstrip("/") != request.host_url.rstrip("/"):
        abort(403, description="refused: the request does not come from this page's origin")
    if not state.token_ok(request.headers.get(TOKEN_HEADER)):
        abort(403, description="refused: missing or wrong page token; reload the page")


def _local_host_name(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _decision_from(body: Any) -> Decision:
    if not isinstance(body, dict):
        raise UserError("send the decision as a JSON object")
    dataset, split, issue = body.get("dataset"), body.get("split"), body.get("issue")
    index = body.get("index")
    if not all(isinstance(v, str) and v for v in (dataset, split, issue)):
        raise UserError("a decision needs dataset, split and issue (text)")
    if isinstance(index, bool) or not isinstance(index, int):
        raise UserError(f"index must be a whole number, got {index!r}")
    decision = body.get("decision")
    new_class = body.get("new_class") or None
    new_label = None
    given = _given(dataset, split, index, issue)
    if decision == "relabel":
        names = _class_names(dataset)
        if new_class not in names:
            raise UserError(f"unknown class {new_class!r}; classes are {', '.join(names)}")
        new_label = names.index(new_class)
    return Decision(dataset, split, index, issue, str(decision), new_label, new_class,
                    given[0] if given else None, given[1] if given else None,
                    body.get("note") if isinstance(body.get("note"), str) else None)


def _class_names(dataset: str) -> list[str]:
    state = _state()
    for path in list_reports(state.folder):
        report = state.report(path)
        if report.get("dataset") == dataset:
            return list(report["class_names"])
    raise NotFoundError(f"no report for data set {dataset!r} in {state.folder}")


def _given(dataset: str, split: str, index: int, issue: str) -> tuple[int, str] | None:
    """The image's label as the newest report that names it has it (for the export)."""
    state = _state()
    for path in list_reports(state.folder):
        report = state.report(path)
        if report.get("dataset") != dataset:
            continue
        for row in report.get("errors", []) if issue == "label" else []:
            if row["split"] == split and row["index"] == index:
                return row["given_label"], row["given_class"]
        for row in report.get("similar_pairs", []):
            a = row["a"]
            if a["split"] == split and a["index"] == index:
                return a["label"], a["class"]
    return None


@bp.post("/api/error-review/decisions")
def post_decision() -> Any:
    _refuse_foreign()
    decision = _state().store.decide(_decision_from(request.get_json(silent=True)))
    log.info("decision: %s/%s/%d %s -> %s%s", decision.dataset, decision.split,
             decision.image_idx, decision.issue, decision.decision,
             f" {decision.new_class}" if decision.new_class else "")
    return jsonify({"ok": True, "decision": decision.__dict__})


@bp.post("/api/error-review/decisions/undo")
def undo_decision() -> Any:
    _refuse_foreign()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise UserError("send the decision's key as a JSON object")
    index = body.get("index")
    if isinstance(index, bool) or not isinstance(index, int):
        raise UserError(f"index must be a whole number, got {index!r}")
    removed = _state().store.undo(str(body.get("dataset")), str(body.get("split")), index,
                                  str(body.get("issue")))
    return jsonify({"ok": True, "removed": removed})


@bp.get("/error-review/export.<kind>")
def export(kind: str) -> Response:
    store = _state().store
    if kind == "json":
        return Response(store.export_json(), mimetype="application/json", headers={
            "Content-Disposition": "attachment; filename=decisions.json"})
    if kind == "csv":
        return Response(store.export_csv(), mimetype="text/csv", headers={
            "Content-Disposition": "attachment; filename=decisions.csv"})
    raise NotFoundError(f"no export .{kind}; use .json or .csv")
