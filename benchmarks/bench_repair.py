"""What each repair objective costs on the real model: drawdown, time, memory.

Repairs the same seeded draw of misclassified CIFAR-10 test images under a list of named
configurations (objective, geometry, eps, margin, keep set, layer, size) and prints one JSON
object per configuration as it finishes, then a summary object naming the machine, the commit
and the command. These are the measurements behind the repair defaults
(docs/repair-measurements.md). Accuracies are fractions, drawdown is percentage points, times
are seconds, memory is MB.

``--suite end-to-end`` times what a user waits for: ``run_repair.py`` from loading the model to
the verified report, on the first N misclassified test images (by index), each case in its own
process (so peak memory is its own). The first case starts from an empty cache folder (every
forward pass is done once and cached); the next ones find the cache filled, as a second repair
of the same model does. The load average is recorded beside each case: other jobs on the
cores slow a case down.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

from edits.config import RepairConfig
from edits.job import run_repair_job
from editset_helpers.generation import Source, build_edit_set, select_images
from editset_helpers.io import save_edit_set
from editset_helpers.selectors import Selection
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

PROJECT = Path(__file__).resolve().parent.parent

EXAMPLES = """\
examples:
  uv run python benchmarks/bench_repair.py                       # the objective suite, N = 100
  uv run python benchmarks/bench_repair.py --suite size --output benchmarks/results/size.json
  uv run python benchmarks/bench_repair.py --only l2-outputs-1e-4 linf-parameters
  uv run python benchmarks/bench_repair.py --suite end-to-end \
      --output benchmarks/results/end_to_end.json
"""

# name -> (first N misclassified test images, extra run_repair.py flags); run in this order,
# the first from an empty cache folder. The highs cases are the solver of the committed
# figures of issue #12 (13.8 s and 435 s end to end before the cache and solver `auto`).
END_TO_END: dict[str, tuple[int, list[str]]] = {
    "end-to-end-n100-cold-cache": (100, []),
    "end-to-end-n100": (100, []),
    "end-to-end-n1000": (1000, []),
    "end-to-end-n100-highs": (100, ["--solver", "highs"]),
    "end-to-end-n1000-highs": (1000, ["--solver", "highs"]),
}

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
    parser.add_argument("--suite", choices=[*SUITES, "end-to-end", "all"], default="objective")
    parser.add_argument("--only", nargs="+", default=None, help="configuration names to run")
    parser.add_argument("--seed", type=int, default=0, help="which misclassified images")
    parser.add_argument("--solver", default=None,
                        help="run every configuration with this solver (default: each its own)")
    parser.add_argument("--time-limit", type=float, default=600.0,
                        help="solver seconds per configuration")
    parser.add_argument("--output", type=Path, default=None, help="also write all results here")
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--end-to-end-child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.end_to_end_child is not None:
        return _end_to_end_child(args.end_to_end_child)
    setup_logging()
    if args.output:
        check_writable(args.output, force=args.force)
    if args.suite == "end-to-end":
        return _end_to_end(args)
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


def _end_to_end(args: argparse.Namespace) -> int:
    """Each case of :data:`END_TO_END` as a user runs it, in a child process; see the doc."""
    source = Source.load(args.weights, data_root=args.data_root)
    wrong = torch.nonzero(source.predictions.wrong).flatten().tolist()
    origin = provenance()  # now: the children run the code checked out when they start
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as folder:
        work = Path(folder)
        environment = {**os.environ, "ALEXNET_REPAIR_CACHE": str(work / "cache")}
        for name, (size, flags) in END_TO_END.items():
            if args.only and name not in args.only:
                continue
            edit_path = work / f"first_{size}_misclassified_edit_dataset.pt"
            if not edit_path.exists():
                selection = Selection(wrong[:size], available=len(wrong))
                save_edit_set(build_edit_set(source, selection, "misclassified", {}), edit_path)
            report = work / f"{name}_report.json"
            command = ["--edit-set", str(edit_path), "--weights", str(args.weights),
                       "--data-root", str(args.data_root), "--output",
                       str(work / f"{name}.pth"), "--report", str(report), "--force", *flags]
            load_before = os.getloadavg()
            child = subprocess.run(
                [sys.executable, __file__, "--end-to-end-child", *command], cwd=PROJECT,
                env=environment, capture_output=True, text=True, check=False)
            if not child.stdout.strip():
                raise RuntimeError(f"{name} printed nothing: {child.stderr[-2000:]}")
            timing = json.loads(child.stdout.strip().splitlines()[-1])
            record = _end_to_end_record(name, size, flags, timing, report)
            record["load_average_before"] = [round(x, 2) for x in load_before]
            record["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
            record["run_repair_command"] = "run_repair.py " + " ".join(command)
            results.append(record)
            print(json.dumps(record), flush=True)
    summary = {"kind": "summary", "suite": "end-to-end", "weights": str(args.weights),
               "base_test_accuracy": source.predictions.accuracy, "results": results,
               "uptime": _uptime(), **origin}
    print(json.dumps({k: v for k, v in summary.items() if k != "results"}), flush=True)
    if args.output:
        atomic_write_json(args.output, summary)
    return 0


def _end_to_end_child(run_repair_argv: list[str]) -> int:
    """Time ``run_repair.main`` from model load to report, in this fresh process."""
    import run_repair

    started = time.perf_counter()
    code = run_main(run_repair.main, run_repair_argv)
    seconds = time.perf_counter() - started
    print(json.dumps({"exit_code": code, "seconds": seconds,
                      "peak_memory_mb": peak_memory_mb()}), flush=True)
    return 0


def _end_to_end_record(name: str, size: int, flags: list[str], timing: dict[str, Any],
                       report_path: Path) -> dict[str, Any]:
    report = json.loads(report_path.read_text())
    repair = report["repair"]
    solver = repair.get("solver") or {}
    verification = repair.get("verification") or {}
    return {
        "name": name, "images": size, "flags": flags, "exit_code": timing["exit_code"],
        "end_to_end_seconds": timing["seconds"], "peak_memory_mb": timing["peak_memory_mb"],
        "status": report["status"], "verified": report["verified"],
        "edit_accuracy_verified": verification.get("accuracy"),
        "min_margin": verification.get("min_margin"),
        "repair_seconds": (repair.get("timings_seconds") or {}).get("total"),
        "solve_seconds": solver.get("solve_seconds"), "solver": solver.get("solver"),
        "rounds": solver.get("rounds"), "active_rows": solver.get("active_rows"),
        "iterations": solver.get("iterations"),
        "test_before": report["accuracy_before"]["test"],
        "test_after": (report.get("accuracy_after") or {}).get("test"),
        "drawdown_points": report["drawdown_points"], "message": report["message"],
    }


def _uptime() -> str | None:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


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
