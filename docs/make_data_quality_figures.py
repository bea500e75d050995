"""Make the data-quality figures of the docs from real reports: image grids and two screenshots.

* ``data_quality_label_issues.png``: the ten most suspicious labels of the newest label-issues
  report, each image with its given label and the model's class;
* ``data_quality_duplicates.png``: the ten most similar pairs across splits of the newest
  near-duplicates report, side by side;
* ``error_review_labels.png`` and ``error_review_duplicates.png``: the review page
  (``/error-review``) filtered to label issues and to pairs, in headless Chromium.

Needs the system Chromium (``apt-get install -y chromium``) and the dev dependencies
(Playwright) for the screenshots.

Examples:
  uv run python docs/make_data_quality_figures.py --force
  uv run python docs/make_data_quality_figures.py --data-quality-dir results/data_quality \\
      --out docs --no-screenshots
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

from data_quality.reports import list_reports, read_report
from helpers.atomic_io import atomic_write_bytes, atomic_write_with, check_writable
from helpers.cli import ArgumentParser, HelpFormatter, positive_int, run_main, setup_logging
from helpers.errors import NotFoundError

log = logging.getLogger("make_data_quality_figures")


def newest(folder: Path, kind: str) -> Path:
    found = [p for p in list_reports(folder) if p.name.startswith(f"{kind}_report_")]
    if not found:
        raise NotFoundError(f"no {kind} report in {folder}; run run_error_detection.py first")
    return found[0]


def _image(dataset: str, split: str, index: int, data_root: Path, cache: dict):
    from helpers.datasets import load_split

    if (dataset, split) not in cache:
        cache[dataset, split] = load_split(dataset, split, data_root=data_root, download=False)
    return cache[dataset, split].images[index].permute(1, 2, 0).numpy()


def label_grid(report: dict, count: int, data_root: Path, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["errors"][:count]
    cache: dict = {}
    columns = 5
    figure, axes = plt.subplots(-(-len(rows) // columns), columns,
                                figsize=(2.3 * columns, 3.2 * -(-len(rows) // columns)),
                                squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, row in zip(axes.flat, rows, strict=False):
        axis.imshow(_image(row["dataset"], row["split"], row["index"], data_root, cache),
                    interpolation="nearest")
        axis.set_title(f"#{row['rank']} {row['split']} {row['index']}\n"
                       f"label: {row['given_class']}\nmodel: {row['suggested_class']} "
                       f"({row['suggested_probability']:.2f})", fontsize=9)
    figure.suptitle(f"Most suspicious labels ({report['dataset']}/{report['split']}, "
                    f"{report['method']['ranking']})", fontsize=11)
    figure.tight_layout()
    try:
        return atomic_write_with(path, lambda tmp: figure.savefig(tmp, dpi=100, format="png"))
    finally:
        plt.close(figure)


def pair_grid(report: dict, count: int, data_root: Path, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pairs = [p for p in report["similar_pairs"] if p["a"]["split"] != p["b"]["split"]][:count]
    if not pairs:
        pairs = report["similar_pairs"][:count]
    cache: dict = {}
    columns = 5
    lines = -(-len(pairs) // columns)
    figure, axes = plt.subplots(lines, 2 * columns, figsize=(2.0 * 2 * columns, 2.9 * lines),
                                squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for k, pair in enumerate(pairs):
        row, col = divmod(k, columns)
        for side, axis in zip(("a", "b"), axes[row, 2 * col:2 * col + 2], strict=True):
            image = pair[side]
            axis.imshow(_image(image["dataset"], image["split"], image["index"], data_root,
                               cache), interpolation="nearest")
            title = f"{image['split']} {image['index']}\n{image['class']}"
            if side == "a":
                title = f"cos {pair['similarity']:.3f}\n" + title
            axis.set_title(title, fontsize=8,
                           color="black" if pair["labels_agree"] else "#b83b3b")
    figure.suptitle(f"Closest pairs ({report['method']['embedding']} embedding; red: labels "
                    "disagree)", fontsize=11)
    figure.tight_layout()
    try:
        return atomic_write_with(path, lambda tmp: figure.savefig(tmp, dpi=100, format="png"))
    finally:
        plt.close(figure)


def screenshots(folder: Path, decisions: Path | None, data_root: Path, out: Path,
                force: bool) -> list[Path]:
    from editset_helpers.web.app import create_app
    from editset_helpers.web.browser import VIEWPORT, chromium, open_page
    from editset_helpers.web.server import BackgroundServer

    targets = {"error_review_labels.png": "error-review?type=label",
               "error_review_duplicates.png": "error-review?type=duplicate&split=train"}
    paths = [check_writable(out / name, force=force) for name in targets]
    edit_sets = folder  # any existing folder: the review page does not need edit sets
    app = create_app(edit_sets, review={"data_quality_dir": folder, "decisions": decisions,
                                        "data_root": data_root})
    shots = []
    with chromium() as browser, BackgroundServer(app) as url:
        page = browser.new_page(viewport=VIEWPORT)
        for query in targets.values():
            open_page(page, f"{url}{query}")
            shots.append(page.screenshot(full_page=False))
        page.close()
    for path, data in zip(paths, shots, strict=True):
        atomic_write_bytes(path, data)
    return paths


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0],
                            epilog=__doc__.split("\n\n", 1)[1], formatter_class=HelpFormatter)
    parser.add_argument("--data-quality-dir", type=Path, default=Path("results/data_quality"))
    parser.add_argument("--decisions", type=Path, default=None,
                        help="decision database shown (default: <data-quality-dir>/"
                             "decisions.sqlite)")
    parser.add_argument("--data-root", type=Path, default=Path("data"))
    parser.add_argument("--count", type=positive_int, default=10, help="images per grid")
    parser.add_argument("--out", type=Path, default=Path("docs"), help="output folder")
    parser.add_argument("--no-screenshots", action="store_true")
    parser.add_argument("--force", action="store_true", help="replace existing figures")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    labels = read_report(newest(args.data_quality_dir, "label_issues"))
    pairs = read_report(newest(args.data_quality_dir, "near_duplicates"))
    written = [
        label_grid(labels, args.count, args.data_root,
                   check_writable(args.out / "data_quality_label_issues.png", force=args.force)),
        pair_grid(pairs, args.count, args.data_root,
                  check_writable(args.out / "data_quality_duplicates.png", force=args.force)),
    ]
    if not args.no_screenshots:
        written += screenshots(args.data_quality_dir, args.decisions, args.data_root, args.out,
                               args.force)
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
