"""The data-quality scripts' options, declared once as dataclass fields.

``find_label_issues.py``, ``find_near_duplicates.py`` and ``validate_predictions.py`` each take
:class:`CommonOptions` plus their own group; ``run_error_detection.py`` takes all four groups
at once, so every flag has one definition, one default and one help text
(:func:`helpers.cli.add_dataclass_arguments`).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from data_quality.reports import DEFAULT_OUTPUT_DIR
from helpers.cli import (
    add_data_args,
    add_dataclass_arguments,
    add_device_argument,
    dataclass_values,
    fraction,
    integer_type,
    non_negative_int,
    number_type,
    option,
    positive_int,
)

PROBABILITY_SOURCES = ("auto", "model", "probe")
similarity = number_type(-1.0, 1.0, name="cosine similarity in [-1, 1]")
at_least_two = integer_type(minimum=2, name="whole number >= 2")


def _filters() -> list[str]:
    from data_quality.label_issues import FILTERS

    return list(FILTERS)


def _rankings() -> list[str]:
    from data_quality.label_issues import RANKINGS

    return list(RANKINGS)


def _embeddings() -> list[str]:
    from data_quality.embeddings import EMBEDDINGS

    return list(EMBEDDINGS)


@dataclass(frozen=True)
class CommonOptions:
    """What every check shares: the model, the split, the layer, where reports go."""

    weights: str = option("artifacts/alexnet_base.pth", help="model checkpoint whose "
                          "predictions and features the checks use")
    split: str = option("test", help="split whose labels and predictions are checked (the "
                        "duplicate search also compares it with --against)")
    layer: str = option("penultimate", help="model layer for the probe's features and the "
                        "model embedding (penultimate or a module name like classifier.4)")
    batch_size: int = option(250, type=positive_int, help="images per forward pass")
    seed: int = option(0, type=non_negative_int, help="seed of the probe's folds and the PCA "
                       "sample")
    output_dir: str = option(str(DEFAULT_OUTPUT_DIR), help="folder for the timestamped "
                             "reports")
    force: bool = option(False, help="overwrite an existing report file")


@dataclass(frozen=True)
class LabelIssueOptions:
    """find_label_issues.py: where the probabilities come from and how cleanlab ranks."""

    probabilities: str = option("auto", choices=PROBABILITY_SOURCES, help="out-of-sample "
                                "probabilities: the model's softmax, or a cross-validated "
                                "logistic-regression probe on frozen features (auto: the probe "
                                "for the train split, the model otherwise)")
    folds: int = option(5, type=at_least_two, help="folds of the cross-validated probe")
    probe_pca_dim: int = option(256, type=non_negative_int, help="PCA components of the "
                                "probe's features (0: all)")
    filter_by: str = option("prune_by_noise_rate", choices=_filters,
                            help="cleanlab's rule for which labels are issues")
    rank_by: str = option("self_confidence", choices=_rankings,
                          help="cleanlab's label quality score that orders them")
    influence: str | None = option(None, metavar="NPZ", help="TracIn self-influence of the "
                                   "split's images (an NPZ with a score array and indices); "
                                   "blended into the ranking")
    influence_key: str | None = option(None, metavar="NAME", help="score array in --influence "
                                       "(default: the first of self_influence_normalized, "
                                       "self_influence, scores, influence)")
    influence_weight: float = option(0.5, type=fraction, help="share of self-influence in the "
                                     "blended ranking, in [0, 1]")


@dataclass(frozen=True)
class DuplicateOptions:
    """find_near_duplicates.py: which embedding, which splits, which pairs to report."""

    embedding: str = option("spectrum", choices=_embeddings, help="image embedding compared "
                            "by cosine similarity (see data_quality/embeddings.py)")
    against: str | None = option("train", help="second split searched for copies of --split's "
                                 "images (leakage); 'none' to search within --split only",
                                 to_field=lambda v: None if v in (None, "none") else v)
    neighbours: int = option(5, type=positive_int, help="nearest neighbours asked per image")
    threshold: float = option(0.95, type=similarity, help="report pairs at least this similar")
    max_pairs: int = option(1000, type=positive_int, help="report at most this many pairs per "
                            "search (most similar first)")
    pca_dim: int = option(128, type=non_negative_int, help="PCA components of wide embeddings "
                          "(model layers) before the search (0: all)")


@dataclass(frozen=True)
class ValidationOptions:
    """validate_predictions.py: the reliability diagram's bins."""

    bins: int = option(15, type=positive_int, help="equal-width confidence bins of the "
                       "reliability diagram and the ECE")


GROUPS = {"common": CommonOptions, "label_issues": LabelIssueOptions,
          "near_duplicates": DuplicateOptions, "prediction_validation": ValidationOptions}


def add_options(parser: argparse.ArgumentParser, *groups: str) -> None:
    """Data, device, the common options and the named groups' options."""
    data = parser.add_argument_group("data")
    add_data_args(data)
    add_device_argument(data)
    add_dataclass_arguments(parser.add_argument_group("checks"), CommonOptions)
    for group in groups:
        cls = GROUPS[group]
        add_dataclass_arguments(parser.add_argument_group(group.replace("_", " ")), cls)
    parser.add_argument("-v", "--verbose", action="store_true")


def single_check_parser(doc: str, group: str) -> argparse.ArgumentParser:
    """The parser of a one-check script: its docstring's first paragraph as description, the
    rest (examples) as epilog, the data, common and ``group`` options, and ``--output``."""
    from helpers.cli import ArgumentParser, HelpFormatter

    parser = ArgumentParser(description=doc.split("\n\n")[0], epilog=doc.split("\n\n", 1)[1],
                            formatter_class=HelpFormatter)
    add_options(parser, group)
    parser.add_argument("--output", default=None, metavar="PATH", help="report file (default: "
                        f"<output-dir>/{group}_report_<time>.json)")
    return parser


def read_options(args: argparse.Namespace, group: str) -> Any:
    cls = GROUPS[group]
    return cls(**dataclass_values(cls, args))
