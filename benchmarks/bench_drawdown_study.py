"""Drawdown at large edit sets: which lever keeps test accuracy when 500-2,300 images are fixed.

Each named configuration repairs a seeded draw (seed 0) of misclassified CIFAR-10 test images
with one lever changed from the defaults (keep-set rule, reference sample, eps, layer) and
prints one JSON object: drawdown in points, test accuracy after (fraction), seconds, peak MB,
whether the forward pass verified it. Run one configuration per process (peak memory is the
process's) and collect them with --append; the summary names the machine, the commit, the
command and the load. The table built from these is in docs/repair-measurements.md ("Drawdown
at large N").
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_repair import summarise

from edits.config import RepairConfig
from edits.job import run_repair_job
from editset_helpers.generation import Source, build_edit_set, select_images
from helpers.atomic_io import atomic_write_json, check_writable
from helpers.cli import (
    ArgumentParser,
    HelpFormatter,
    add_device_argument,
    run_main,
    setup_logging,
)
from helpers.datasets import load_split
from helpers.devices import resolve_device
from helpers.errors import UserError
from helpers.provenance import command, commit, peak_memory_mb, provenance

EXAMPLES = """\
examples:
  uv run python benchmarks/bench_drawdown_study.py --list
  uv run python benchmarks/bench_drawdown_study.py --only n1000-m0.5-keep-boundary-2000 \\
      --output benchmarks/results/drawdown_study.json --append
  uv run python benchmarks/bench_drawdown_study.py --only weak-n1000-m2 \\
      --weights artifacts/weak/alexnet_epoch002.pth --output /tmp/weak.json
