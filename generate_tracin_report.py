"""Write the TracIn influence report: every figure, the settings and a written summary (PDF).

Examples:
  uv run python generate_tracin_report.py \\
      --self-influence results/tracin/self_influence_alexnet_base_train.npz \\
      --test-influence results/tracin/influence_misclassified.npz
  uv run python generate_tracin_report.py --self-influence results/tracin/self.npz \\
      --output /tmp/report.pdf --force

The PDF (default results/tracin_reports/tracin_influence_report_YYYYMMDD_HHMMSS.pdf, UTC) has
one page per section: the run's settings; a summary computed from the data (most
self-influential classes, likely mislabelled training images, which edit images are explained
by which training images, training images that oppose several edit images) with what to
relabel or remove before retraining; then every figure of visualize_influence.py and
visualize_test_influence.py.
"""

from __future__ import annotations

import argparse
import sys

from helpers.cli import ArgumentParser, HelpFormatter, run_main, setup_logging


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0],
                            epilog=__doc__.split("\n\n", 1)[1], formatter_class=HelpFormatter)
    parser.add_argument("--self-influence", default=None, metavar="NPZ",
                        help="a self-influence result of compute_tracin_influence.py")
    parser.add_argument("--test-influence", default=None, metavar="NPZ",
                        help="a test-influence (edit set) result of compute_tracin_influence.py")
    parser.add_argument("--edit-set", default=None, help="the edit set explained (its pixels)")
    parser.add_argument("--data-root", default="data", help="where the data set's images are")
    parser.add_argument("--output", default=None, help="the PDF (default: a new timestamped "
                        "file in results/tracin_reports/)")
    parser.add_argument("--force", action="store_true", help="overwrite --output")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    from helpers.errors import UserError
    from influence.report import default_report_path, write_report
    from influence.results import SelfInfluenceFile, TestInfluenceFile

    if not args.self_influence and not args.test_influence:
        raise UserError("give --self-influence NPZ, --test-influence NPZ or both")
    self_result = SelfInfluenceFile.read(args.self_influence) if args.self_influence else None
    test_result = TestInfluenceFile.read(args.test_influence) if args.test_influence else None
    edit_images = None
    if args.edit_set:
        from editset_helpers.io import load_edit_set

        edit_images = load_edit_set(args.edit_set).images.numpy()
    path, sections = write_report(args.output or default_report_path(), self_result=self_result,
                                  test_result=test_result, data_root=args.data_root,
                                  edit_images=edit_images, force=args.force)
    print(f"report with {len(sections)} pages written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
