"""What each repair objective costs on the real model: drawdown, time, memory.

Repairs the same seeded draw of misclassified CIFAR-10 test images under a list of named
configurations (objective, geometry, eps, margin, keep set, layer, size) and prints one JSON
object per configuration as it finishes, then a summary object naming the machine, the commit
and the command. These are the measurements behind the repair defaults
(docs/repair-measurements.md). Accuracies are fractions, drawdown is percentage points, times
are seconds, memory is MB.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

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
from helpers.provenance import peak_memory_mb, provenance

EXAMPLES = """\
examples:
  uv run python benchmarks/bench_repair.py                       # the objective suite, N = 100
  uv run python benchmarks/bench_repair.py --suite size --output benchmarks/results/size.json
  uv run python benchmarks/bench_repair.py --only l2-outputs-1e-4 linf-parameters
"""

# name -> (edit-set size, RepairConfig overrides)
SUITES: dict[str, dict[str, tuple[int, dict[str, Any]]]] = {
    "objective": {
        "linf-parameters": (100, {"norm": "linf", "geometry": "parameters"}),
        "l1-parameters": (100, {"norm": "l1", "geometry": "parameters"}),
        "linf+l1-parameters": (100, {"norm": "linf+l1", "geometry": "parameters"}),
        "l2-parameters": (100, {"norm": "l2", "geometry": "parameters"}),
        "l2-outputs-1e-2": (100, {"eps": 1e-2}),
        "l2-outputs-1e-3": (100, {"eps": 1e-3}),
        "l2-outputs-1e-4": (100, {"eps": 1e-4}),
        "l2-outputs-1e-5": (100, {"eps": 1e-5}),
        "l2-outputs-1e-4-unbounded": (100, {"eps": 1e-4, "param_bound": None}),
        "linf-outputs-1e-4": (100, {"norm": "linf", "eps": 1e-4}),
        "l2-outputs-1e-4-margin-1": (100, {"margin": 1.0}),
        "l2-outputs-1e-4-margin-0.5": (100, {"margin": 0.5}),
        "l2-outputs-1e-4-keep-2000": (100, {"keep_set": 2000}),
        "l2-outputs-1e-4-gurobi": (20, {"solver": "gurobi"}),
        "l2-outputs-1e-4-highs-20": (20, {}),
    },
    "size": {
        f"l2-outputs-n{n}-margin-{m}": (n, {"margin": m})
        for n in (10, 50, 100, 200, 500, 1000) for m in (2.0, 0.5)
    },
    "layer": {
        "classifier.4-most-active-256": (50, {"layer": "classifier.4",
                                              "neurons": "most-active:256"}),
        "classifier.4-most-active-256-margin-0.5": (50, {"layer": "classifier.4",
                                                         "neurons": "most-active:256",
                                                         "margin": 0.5}),
    },
}


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0], epilog=EXAMPLES,
                            formatter_class=HelpFormatter)
    parser.add_argument("--weights", type=Path, default=Path("artifacts/alexnet_base.pth"))
    parser.add_argument("--data-root", default="data")
    add_device_argument(parser)
    parser.add_argument("--suite", choices=[*SUITES, "all"], default="objective")
    parser.add_argument("--only", nargs="+", default=None, help="configuration names to run")
    parser.add_argument("--seed", type=int, default=0, help="which misclassified images")
    parser.add_argument("--solver", default=None,
                        help="run every configuration with this solver (default: each its own)")
    parser.add_argument("--time-limit", type=float, default=600.0,
                        help="solver seconds per configuration")
    parser.add_argument("--output", type=Path, default=None, help="also write all results here")
    parser.add_argument("--force", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    if args.output:
        check_writable(args.output, force=args.force)
    suites = SUITES if args.suite == "all" else {args.suite: SUITES[args.suite]}
    configurations = {name: spec for suite in suites.values() for name, spec in suite.items()
                      if not args.only or name in args.only}
    source = Source.load(args.weights, data_root=args.data_root,
                         device=resolve_device(args.device))
    train = load_split("cifar10", "train", data_root=args.data_root)
    results = []
    for name, (size, overrides) in configurations.items():
        selection, _ = select_images(source, "misclassified", {}, max_samples=size,
                                     seed=args.seed)
        edit_set = build_edit_set(source, selection, "misclassified", {})
        if args.solver:
            overrides = {**overrides, "solver": args.solver}
        config = RepairConfig(**{"time_limit": args.time_limit, **overrides})
        started = time.perf_counter()
        job = run_repair_job(source.loaded, edit_set, config, test_split=source.split,
                             train_split=train,
                             base_test_predictions=source.predictions.predicted)
        record = summarise(name if not args.solver else f"{name}-{args.solver}", size, config, job,
                           time.perf_counter() - started)
        results.append(record)
        print(json.dumps(record), flush=True)
    summary = {"kind": "summary", "weights": str(args.weights),
               "base_test_accuracy": source.predictions.accuracy, "results": results,
               **provenance()}
    print(json.dumps({k: v for k, v in summary.items() if k != "results"}), flush=True)
    if args.output:
        atomic_write_json(args.output, summary)
    return 0


def summarise(name: str, size: int, config: RepairConfig, job, seconds: float) -> dict[str, Any]:
    repair = job.repair
    solver = repair.solver_summary()
    after = job.after
    return {
        "name": name, "images": size, "norm": config.norm, "geometry": config.geometry,
        "eps": config.eps, "margin": config.margin, "param_bound": config.param_bound,
        "keep_set": config.keep_set, "layer": repair.layer,
        "neurons": len(repair.neurons) if repair.neurons else "all",
        "status": repair.status, "verified": repair.verified,
        "min_margin": repair.verification.min_margin if repair.verification else None,
        "test_before": job.before.test, "test_after": after.test if after else None,
        "edit_after": after.edit if after else None,
        "drawdown_set_before": job.before.drawdown,
        "drawdown_set_after": after.drawdown if after else None,
        "drawdown_points": job.drawdown_points,
        "repair_seconds": repair.timings.get("total"),
        "reference_seconds": repair.timings.get("reference"),
        "solve_seconds": solver.get("solve_seconds"), "build_seconds": solver.get("build_seconds"),
        "rounds": solver.get("rounds"), "active_rows": solver.get("active_rows"),
        "iterations": solver.get("iterations"), "solver": solver.get("solver"),
        "delta_linf": repair.change_stats.get("linf"),
        "delta_l1": repair.change_stats.get("l1"),
        "output_change_rms": repair.change_stats.get("output_change_rms"),
        "job_seconds": seconds, "peak_memory_mb": peak_memory_mb(),
        "message": repair.message,
    }


if __name__ == "__main__":
    sys.exit(run_main(main))
