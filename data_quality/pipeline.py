"""The three checks end to end, from options to report dictionaries, sharing one loaded model.

:class:`Workbench` loads the model and each split once (``run_error_detection.py`` runs all
three checks on them); :func:`label_issues_report`, :func:`near_duplicates_report` and
:func:`prediction_validation_report` each return the report to write. Every report's header
names the data set, the model file and its hash, and the label overrides in force.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from data_quality import reports
from data_quality.options import (
    CommonOptions,
    DuplicateOptions,
    LabelIssueOptions,
    ValidationOptions,
)
from helpers.datasets import ImageSplit, load_split
from helpers.devices import resolve_device
from helpers.errors import UserError
from helpers.label_overrides import LabelOverrides
from model_classes.checkpoints import LoadedModel, load_checkpoint

log = logging.getLogger(__name__)


@dataclass
class Workbench:
    """The model and the splits the checks read, each loaded once on first use."""

    common: CommonOptions
    dataset: str = "cifar10"
    data_root: str = "data"
    label_overrides: str | Path | None = None
    device: str = "auto"
    progress: bool = True
    argv: list[str] | None = None
    script: str | None = None
    _loaded: LoadedModel | None = None
    _splits: dict[str, ImageSplit] = field(default_factory=dict)
    _overrides: LabelOverrides | None = None

    def __post_init__(self) -> None:
        if self.label_overrides is not None:  # a bad file fails before anything is loaded
            self._overrides = LabelOverrides.read(self.label_overrides)

    @property
    def loaded(self) -> LoadedModel:
        if self._loaded is None:
            self._loaded = load_checkpoint(self.common.weights,
                                           device=resolve_device(self.device))
        return self._loaded

    def split(self, name: str) -> ImageSplit:
        if name not in self._splits:
            self._splits[name] = load_split(self.dataset, name, data_root=self.data_root,
                                            label_overrides=self._overrides)
        return self._splits[name]

    def check_model_fits(self, split: ImageSplit) -> None:
        if self.loaded.metadata.num_classes != split.num_classes:
            raise UserError(f"{self.common.weights} predicts {self.loaded.metadata.num_classes} "
                            f"classes but {split.dataset} has {split.num_classes}; use weights "
                            "trained on this data set")

    def header(self, kind: str, image_split: ImageSplit, **extra: Any) -> dict[str, Any]:
        overrides = {name: s.label_overrides for name, s in self._splits.items()
                     if s.label_overrides}
        return reports.header(kind, dataset=image_split.dataset,
                              class_names=image_split.class_names,
                              model=(reports.model_info(self.loaded, self.common.weights)
                                     if self._loaded is not None else None),
                              label_overrides=overrides or None, argv=self.argv,
                              script=self.script, **extra)


# --------------------------------------------------------------------------- label issues


def label_issues_report(bench: Workbench, options: LabelIssueOptions) -> dict[str, Any]:
    from data_quality.features import layer_features
    from data_quality.label_issues import (
        combine_with_influence,
        error_rows,
        rank_label_issues,
        read_influence,
        summary,
    )
    from data_quality.probabilities import cross_validated_probe, model_probabilities

    started = time.perf_counter()
    split = bench.split(bench.common.split)
    influence = info = None
    if options.influence:  # a bad file fails before the forward passes
        influence, info = read_influence(options.influence, num_images=len(split),
                                         dataset=split.dataset, split=split.split,
                                         key=options.influence_key)
    bench.check_model_fits(split)
    source = options.probabilities
    if source == "auto":
        source = "probe" if split.split == "train" else "model"
    labels = split.labels.numpy()
    method: dict[str, Any] = {"probabilities": source}
    if source == "model":
        pred_probs = model_probabilities(bench.loaded, split.images, split.num_classes,
                                         batch_size=bench.common.batch_size)
    else:
        features = layer_features(bench.loaded, split.images, bench.common.layer,
                                  batch_size=bench.common.batch_size, progress=bench.progress)
        pred_probs = cross_validated_probe(features, labels, split.num_classes,
                                           folds=options.folds,
                                           pca_dim=options.probe_pca_dim or None,
                                           seed=bench.common.seed, progress=bench.progress)
        method.update(layer=bench.common.layer, folds=options.folds,
                      pca_dim=options.probe_pca_dim or None, probe="logistic_regression",
                      probe_accuracy=float((pred_probs.argmax(1) == labels).mean()))
    ranking = rank_label_issues(labels, pred_probs, filter_by=options.filter_by,
                                rank_by=options.rank_by)
    if influence is not None:
        ranking = combine_with_influence(ranking, influence, weight=options.influence_weight)
        method["influence"] = {**info, "weight": options.influence_weight}
    method.update(filter_by=options.filter_by, rank_by=options.rank_by,
                  ranking=ranking.method, model_accuracy_on_given_labels=float(
                      (pred_probs.argmax(1) == labels).mean()))
    report = bench.header("label_issues", split, split=split.split, method=method)
    report["summary"] = {**summary(ranking, labels, split.class_names),
                         "seconds": round(time.perf_counter() - started, 2)}
    report["errors"] = error_rows(ranking, labels, pred_probs, split.class_names,
                                  dataset=split.dataset, split=split.split, influence=influence)
    return report


# ------------------------------------------------------------------------- near duplicates


def near_duplicates_report(bench: Workbench, options: DuplicateOptions) -> dict[str, Any]:
    from data_quality.duplicates import pair_rows, pairs_across, pairs_within
    from data_quality.embeddings import NEEDS_MODEL, EmbeddingContext, embed_sets

    started = time.perf_counter()
    query = bench.split(bench.common.split)
    other = (bench.split(options.against)
             if options.against and options.against != query.split else None)
    if other is not None and (other.image_shape != query.image_shape
                              or other.class_names != query.class_names):
        raise UserError(f"{query.split} and {options.against} differ in image shape or classes")
    context = EmbeddingContext(bench.loaded if options.embedding in NEEDS_MODEL else None,
                               layer=bench.common.layer, batch_size=bench.common.batch_size,
                               progress=bench.progress)
    if context.loaded is not None:
        bench.check_model_fits(query)
    sets = [query.images] + ([other.images] if other is not None else [])
    embedded = embed_sets(options.embedding, sets, context, pca_dim=options.pca_dim or None,
                          seed=bench.common.seed)
    embed_seconds = time.perf_counter() - started
    searches = []
    rows: list[dict[str, Any]] = []
    within = pairs_within(embedded[0], k=options.neighbours, progress=bench.progress)
    searches.append(_search_summary(f"within {query.split}", within, options))
    rows += pair_rows(within.above(options.threshold).top(options.max_pairs),
                      dataset=query.dataset, split_a=query.split, split_b=query.split,
                      labels_a=query.labels.numpy(), labels_b=query.labels.numpy(),
                      class_names=query.class_names)
    if other is not None:
        across = pairs_across(embedded[0], embedded[1], k=options.neighbours,
                              progress=bench.progress)
        searches.append(_search_summary(f"{query.split} vs {other.split}", across, options))
        rows += pair_rows(across.above(options.threshold).top(options.max_pairs),
                          dataset=query.dataset, split_a=query.split, split_b=other.split,
                          labels_a=query.labels.numpy(), labels_b=other.labels.numpy(),
                          class_names=query.class_names)
    rows.sort(key=lambda r: -r["similarity"])
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    report = bench.header("near_duplicates", query, splits=[s.split for s in (query, other)
                                                             if s is not None],
                          method={"embedding": options.embedding, "dimensions":
                                  int(embedded[0].shape[1]),
                                  "layer": bench.common.layer if context.loaded else None,
                                  "pca_dim": options.pca_dim or None,
                                  "neighbours": options.neighbours, "search": "faiss.IndexFlatIP "
                                  "(exact cosine similarity)"})
    report["summary"] = {
        "pairs_found": len(rows), "threshold": options.threshold,
        "labels_disagree": sum(not r["labels_agree"] for r in rows),
        "images": {s.split: len(s) for s in (query, other) if s is not None},
        "searches": searches,
        "seconds": {"embedding": round(embed_seconds, 2),
                    "total": round(time.perf_counter() - started, 2)},
    }
    report["similar_pairs"] = rows
    return report


def _search_summary(name: str, pairs: Any, options: DuplicateOptions) -> dict[str, Any]:
    above = pairs.above(options.threshold)
    return {"search": name, "candidate_pairs": len(pairs), "pairs_above_threshold": len(above),
            "reported": min(len(above), options.max_pairs),
            "highest_similarity": float(pairs.similarity[0]) if len(pairs) else None}


# ---------------------------------------------------------------------- prediction checks


def prediction_validation_report(bench: Workbench, options: ValidationOptions,
                                 diagram: Path | None) -> dict[str, Any]:
    from data_quality.probabilities import model_probabilities
    from data_quality.validation import reliability_diagram, validate_predictions

    split = bench.split(bench.common.split)
    bench.check_model_fits(split)
    probabilities = model_probabilities(bench.loaded, split.images, split.num_classes,
                                        batch_size=bench.common.batch_size)
    body = validate_predictions(split.labels.numpy(), probabilities, split.class_names,
                                bins=options.bins, dataset=split.dataset, split=split.split)
    report = bench.header("prediction_validation", split, split=split.split)
    report.update(body)
    if diagram is not None:
        reliability_diagram(body["reliability"], body["summary"]["expected_calibration_error"],
                            diagram, title=f"{Path(bench.common.weights).name} on "
                                           f"{split.dataset}/{split.split}")
        report["reliability_diagram"] = str(diagram)
    return report


# ----------------------------------------------------------------------------- the scripts

CHECKS = ("label_issues", "near_duplicates", "prediction_validation")


def run_checks(args: Any, kinds: tuple[str, ...], *, script: str, argv: list[str] | None,
               outputs: dict[str, str | None] | None = None) -> dict[str, tuple[Path, dict]]:
    """What every data-quality script does: check every output first, then run ``kinds`` on one
    :class:`Workbench`, writing each report as soon as it is done.

    ``outputs`` names a report file per kind; the others get
    ``<output_dir>/<kind>_report_<timestamp>.json`` (one time stamp for the whole run).
    """
    from data_quality.options import read_options

    common: CommonOptions = read_options(args, "common")
    stamp = reports.timestamp()
    paths: dict[str, Path] = {}
    for kind in kinds:
        chosen = (outputs or {}).get(kind)
        paths[kind] = reports.prepare_output(
            chosen or reports.report_path(kind, common.output_dir, stamp), force=common.force)
    diagram = None
    if "prediction_validation" in kinds:
        target = paths["prediction_validation"]
        diagram = reports.prepare_output(target.with_name(f"{target.stem}_reliability.png"),
                                         force=common.force)
    bench = Workbench(common, dataset=args.dataset, data_root=args.data_root,
                      label_overrides=args.label_overrides, device=args.device, argv=argv,
                      script=script)
    builders = {
        "label_issues": lambda: label_issues_report(bench, read_options(args, "label_issues")),
        "near_duplicates": lambda: near_duplicates_report(bench,
                                                          read_options(args, "near_duplicates")),
        "prediction_validation": lambda: prediction_validation_report(
            bench, read_options(args, "prediction_validation"), diagram),
    }
    written = {}
    for kind in kinds:
        log.info("running %s on %s/%s", kind.replace("_", " "), args.dataset, common.split)
        report = builders[kind]()
        reports.write_report(paths[kind], report)
        written[kind] = (paths[kind], report)
    return written


def run_single_check(kind: str, args: Any, *, script: str, argv: list[str] | None) -> int:
    """The body of a one-check script: run it, write the report, print its summary."""
    written = run_checks(args, (kind,), script=script, argv=argv, outputs={kind: args.output})
    path, report = written[kind]
    print("\n".join(summary_lines(kind, path, report)))
    return 0


def summary_lines(kind: str, path: Path, report: dict[str, Any]) -> list[str]:
    """A few printed lines per report: the numbers a researcher wants first, and the file."""
    s = report["summary"]
    where = f"{report['dataset']}/{report.get('split') or '+'.join(report.get('splits', []))}"
    if kind == "label_issues":
        top = ", ".join(f"#{e['index']} {e['given_class']}->{e['suggested_class']}"
                        for e in report["errors"][:3]) or "none"
        lines = [f"label issues in {where}: {s['issues_found']} of {s['images_analysed']} "
                 f"images ({100 * s['issue_fraction']:.2f}%); most suspicious: {top}"]
    elif kind == "near_duplicates":
        per = "; ".join(f"{x['search']}: {x['pairs_above_threshold']}" for x in s["searches"])
        lines = [f"near duplicates in {where} (cosine >= {s['threshold']:g}, "
                 f"{report['method']['embedding']} embedding): {per}; "
                 f"{s['labels_disagree']} reported pairs disagree in label"]
    else:
        lines = [f"predictions on {where}: accuracy {100 * s['accuracy']:.2f}% "
                 f"({s['errors']} errors of {s['images']}), ECE "
                 f"{100 * s['expected_calibration_error']:.2f}%"]
    return [*lines, f"  report: {path}"]