"""

ALL = 0  # edit-set size meaning "every misclassified test image"
PIQP = {"solver": "piqp"}
LEVERS: dict[str, dict[str, Any]] = {
    "baseline": {},
    "unbounded": {"param_bound": None},
    "unbounded-keep-boundary-2000": {"param_bound": None, "keep_set": 2000,
                                     "keep_rule": "boundary"},
    "keep-random-2000": {"keep_set": 2000, "keep_rule": "random"},
    "keep-boundary-2000": {"keep_set": 2000, "keep_rule": "boundary"},
    "keep-neighbours-2000": {"keep_set": 2000, "keep_rule": "neighbours"},
    "reference-neighbours-5": {"reference_neighbours": 5},
    "reference-augment-1": {"reference_augment": 1},
    "reference-20000": {"reference_size": 20_000},
    "eps-1e-5": {"eps": 1e-5},
    "unbounded-eps-1e-5": {"eps": 1e-5, "param_bound": None},
    "keep-boundary-5000": {"keep_set": 5000, "keep_rule": "boundary"},
    "keep-boundary-5000-reference-neighbours-5": {"keep_set": 5000, "keep_rule": "boundary",
                                                  "reference_neighbours": 5},
    "keep-boundary-2000-eps-1e-5": {"keep_set": 2000, "keep_rule": "boundary", "eps": 1e-5},
    "hidden-classifier.4-256": {"layer": "classifier.4", "neurons": "most-active:256"},
}
STUDY: dict[str, tuple[int, dict[str, Any]]] = {
    f"n{n}-m{m:g}-{lever}": (n, {"margin": m, **PIQP, **overrides})
    for n in (500, 1000) for m in (0.5, 2.0) for lever, overrides in LEVERS.items()
}
STUDY.update({
    "all-misclassified-m0.5": (ALL, {"margin": 0.5, **PIQP}),
    "all-misclassified-m0.5-keep-boundary-2000": (ALL, {"margin": 0.5, **PIQP, "keep_set": 2000,
                                                        "keep_rule": "boundary"}),
    "weak-n1000-m2": (1000, {"margin": 2.0, **PIQP}),
    "weak-n1000-m2-unbounded": (1000, {"margin": 2.0, **PIQP, "param_bound": None}),
    "hidden-n500-m0.5-256": (500, {"margin": 0.5, **PIQP, "layer": "classifier.4",
                                   "neurons": "most-active:256"}),
    "hidden-n500-m2-256": (500, {"margin": 2.0, **PIQP, "layer": "classifier.4",
                                 "neurons": "most-active:256"}),
})


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0], epilog=EXAMPLES,
                            formatter_class=HelpFormatter)
    parser.add_argument("--weights", type=Path, default=Path("artifacts/alexnet_base.pth"),
                        help="model to repair (default: artifacts/alexnet_base.pth)")
    parser.add_argument("--data-root", default="data", help="CIFAR-10 folder (default: data)")
    add_device_argument(parser)
    parser.add_argument("--only", nargs="+", choices=list(STUDY), metavar="NAME",
                        help="configurations to run (default: all; --list names them)")
    parser.add_argument("--list", action="store_true", help="print the names and exit")
    parser.add_argument("--seed", type=int, default=0, help="which misclassified images")
    parser.add_argument("--time-limit", type=float, default=900.0,
                        help="solver seconds per configuration (default: 900)")
    parser.add_argument("--output", type=Path, default=None, help="also write the results here")
    parser.add_argument("--append", action="store_true",
                        help="add to --output's results (same name: replaced) instead of "
                             "refusing to overwrite it")
    parser.add_argument("--force", action="store_true", help="overwrite --output")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    if args.list:
        print("\n".join(STUDY))
        return 0
    if args.output and not (args.append and args.output.exists()):
        check_writable(args.output, force=args.force)
    if not args.weights.exists():
        raise UserError(f"--weights {args.weights} does not exist; train one with train.py")
    source = Source.load(args.weights, data_root=args.data_root,
                         device=resolve_device(args.device))
    train = load_split("cifar10", "train", data_root=args.data_root)
    results = []
    for name in args.only or list(STUDY):
        results.append({**run_one(name, source, train, args), "commit": commit(),
                        "command": command()})
        print(json.dumps(results[-1]), flush=True)
    previous: list[dict[str, Any]] = []
    if args.output and args.append and args.output.exists():  # read last: others may append
        previous = json.loads(args.output.read_text()).get("results", [])
    summary = {"kind": "summary", "weights": str(args.weights),
               "base_test_accuracy": source.predictions.accuracy,
               "results": [r for r in previous if r["name"] not in {x["name"] for x in results}]
               + results, **provenance()}
    print(json.dumps({k: v for k, v in summary.items() if k != "results"}), flush=True)
    if args.output:
        atomic_write_json(args.output, summary)
    return 0


def run_one(name: str, source: Source, train, args: argparse.Namespace) -> dict[str, Any]:
    """One configuration: its record, or the one-line refusal a user would see."""
    size, overrides = STUDY[name]
    selection, _ = select_images(source, "misclassified", {}, max_samples=size or None,
                                 seed=args.seed)
    edit_set = build_edit_set(source, selection, "misclassified", {})
    config = RepairConfig(**{"time_limit": args.time_limit, **overrides})
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    try:
        job = run_repair_job(source.loaded, edit_set, config, test_split=source.split,
                             train_split=train,
                             base_test_predictions=source.predictions.predicted)
    except UserError as error:
        return {"name": name, "images": len(edit_set), "status": "refused", "verified": False,
                "message": str(error), "job_seconds": time.perf_counter() - started,
                "peak_memory_mb": peak_memory_mb(), "weights": str(args.weights),
                "config": config.to_dict(), "load_average_before": load_before,
                "load_average_after": os.getloadavg()[0]}
    record = summarise(name, len(edit_set), config, job, time.perf_counter() - started)
    record.update(weights=str(args.weights), keep_rule=config.keep_rule,
                  reference_size=config.reference_size,
                  reference_augment=config.reference_augment,
                  reference_neighbours=config.reference_neighbours,
                  keep_verification=(job.repair.keep_verification.to_dict()
                                     if job.repair.keep_verification else None),
                  load_average_before=load_before, load_average_after=os.getloadavg()[0])
    return record


if __name__ == "__main__":
    sys.exit(run_main(main))
