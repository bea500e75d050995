"""Make ranked edit sets (confidently wrong, almost right) and analyse every edit set.

Examples:
  uv run python generate_specialized_repairsets.py confident_wrong          # confidence >= 0.8
  uv run python generate_specialized_repairsets.py confident_wrong 0.9 200  # 200 most confident
  uv run python generate_specialized_repairsets.py closest                  # defaults 0.1 0.3
  uv run python generate_specialized_repairsets.py closest 0.2 0.2 100      # 100 smallest margins
  uv run python generate_specialized_repairsets.py both                     # defaults, 500 each
  uv run python generate_specialized_repairsets.py closest --dry-run        # only count
  uv run python generate_specialized_repairsets.py confident_wrong 0.5 --per-class 5 --num-classes 4
  uv run python generate_specialized_repairsets.py analyze --json results/edit_sets.json \\
      --plots results/edit_set_plots

Sets are written as data/edit_sets/confident_wrong_<threshold:.2f>_edit_dataset.pt and
closest_<min_true_prob:.2f>_<max_margin:.2f>_edit_dataset.pt, each with its
_edit_metadata.json, in the format every tool reads (run_repair.py --edit-set, eval.py --edit-set,
the experiment runner's types confident_wrong/closest, the web visualizer). When max_samples cuts
the list, the most extreme images are kept: highest confidence, or smallest margin; ties go to
the lower image index. An empty selection writes nothing and exits 0.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from helpers.cli import (
    ArgumentParser,
    HelpFormatter,
    fraction,
    max_samples,
    non_negative_number,
    number_type,
    run_main,
    setup_logging,
)

if TYPE_CHECKING:  # torch-heavy modules load only when a command needs them
    from editset_helpers.specialized import SpecializedRequest

DESCRIPTION, EPILOG = __doc__.split("\n\n", 1)
BOTH_MAX_SAMPLES = 500  # `both` makes each kind with its defaults, this many images each
threshold = number_type(0.0, 1.0, exclusive_minimum=True, name="threshold in (0, 1]")


def _generation_options() -> argparse.ArgumentParser:
    from editset_helpers.options import add_generation_arguments

    common = argparse.ArgumentParser(add_help=False)
    add_generation_arguments(common, seed_help="recorded in the metadata; the ranked order does "
                                               "not depend on it")
    common.add_argument("--dry-run", action="store_true",
                        help="report how many images qualify; write nothing")
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="generate_specialized_repairsets.py",
                                description=DESCRIPTION, epilog=EPILOG,
                                formatter_class=HelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _generation_options()

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, parents=[common], help=summary, description=summary,
                                   epilog=EPILOG.split("\n\n", 1)[0],
                                   formatter_class=HelpFormatter)

    confident = command("confident_wrong",
                        "wrong predictions with top softmax probability >= threshold")
    confident.add_argument("confidence_threshold", nargs="?", type=threshold, default=0.8,
                           help="in (0, 1]")
    confident.add_argument("max_samples", nargs="?", type=max_samples, default=-1,
                           help="keep the N most confident; -1 keeps all")

    closest = command("closest", "wrong predictions with p(true) >= min_true_prob and "
                                 "p(predicted) - p(true) <= max_margin")
    closest.add_argument("min_true_prob", nargs="?", type=fraction, default=0.1, help="in [0, 1]")
    closest.add_argument("max_margin", nargs="?", type=non_negative_number, default=0.3,
                         help=">= 0")
    closest.add_argument("max_samples", nargs="?", type=max_samples, default=-1,
                         help="keep the N smallest margins; -1 keeps all")

    both = command("both", "confident_wrong and closest with default parameters")
    both.add_argument("max_samples", nargs="?", type=max_samples, default=BOTH_MAX_SAMPLES,
                      help="images per set; -1 keeps all")

    analyze = commands.add_parser(
        "analyze", help="summarise every edit set in a folder",
        description="Samples, confidence and margin distributions, class diversity and files "
                    "of every edit set under --edit-sets-dir (any kind, searched recursively).",
        epilog="Example:\n  uv run python generate_specialized_repairsets.py analyze --json "
               "results/edit_sets.json --plots results/edit_set_plots",
        formatter_class=HelpFormatter)
    analyze.add_argument("--edit-sets-dir", default="data/edit_sets", help="folder to analyse")
    analyze.add_argument("--json", default=None, metavar="PATH", help="also write the analysis "
                         "as JSON there; None means no JSON")
    analyze.add_argument("--plots", default=None, metavar="DIR", help="write one histogram PNG "
                         "per set there; None means no plots")
    analyze.add_argument("--force", action="store_true", help="overwrite --json/--plots files")
    analyze.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    if args.command == "analyze":
        return run_analyze(args)
    return run_generate(args)


def requests_from(args: argparse.Namespace) -> list[SpecializedRequest]:
    """The sets a command asks for, validated (so mistakes surface before the model loads)."""
    from editset_helpers.specialized import SpecializedRequest

    if args.command == "confident_wrong":
        return [SpecializedRequest.make("confident_wrong",
                                        confidence_threshold=args.confidence_threshold,
                                        max_samples=args.max_samples)]
    if args.command == "closest":
        return [SpecializedRequest.make("closest", min_true_prob=args.min_true_prob,
                                        max_margin=args.max_margin, max_samples=args.max_samples)]
    return [SpecializedRequest.make(kind, max_samples=args.max_samples)
            for kind in ("confident_wrong", "closest")]


def run_generate(args: argparse.Namespace) -> int:
    from editset_helpers.generation import Source
    from editset_helpers.options import balance_from
    from editset_helpers.specialized import check_outputs, run_requests
    from helpers.devices import resolve_device

    requests = requests_from(args)
    balance = balance_from(args)
    device = resolve_device(args.device)
    if not args.dry_run:  # fail on an existing file before the model is loaded
        check_outputs(requests, args.output_dir, force=args.force)

    source = Source.load(args.weights, dataset=args.dataset, split=args.split,
                         data_root=args.data_root, device=device,
                         label_overrides=args.label_overrides,
                         exclude_flagged=args.exclude_flagged)
    outcomes = run_requests(source, requests, args.output_dir, seed=args.seed, balance=balance,
                            force=args.force, dry_run=args.dry_run)
    predictions = source.predictions
    total = len(predictions.labels)
    print(f"{args.weights}: {100 * predictions.accuracy:.2f}% right on {total} "
          f"{predictions.dataset}/{predictions.split} images "
          f"({int(predictions.wrong.sum())} wrong)")
    for outcome in outcomes:
        request = outcome.request
        print(f"{request.name}: {outcome.available} images are {request.criterion}; "
              f"kept {outcome.kept}")
        balanced = outcome.result.balance if outcome.result is not None else None
        if balanced is not None:
            print(f"  balanced: {balanced.summary(predictions.class_names)}")
        if outcome.written:
            pt_path, json_path = outcome.written
            print(f"  wrote {pt_path} and {json_path.name}")
        elif args.dry_run:
            print("  dry run: nothing written")
        else:
            print("  no image qualifies: nothing written")
    return 0


def run_analyze(args: argparse.Namespace) -> int:
    from editset_helpers.analysis import analyze_folder, format_report
    from helpers.atomic_io import atomic_write_json, check_writable
    from helpers.paths import check_location

    if args.json:
        check_writable(args.json, force=args.force)
    if args.plots:
        check_location(args.plots, folder=True)
    analysis = analyze_folder(args.edit_sets_dir)
    print(format_report(analysis), end="")
    if args.json:
        document = {"created": datetime.now(UTC).isoformat(timespec="seconds"),
                    "command": "generate_specialized_repairsets.py analyze",
                    **analysis.to_dict()}
        atomic_write_json(args.json, document)
        print(f"wrote {args.json}")
    if args.plots:
        from editset_helpers.analysis_plots import write_plots

        written = write_plots(analysis, args.plots, force=args.force)
        print(f"wrote {len(written)} histogram PNG file(s) to {args.plots}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
