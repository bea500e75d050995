"""Does a repair generalise? Corrupted edit sets, held-out evaluation, repair vs fine-tuning.

Runs the study of edits/generalisation_study.py (corruptions x edit-set sizes x margins, and
fine-tuning the same layer as the non-provable baseline) and writes one JSON document with every
record, the machine, the commit and the command. The document is rewritten (atomically) after
each trial, so a killed run resumes with the same command: finished trials are skipped.
Accuracies are fractions; drawdown and generalisation gain are percentage points; times are
seconds. `plot` turns the JSON into the figure and a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

from helpers.cli import ArgumentParser, HelpFormatter, run_main, setup_logging

EXAMPLES = """\
examples:
  uv run python benchmarks/bench_generalisation.py                  # the full grid
  uv run python benchmarks/bench_generalisation.py --sizes 50 100 --margins 2
  uv run python benchmarks/bench_generalisation.py --corruptions fog --sizes 50 --no-finetune
  uv run python benchmarks/bench_generalisation.py plot benchmarks/results/generalisation.json \\
      --figure docs/generalisation.png --table docs/generalisation-table.md
"""

DEFAULT_CORRUPTIONS = ["gaussian_noise", "defocus_blur", "fog", "contrast"]  # one per family
DEFAULT_OUTPUT = Path("benchmarks/results/generalisation.json")


def build_parser() -> argparse.ArgumentParser:
    from helpers.corruptions import CORRUPTIONS, SEVERITIES
    from sytorch.solvers import SOLVERS

    description = __doc__.split("\n\n")[0]
    parser = ArgumentParser(description=description, epilog=EXAMPLES,
                            formatter_class=HelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = commands.add_parser("run", help="run the study (default)", epilog=EXAMPLES,
                              formatter_class=HelpFormatter, description=description)
    run.add_argument("--weights", type=Path, default=Path("artifacts/alexnet_base.pth"))
    run.add_argument("--data-root", default="data")
    run.add_argument("--corruptions", nargs="+", choices=list(CORRUPTIONS),
                     default=DEFAULT_CORRUPTIONS, metavar="NAME",
                     help=f"corruptions (default: {' '.join(DEFAULT_CORRUPTIONS)})")
    run.add_argument("--severity", type=int, choices=SEVERITIES, default=3)
    run.add_argument("--sizes", type=int, nargs="+", default=[50, 100, 500], metavar="N")
    run.add_argument("--margins", type=float, nargs="+", default=[2.0, 0.5], metavar="M")
    run.add_argument("--seed", type=int, default=0, help="halves and edit-set draw")
    run.add_argument("--solver", choices=list(SOLVERS), default="piqp",
                     help="repair solver (PIQP: fastest at 500 images)")
    run.add_argument("--time-limit", type=float, default=600.0, help="solver seconds per repair")
    run.add_argument("--finetune", nargs="+", type=finetune_spec, default=[("adam", 1e-3)],
                     metavar="OPTIMIZER:LR",
                     help="fine-tuning baselines, each an optimizer (adam, sgd) and a learning "
                          "rate (default: adam:0.001)")
    run.add_argument("--no-finetune", action="store_true", help="skip the fine-tuning baselines")
    run.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    run.add_argument("--force", action="store_true",
                     help="start over when --output holds another study")
    plot = commands.add_parser("plot", help="figure and Markdown table from the JSON",
                               formatter_class=HelpFormatter)
    plot.add_argument("json", type=Path, nargs="?", default=DEFAULT_OUTPUT)
    plot.add_argument("--figure", type=Path, default=Path("docs/generalisation.png"))
    plot.add_argument("--table", type=Path, default=None, help="also write the Markdown table")
    return parser


def finetune_spec(text: str) -> tuple[str, float]:
    """``sgd:0.01`` -> ("sgd", 0.01): an optimizer of edits.finetune and a positive rate."""
    from edits.finetune import OPTIMIZERS
    from helpers.cli import parse_number

    name, _, rate = text.partition(":")
    if name not in OPTIMIZERS or not rate:
        raise argparse.ArgumentTypeError(f"{text!r} is not OPTIMIZER:LR with an optimizer of "
                                         f"{', '.join(OPTIMIZERS)} (like sgd:0.01)")
    return name, parse_number(rate, minimum=0.0, exclusive_minimum=True)


def finetune_method(optimizer: str, rate: float) -> str:
    """The trial key's method: ``finetune`` for the first study's Adam at 1e-3 (its keys stay
    valid for resuming), ``finetune-sgd-0.01`` and the like for the others."""
    return "finetune" if (optimizer, rate) == ("adam", 1e-3) else f"finetune-{optimizer}-{rate:g}"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("run", "plot", "-h", "--help"):
        argv.insert(0, "run")
    args = build_parser().parse_args(argv)
    setup_logging()
    return run_command(args) if args.command == "run" else plot_command(args)


def run_command(args: argparse.Namespace) -> int:
    from edits.finetune import FinetuneConfig
    from edits.generalisation_study import StudyPlan, run_study
    from helpers.atomic_io import atomic_write_json
    from helpers.datasets import load_split
    from helpers.errors import UserError
    from helpers.provenance import peak_memory_mb, provenance
    from model_classes.checkpoints import load_checkpoint

    settings = {"weights": str(args.weights), "severity": args.severity, "seed": args.seed,
                "solver": args.solver}
    records: list[dict[str, Any]] = []
    if args.output.exists():
        previous = json.loads(args.output.read_text())
        if previous.get("settings") == settings and not args.force:
            records = previous.get("records", [])
            print(f"resuming {args.output}: {len(records)} trials already done", flush=True)
        elif not args.force:
            raise UserError(f"{args.output} holds a study with other settings "
                            f"({previous.get('settings')}); give --force to start over or "
                            "choose another --output")
    if any(size < 1 for size in args.sizes):
        raise UserError(f"--sizes must be positive, got {args.sizes}")
    loaded = load_checkpoint(args.weights)
    clean = load_split("cifar10", "test", data_root=args.data_root)
    train = load_split("cifar10", "train", data_root=args.data_root)
    plan = StudyPlan(args.corruptions, args.sizes, args.margins, severity=args.severity,
                     seed=args.seed,
                     finetunes={} if args.no_finetune else {
                         finetune_method(o, r): FinetuneConfig(optimizer=o, learning_rate=r)
                         for o, r in args.finetune},
                     repair_overrides={"solver": args.solver, "time_limit": args.time_limit})

    def write(partial: bool) -> None:
        atomic_write_json(args.output, {
            "kind": "generalisation", "settings": settings, "partial": partial,
            "base_model": {"path": str(args.weights),
                           "recorded_test_accuracy": loaded.metadata.test_accuracy},
            "units": "accuracies are fractions in [0, 1]; drawdown_points and "
                     "generalisation_gain_points are percentage points; seconds",
            "records": records, "peak_memory_mb": peak_memory_mb(), **provenance()})

    def on_record(record: dict[str, Any]) -> None:
        records.append(record)
        print(json.dumps(record), flush=True)
        write(partial=True)

    run_study(loaded, clean, train, plan, done={r["key"] for r in records}, on_record=on_record)
    write(partial=False)
    print(f"{len(records)} trials in {args.output}")
    return 0


def plot_command(args: argparse.Namespace) -> int:
    from edits.generalisation_report import markdown_table, plot
    from helpers.atomic_io import atomic_write_text
    from helpers.errors import NotFoundError

    if not args.json.exists():
        raise NotFoundError(f"{args.json} not found; run the study first")
    records = json.loads(args.json.read_text())["records"]
    print(plot(records, args.figure))
    table = markdown_table(records)
    if args.table:
        atomic_write_text(args.table, table + "\n")
        print(args.table)
    else:
        print(table)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
