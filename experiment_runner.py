"""Sweep repairs over edit-set types and sizes: one CSV row per repair, then plot them.

Examples:
  uv run python experiment_runner.py --repair-set-sizes 10 50 100 \\
      --repair-set-types misclassified class_homogeneous_incorrect --target-classes 3 5
  uv run python experiment_runner.py --repair-set-sizes 10 50 --param-bound 1 5 --margin 0.5 2
  uv run python experiment_runner.py --repair-set-types confident_wrong closest --workers 2
  uv run python experiment_runner.py --executor ray                        # local Ray instance
  uv run python experiment_runner.py --executor ray --ray-address auto     # a running cluster
  uv run python experiment_runner.py --edit-set-sizing-strategy strict --no-save-models
  uv run python experiment_runner.py --repair-set-types misclassified --corruption fog \
      --severity 3 --repair-set-sizes 50 100   # edit sets of a shift, with generalisation
  uv run python experiment_runner.py plot results/experiment_data.csv --output-dir results/plots

Commands: `run` (the default: the flags above work without it) and `plot`. Run again with the
same flags after an interruption: configurations whose rows are in --output-file are skipped,
the others run. Each row's experiment_id is a hash of its configuration. Accuracies in the CSV
are fractions in [0, 1], drawdown is in percentage points, times in seconds (the columns are
described in edits/experiments/columns.py).
Exit codes: 0 every configuration has its row (failed repairs are rows too), 1 some trial
crashed (logged; no row; a re-run retries it), 2 a user error (bad flag, missing file, a CSV
with other columns).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from helpers.cli import (
    ArgumentParser,
    HelpFormatter,
    add_class_list_argument,
    add_data_args,
    add_device_argument,
    add_exclude_flagged_argument,
    positive_int,
    run_main,
    setup_logging,
)

log = logging.getLogger("experiment_runner")

COMMANDS = ("run", "plot")
GRID_AXES = ("param_bound", "margin")  # repair options a sweep takes several values of


def build_parser() -> argparse.ArgumentParser:
    from edits.config import add_repair_arguments
    from edits.experiments.executors import EXECUTORS
    from edits.experiments.grid import SIZING_STRATEGIES
    from editset_helpers.selectors import SELECTORS

    description, epilog = __doc__.split("\n\n", 1)
    parser = ArgumentParser(description=description, epilog=epilog,
                            formatter_class=HelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser("run", help="run the sweep (default)", description=description,
                              epilog=epilog, formatter_class=HelpFormatter)
    grid = run.add_argument_group("the grid (one repair per combination)")
    grid.add_argument("--repair-set-sizes", type=positive_int, nargs="+", default=[10, 50, 100],
                      metavar="N", help="edit-set sizes (images) to request")
    grid.add_argument("--repair-set-types", nargs="+", choices=sorted(SELECTORS),
                      default=sorted(SELECTORS), metavar="TYPE",
                      help=f"edit-set types, from: {', '.join(sorted(SELECTORS))}")
    add_class_list_argument(grid, "--target-classes",
                            help="classes for the class_homogeneous_* types (default: all "
                                 "classes)")
    grid.add_argument("--edit-set-sizing-strategy", choices=SIZING_STRATEGIES,
                      default="flexible", help="flexible: use what exists, up to the size; "
                      "strict: a row fails when fewer images exist")

    repair = run.add_argument_group(
        "repair", f"the same for every configuration, except {', '.join(GRID_AXES)}, which "
        "take several values (one repair per combination)")
    repair.add_argument("--weights", default="artifacts/alexnet_base.pth",
                        help="checkpoint to repair")
    add_data_args(repair)
    add_exclude_flagged_argument(repair)
    add_device_argument(repair)
    add_repair_arguments(repair, axes=GRID_AXES)

    from helpers.corruptions import add_corruption_arguments

    add_corruption_arguments(run, seed=False)  # edit sets from one half of the corrupted test split
    outputs = run.add_argument_group("outputs and execution")
    outputs.add_argument("--output-file", type=Path, default=Path("results/experiment_data.csv"),
                         help="CSV the rows are appended to (resumed when it exists)")
    outputs.add_argument("--edit-sets-dir", type=Path, default=Path("results/edit_sets"),
                         help="where edit sets are made and reused (one folder per model)")
    outputs.add_argument("--models-dir", type=Path, default=Path("results/models"),
                         help="where verified repaired checkpoints go")
    outputs.add_argument("--no-save-models", action="store_true",
                         help="do not save repaired checkpoints (AlexNet's are ~230 MB each)")
    outputs.add_argument("--workers", type=positive_int, default=None,
                         help="trials at once; more than 1 runs a local process pool (default: "
                              "1; with --executor ray, as many as the cluster's CPUs allow)")
    outputs.add_argument("--executor", choices=sorted(EXECUTORS), default=None,
                         help="where trials run: serial, process (a local pool) or ray (a local "
                              "instance or a cluster; `uv sync --extra ray`) (default: serial "
                              "for 1 worker, else process)")
    outputs.add_argument("--threads-per-trial", type=positive_int, default=None, metavar="T",
                         help="CPU threads of each trial; Ray reserves as many CPUs per task "
                              "(default: CPUs / workers locally, 1 on Ray)")
    outputs.add_argument("--ray-address", default=None, metavar="auto|HOST:PORT",
                         help="join this Ray cluster (implies --executor ray; default: start a "
                              "local instance)")
    outputs.add_argument("--no-progress", action="store_true", help="no progress bar")
    outputs.add_argument("-v", "--verbose", action="store_true")

    plot = commands.add_parser("plot", help="figures and a summary table from a CSV",
                               formatter_class=HelpFormatter,
                               description="Write PNG figures (accuracy, drawdown and runtime "
                               "against the edit-set size; success rate per type) and a summary "
                               "table (CSV and Markdown) from an experiment CSV.")
    plot.add_argument("csv", nargs="?", type=Path, default=Path("results/experiment_data.csv"),
                      help="experiment CSV written by the run command")
    plot.add_argument("--output-dir", type=Path, default=Path("results/plots"),
                      help="folder for the PNGs and the summary table")
    plot.add_argument("--force", action="store_true", help="overwrite existing figures")
    plot.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in (*COMMANDS, "-h", "--help"):
        argv.insert(0, "run")  # `run` is the default command
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    if not args.verbose:  # one line per finished configuration, not the engine's every step
        logging.getLogger().setLevel(logging.WARNING)
        for name in (log.name, "edits.experiments"):
            logging.getLogger(name).setLevel(logging.INFO)
    return run_command(args) if args.command == "run" else plot_command(args)


def run_command(args: argparse.Namespace) -> int:
    from tqdm.contrib.logging import logging_redirect_tqdm

    from edits.config import RepairConfig
    from edits.experiments.columns import COLUMNS
    from edits.experiments.csv_log import ResultLog
    from edits.experiments.executors import make_executor
    from edits.experiments.grid import (
        TrialConfig,
        check_target_classes,
        expand_grid,
        takes_target_class,
    )
    from edits.experiments.sweep import run_sweep
    from helpers.datasets import dataset_class_names
    from helpers.devices import resolve_device
    from helpers.errors import NotFoundError

    # Flag combinations first (cheap; Ray itself starts only when the sweep does).
    executor = make_executor(args.executor, args.workers,
                             log_level=logging.INFO if args.verbose else logging.WARNING,
                             threads_per_trial=args.threads_per_trial, address=args.ray_address)
    if not Path(args.weights).is_file():
        raise NotFoundError(f"model weights {args.weights} not found; train one with `uv run "
                            "python train.py` or pass --weights PATH")
    per_class = [t for t in args.repair_set_types if takes_target_class(t)]
    target_classes: list[int] = []
    if per_class:
        class_names = dataset_class_names(args.dataset, data_root=args.data_root)
        target_classes = check_target_classes(args.target_classes, class_names)
    elif args.target_classes:
        log.warning("--target-classes is ignored: no class_homogeneous_* type was chosen")
    repair = RepairConfig.values_from_args(args)
    quality = _data_quality_inputs(args)  # a bad file fails before the sweep starts
    resolve_device(args.device)  # an absent device fails now; trials load the model themselves
    template = TrialConfig(
        **{**repair, "param_bound": repair["param_bound"][0], "margin": repair["margin"][0]},
        repair_set_type=args.repair_set_types[0], requested_size=1, target_class=None,
        sizing=args.edit_set_sizing_strategy, weights=str(args.weights), dataset=args.dataset,
        data_root=str(args.data_root), edit_sets_dir=str(args.edit_sets_dir),
        models_dir=None if args.no_save_models else str(args.models_dir), device=args.device,
        corruption=args.corruption, severity=args.severity if args.corruption else None,
        **quality)
    configs = expand_grid(template, set_types=args.repair_set_types,
                          sizes=args.repair_set_sizes, target_classes=target_classes,
                          param_bounds=repair["param_bound"], margins=repair["margin"])
    log.info("%d configurations, %s, rows to %s", len(configs), executor.describe(),
             args.output_file)
    with logging_redirect_tqdm(), ResultLog(args.output_file, COLUMNS) as results:
        summary = run_sweep(configs, results, executor, progress=not args.no_progress)
    print(f"{summary.describe()}\nrows: {args.output_file}")
    for config, reason in summary.crashed:
        print(f"crashed: {config.label} ({config.experiment_id}): {reason}", file=sys.stderr)
    return 0 if summary.complete else 1


def _data_quality_inputs(args: argparse.Namespace) -> dict[str, str | None]:
    """The override and flagged files, read and checked now, with their hashes (which enter
    the experiment ids; the paths do not)."""
    from data_quality.flagged import FlaggedImages
    from helpers.label_overrides import LabelOverrides

    values: dict[str, str | None] = {}
    if args.label_overrides:
        overrides = LabelOverrides.read(args.label_overrides)
        overrides.check_dataset(args.dataset)
        values.update(label_overrides=str(args.label_overrides),
                      label_overrides_sha256=overrides.sha256)
    if args.exclude_flagged:
        flagged = FlaggedImages.read(args.exclude_flagged)
        flagged.check_dataset(args.dataset)
        values.update(exclude_flagged=str(args.exclude_flagged),
                      exclude_flagged_sha256=flagged.sha256)
    return values


def plot_command(args: argparse.Namespace) -> int:
    from edits.experiments.plots import load_results, write_report

    written = write_report(load_results(args.csv), args.output_dir, force=args.force)
    print("\n".join(str(path) for path in written))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
