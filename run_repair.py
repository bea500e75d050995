"""Repair a model on an edit set with a provable guarantee, verify it, and report.

Examples:
  uv run python run_repair.py misclassified                    # data/edit_sets/misclassified_*
  uv run python run_repair.py by-class --target-class 3        # misclassified cats
  uv run python run_repair.py --edit-set data/edit_sets/confident_wrong_0.80_edit_dataset.pt
  uv run python run_repair.py misclassified --margin 0.5 --keep-set 2000 --force
  uv run python run_repair.py misclassified --norm linf --geometry parameters   # raw L-inf LP
  uv run python run_repair.py misclassified --layer classifier.4 --neurons most-active:256
  uv run python run_repair.py misclassified --solver highs     # HiGHS's QP (before auto)

A missing misclassified / by-class edit set is generated first (see editset_generator.py).
Exit codes: 0 repaired and verified, 1 no repair found (infeasible, time limit, or the change
did not verify), 2 a user error (missing file, unknown class, existing output without --force).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from helpers.cli import (
    ArgumentParser,
    HelpFormatter,
    add_data_args,
    add_device_argument,
    max_samples,
    non_negative_int,
    run_main,
    setup_logging,
)

log = logging.getLogger("run_repair")


def build_parser() -> argparse.ArgumentParser:
    from edits.config import add_repair_arguments

    parser = ArgumentParser(description=__doc__.split("\n\n")[0],
                            epilog=__doc__.split("\n\n", 1)[1], formatter_class=HelpFormatter)
    parser.add_argument("mode", nargs="?", choices=["misclassified", "by-class"],
                        help="which standard edit set to repair (or give --edit-set)")
    parser.add_argument("--edit-set", type=Path, help="any edit set .pt file")
    parser.add_argument("--target-class", type=non_negative_int, help="class id for by-class")
    parser.add_argument("--focus", choices=["incorrect", "correct"], default="incorrect",
                        help="by-class: images of the class the model gets wrong or right")
    parser.add_argument("--max-samples", type=max_samples, default=None,
                        help="when the edit set must be generated: at most this many images")
    parser.add_argument("--edit-sets-dir", type=Path, default=Path("data/edit_sets"))
    parser.add_argument("--weights", type=Path, default=Path("artifacts/alexnet_base.pth"))
    add_data_args(parser)
    add_device_argument(parser)
    add_repair_arguments(parser.add_argument_group("repair"))
    parser.add_argument("--output", type=Path, default=Path("artifacts/alexnet_repaired.pth"),
                        help="repaired checkpoint (written only when verified)")
    parser.add_argument("--report", type=Path, default=None,
                        help="JSON report (default: beside --output, *_report.json)")
    parser.add_argument("--force", action="store_true", help="overwrite existing outputs")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    if args.edit_set is None and args.mode is None:
        parser.error("give a mode (misclassified, by-class) or --edit-set PATH")
    if args.mode == "by-class" and args.target_class is None and args.edit_set is None:
        parser.error("by-class needs --target-class N")

    from edits.config import RepairConfig
    from edits.job import format_before_after, run_repair_job
    from editset_helpers.io import load_edit_set
    from helpers.datasets import load_split
    from helpers.devices import resolve_device
    from helpers.errors import UserError
    from helpers.file_pairs import check_pair
    from model_classes.checkpoints import load_checkpoint

    report = args.report or args.output.with_name(f"{args.output.stem}_report.json")
    check_pair(args.output, report, force=args.force)  # before the slow part
    config = RepairConfig.from_args(args)
    device = resolve_device(args.device)
    test_split = load_split(args.dataset, "test", data_root=args.data_root,
                            label_overrides=args.label_overrides)
    loaded = load_checkpoint(args.weights, class_names=test_split.class_names, device=device)
    edit_path = args.edit_set or _standard_edit_set(args, test_split, device)
    edit_set = load_edit_set(edit_path)
    if len(edit_set) == 0:
        raise UserError(f"{edit_path} holds no images; there is nothing to repair")
    needs_train = config.geometry == "outputs" or config.keep_set > 0
    train_split = (load_split(args.dataset, "train", data_root=args.data_root,
                              label_overrides=args.label_overrides)
                   if needs_train else None)
    log.info("repairing %s on %s (%d images, model on %s)", args.weights, edit_path,
             len(edit_set), device)
    job = run_repair_job(loaded, edit_set, config, test_split=test_split,
                         train_split=train_split, output=args.output, report_path=report,
                         force=args.force)
    print(format_before_after(job.report))
    if job.repair.verified:
        print(f"repaired model: {args.output}\nreport: {report}")
        return 0
    print(f"error: {job.repair.message}\nreport: {report}", file=sys.stderr)
    return 1


def _standard_edit_set(args, test_split, device) -> Path:
    """The standard file for the mode, generated on first use."""
    from editset_helpers.generation import Source, generate_edit_set
    from editset_helpers.io import edit_set_paths, standard_edit_set_name
    from helpers.errors import UserError

    set_type = ("misclassified" if args.mode == "misclassified"
                else f"class_homogeneous_{args.focus}")
    parameters = {}
    class_name = None
    if args.mode == "by-class":
        if not 0 <= args.target_class < test_split.num_classes:
            raise UserError(f"unknown class {args.target_class}; classes are 0..."
                            f"{test_split.num_classes - 1} ({', '.join(test_split.class_names)})")
        parameters["target_class"] = args.target_class
        class_name = test_split.class_names[args.target_class]
    name = standard_edit_set_name(set_type, target_class=args.target_class, class_name=class_name)
    path, _ = edit_set_paths(args.edit_sets_dir, name)
    if path.exists():
        return path
    log.info("%s does not exist yet; generating it", path)
    source = Source.load(args.weights, dataset=args.dataset, data_root=args.data_root,
                         device=device, label_overrides=args.label_overrides)
    result = generate_edit_set(source, set_type, path, parameters=parameters,
                               max_samples=args.max_samples, seed=args.seed)
    if result.edit_set is None:
        raise UserError(f"the model gets no image of type {set_type} wrong/right on the test "
                        "split, so there is nothing to repair")
    return path


if __name__ == "__main__":
    sys.exit(run_main(main))
