"""The influence figures: each function takes a result (and images) and returns a Figure.

The same functions feed the PNGs of ``visualize_influence.py`` / ``visualize_test_influence.py``
and the pages of the PDF report, so a figure looks the same wherever it appears. Every figure
that shows a score shows both: raw (the paper's sum) and normalised (see
:mod:`influence.tracin`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from helpers.atomic_io import atomic_write_with, check_writable
from influence.results import KINDS, SCORES, SelfInfluenceFile, TestInfluenceFile

LABEL = {"raw": "raw TracIn", "normalized": "normalised TracIn"}
SCATTER_POINTS = 5000  # a random sample: 50,000 points draw slowly and say no more


def _thumbnail(image: np.ndarray) -> np.ndarray:
    """(C, H, W) uint8 or float -> (H, W, C) in [0, 1] for imshow."""
    image = np.asarray(image, dtype=np.float64)
    if image.max() > 1.0:
        image = image / 255.0
    return np.clip(image.transpose(1, 2, 0), 0, 1)


# -- self-influence -------------------------------------------------------------------------


def self_distribution(result: SelfInfluenceFile) -> Figure:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, score in zip(axes, SCORES, strict=True):
        values = result.scores(score)
        ax.hist(values, bins=80, color="tab:blue" if score == "raw" else "tab:orange")
        ax.set_yscale("log")
        ax.set_xlabel(f"self-influence ({LABEL[score]})")
        ax.set_ylabel("images (log scale)")
        ax.axvline(np.quantile(values, 0.99), color="k", ls="--", lw=1, label="99th percentile")
        ax.legend()
    fig.suptitle(f"Self-influence of {len(result.scores('raw')):,} {result.dataset}/"
                 f"{result.split} images")
    fig.tight_layout()
    return fig


def self_by_class(result: SelfInfluenceFile) -> Figure:
    names, labels = result.class_names, result.arrays["labels"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, score in zip(axes, SCORES, strict=True):
        values = result.scores(score)
        means = [values[labels == k].mean() if (labels == k).any() else 0.0
                 for k in range(len(names))]
        ax.bar(range(len(names)), means, color="tab:blue" if score == "raw" else "tab:orange")
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
        ax.set_ylabel(f"mean self-influence ({LABEL[score]})")
    fig.suptitle("Mean self-influence by given class")
    fig.tight_layout()
    return fig


def self_confusion(result: SelfInfluenceFile, *, share: float = 0.05) -> Figure:
    """(given label, predicted label) counts among the top ``share`` by self-influence."""
    names, labels, predicted = (result.class_names, result.arrays["labels"],
                                result.arrays["predicted"])
    k = max(1, round(share * len(labels)))
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    for ax, score in zip(axes, SCORES, strict=True):
        top = np.argsort(-result.scores(score), kind="stable")[:k]
        matrix = np.zeros((len(names), len(names)), dtype=int)
        np.add.at(matrix, (labels[top], predicted[top]), 1)
        image = ax.imshow(matrix, cmap="viridis")
        for i in range(len(names)):
            for j in range(len(names)):
                if matrix[i, j]:
                    ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7,
                            color="w" if matrix[i, j] < matrix.max() / 2 else "k")
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.set_xlabel("predicted (last checkpoint)")
        ax.set_ylabel("given label")
        ax.set_title(f"top {k:,} by {LABEL[score]}")
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.suptitle(f"Given x predicted class of the {100 * share:g}% most self-influential images")
    fig.tight_layout()
    return fig


def mosaic_figure(pictures: list[np.ndarray], captions: list[tuple[str, str]], columns: int,
                  title: str, *, column_inches: float = 1.4) -> Figure:
    """Tiles in one image on one axis, each with a caption (text, colour) above it.

    One ``imshow`` and a text per tile instead of an axis per tile: a grid of 88 thumbnails
    draws in a fraction of the time 88 subplots take.
    """
    tiles = [_thumbnail(p) for p in pictures]
    h, w = tiles[0].shape[:2]
    gap_x, gap_y = max(2, w // 8), int(h * 0.8)
    rows = -(-len(tiles) // columns)
    canvas = np.ones((rows * (h + gap_y), columns * (w + gap_x) - gap_x, 3))
    width = columns * column_inches
    fig = plt.figure(figsize=(width, width * canvas.shape[0] / canvas.shape[1] + 0.5))
    ax = fig.add_axes((0.005, 0.005, 0.99, 0.99 - 0.5 / fig.get_figheight()))
    for i, (tile, (text, colour)) in enumerate(zip(tiles, captions, strict=True)):
        r, c = divmod(i, columns)
        y, x = r * (h + gap_y) + gap_y, c * (w + gap_x)
        canvas[y:y + h, x:x + w] = tile
        ax.text(x + w / 2, y - 1, text, ha="center", va="bottom", fontsize=6.5, color=colour)
    ax.imshow(canvas, interpolation="nearest", aspect="auto")
    ax.axis("off")
    fig.suptitle(title, fontsize=10, y=1 - 0.1 / fig.get_figheight(), va="top")
    return fig


def self_grid(result: SelfInfluenceFile, images: Callable[[np.ndarray], np.ndarray], *,
              score: str = "normalized", top: bool = True, count: int = 24) -> Figure:
    """The ``count`` most (or least) self-influential images with given and predicted class.

    ``images(indices)`` returns (n, C, H, W) images of the split by index.
    """
    values = result.scores(score)
    order = np.argsort(-values if top else values, kind="stable")[:count]
    pictures = images(result.arrays["indices"][order])
    names = result.class_names
    captions = []
    for position in order:
        given = names[int(result.arrays["labels"][position])]
        predicted = names[int(result.arrays["predicted"][position])]
        captions.append((f"#{int(result.arrays['indices'][position])} {values[position]:.3g}\n"
                         f"label {given}\npred {predicted}",
                         "k" if given == predicted else "tab:red"))
    which = "highest" if top else "lowest"
    return mosaic_figure(list(pictures), captions, 8,
                         f"{which.capitalize()} self-influence ({LABEL[score]}); red: the model "
                         "at the last checkpoint disagrees with the label")


def self_vs_loss(result: SelfInfluenceFile, *, seed: int = 0) -> Figure:
    """Self-influence against the loss and the margin at the last checkpoint."""
    n = len(result.arrays["loss"])
    rng = np.random.default_rng(seed)
    sample = rng.choice(n, min(n, SCATTER_POINTS), replace=False)
    wrong = (result.arrays["labels"] != result.arrays["predicted"])[sample]
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for row, score in enumerate(SCORES):
        values = result.scores(score)[sample]
        for col, name in enumerate(("loss", "margin")):
            ax = axes[row, col]
            x = result.arrays[name][sample]
            ax.scatter(x[~wrong], values[~wrong], s=3, alpha=0.4, label="right")
            ax.scatter(x[wrong], values[wrong], s=3, alpha=0.4, color="tab:red", label="wrong")
            ax.set_xlabel(f"{name} at the last checkpoint")
            ax.set_ylabel(LABEL[score])
            ax.legend(markerscale=4)
    fig.suptitle(f"Self-influence against loss and margin ({len(sample):,} images)")
    fig.tight_layout()
    return fig


# -- test influence -------------------------------------------------------------------------


def test_distributions(result: TestInfluenceFile) -> Figure:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, score in zip(axes, SCORES, strict=True):
        for kind, colour in zip(KINDS, ("tab:green", "tab:red"), strict=True):
            ax.hist(result.arrays[f"{kind}_{score}_score"].ravel(), bins=60, alpha=0.7,
                    color=colour, label=kind)
        ax.set_xlabel(f"influence ({LABEL[score]})")
        ax.set_ylabel("(edit image, training image) pairs")
        ax.legend()
    k = result.arrays["proponents_raw_score"].shape[1]
    fig.suptitle(f"Scores of the top {k} proponents and opponents of {len(result)} images")
    fig.tight_layout()
    return fig


def test_strips(result: TestInfluenceFile, positions: list[int],
                explained: Callable[[int], np.ndarray],
                training: Callable[[np.ndarray], np.ndarray], *, score: str = "normalized",
                show: int = 5) -> Figure:
    """Per explained image a row: it, its ``show`` top proponents, its ``show`` top opponents.

    ``explained(t)`` is the t-th explained image (C, H, W); ``training(indices)`` training
    images by index.
    """
    pictures, captions = [], []
    for t in positions:
        entry = result.explain(t, limit=show, score=score)
        pictures.append(explained(t))
        captions.append((f"#{entry['image_idx']} {entry['split']}\nlabel {entry['true_class']}"
                         f"\npred {entry['predicted_class']}", "tab:blue"))
        for kind, sign, colour in (("proponents", "+", "tab:green"),
                                   ("opponents", "-", "tab:red")):
            rows = entry[f"{kind}_{score}"]
            pictures += list(training(np.array([r["image_idx"] for r in rows], dtype=np.int64)))
            captions += [(f"{sign} #{r['image_idx']}\n{r['true_class']}\n{r['score']:.3g}",
                          colour) for r in rows]
    return mosaic_figure(pictures, captions, 1 + 2 * show,
                         f"Edit image | top {show} proponents (green) | top {show} opponents "
                         f"(red), {LABEL[score]}", column_inches=1.2)


def test_class_heatmap(result: TestInfluenceFile) -> Figure:
    """Edit image's true class x class of its top-k proponents (counts)."""
    names = result.class_names
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    for ax, score in zip(axes, SCORES, strict=True):
        matrix = np.zeros((len(names), len(names)), dtype=int)
        labels = result.train_label_of(result.arrays[f"proponents_{score}_index"])
        for t, true in enumerate(result.arrays["test_labels"]):
            np.add.at(matrix[int(true)], labels[t], 1)
        image = ax.imshow(matrix, cmap="magma")
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.set_xlabel("class of a top proponent")
        ax.set_ylabel("edit image's true class")
        ax.set_title(LABEL[score])
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.suptitle("Which classes' training images support each class's edit images")
    fig.tight_layout()
    return fig


def opponent_label_rates(result: TestInfluenceFile) -> dict[str, dict[str, float]]:
    """How often the strongest opponent / proponent carries the edit image's true label."""
    true = result.arrays["test_labels"]
    rates: dict[str, dict[str, float]] = {}
    for score in SCORES:
        rates[score] = {}
        for kind in KINDS:
            first = result.train_label_of(result.arrays[f"{kind}_{score}_index"][:, 0])
            rates[score][kind] = float((first == true).mean()) if len(true) else 0.0
    return rates


def test_opponent_labels(result: TestInfluenceFile) -> Figure:
    rates = opponent_label_rates(result)
    fig, ax = plt.subplots(figsize=(7, 4))
    x = np.arange(len(KINDS))
    for i, score in enumerate(SCORES):
        values = [rates[score][kind] for kind in KINDS]
        ax.bar(x + 0.38 * i, values, width=0.36, label=LABEL[score])
        for xi, v in zip(x + 0.38 * i, values, strict=True):
            ax.text(xi, v + 0.01, f"{100 * v:.0f}%", ha="center", fontsize=8)
    ax.set_xticks(x + 0.19, [f"strongest {k[:-1]}" for k in KINDS])
    ax.set_ylabel("share carrying the edit image's true label")
    ax.set_ylim(0, 1.1)
    ax.axhline(1 / len(result.class_names), color="k", ls="--", lw=1, label="chance")
    ax.legend()
    ax.set_title("Does the strongest opponent share the edit image's true label?")
    fig.tight_layout()
    return fig


# -- writing ------------------------------------------------------------------------------


def save_figures(figures: dict[str, Callable[[], Figure]], out_dir: str | Path, *,
                 force: bool = False, dpi: int = 110) -> list[Path]:
    """``<out_dir>/<name>.png`` for each figure; every target is checked before any is drawn,
    so a refusal writes nothing."""
    out_dir = Path(out_dir)
    targets = {name: out_dir / f"{name}.png" for name in figures}
    for path in targets.values():
        check_writable(path, force=force)
    written = []
    for name, make in figures.items():
        fig = make()
        try:
            atomic_write_with(targets[name], lambda p, f=fig: f.savefig(p, dpi=dpi,
                                                                       format="png"))
        finally:
            plt.close(fig)
        written.append(targets[name])
    return written


# -- figure sets ----------------------------------------------------------------------------


def split_images(dataset: str, split: str, *, data_root: str | Path,
                 label_overrides: str | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """Images of one split by index, the split loaded on first use."""
    from helpers.datasets import load_split

    loaded: dict[str, object] = {}

    def get(indices: np.ndarray) -> np.ndarray:
        if "split" not in loaded:
            loaded["split"] = load_split(dataset, split, data_root=data_root,
                                         label_overrides=label_overrides)
        images = loaded["split"].images  # type: ignore[attr-defined]
        return images[np.asarray(indices, dtype=np.int64)].numpy()

    return get


def self_figures(result: SelfInfluenceFile, images: Callable[[np.ndarray], np.ndarray]
                 ) -> dict[str, Callable[[], Figure]]:
    """Name -> figure of everything ``visualize_influence.py`` draws, in report order."""
    return {
        "self_influence_distribution": lambda: self_distribution(result),
        "self_influence_by_class": lambda: self_by_class(result),
        "self_influence_label_x_prediction": lambda: self_confusion(result),
        "self_influence_top_images": lambda: self_grid(result, images, top=True),
        "self_influence_top_images_raw": lambda: self_grid(result, images, score="raw"),
        "self_influence_bottom_images": lambda: self_grid(result, images, top=False),
        "self_influence_vs_loss_margin": lambda: self_vs_loss(result),
    }


def test_figures(result: TestInfluenceFile, explained: Callable[[int], np.ndarray],
                 training: Callable[[np.ndarray], np.ndarray], *, strips: int = 8
                 ) -> dict[str, Callable[[], Figure]]:
    """Name -> figure of everything ``visualize_test_influence.py`` draws, in report order.

    Strips come ``strips`` edit images to a figure, normalised then raw scores.
    """
    figures: dict[str, Callable[[], Figure]] = {
        "test_influence_distributions": lambda: test_distributions(result),
        "test_influence_class_heatmap": lambda: test_class_heatmap(result),
        "test_influence_opponent_labels": lambda: test_opponent_labels(result),
    }
    for start in range(0, len(result), strips):
        positions = list(range(start, min(start + strips, len(result))))
        for score in SCORES:
            figures[f"test_influence_strips_{score}_{start:04d}"] = (
                lambda p=positions, s=score: test_strips(result, p, explained, training,
                                                         score=s))
    return figures


def explained_images(result: TestInfluenceFile, *, data_root: str | Path,
                     edit_images: np.ndarray | None = None) -> Callable[[int], np.ndarray]:
    """The t-th explained image: from the edit set's own pixels when given, else from its
    (data set, split, index); a grey square when neither is known."""
    loaders: dict[tuple[str, str], Callable[[np.ndarray], np.ndarray]] = {}

    def get(t: int) -> np.ndarray:
        if edit_images is not None:
            return edit_images[t]
        index = int(result.arrays["test_indices"][t])
        key = (str(result.arrays["test_dataset"][t]) or result.dataset,
               str(result.arrays["test_split"][t]))
        if index < 0 or not key[1]:
            return np.full((3, 32, 32), 128, dtype=np.uint8)
        if key not in loaders:
            loaders[key] = split_images(*key, data_root=data_root)
        return loaders[key](np.array([index]))[0]

    return get


def test_figure_set(result: TestInfluenceFile, *, data_root: str | Path,
                    edit_images: np.ndarray | None = None, strips: int = 8,
                    max_strips: int = 48) -> dict[str, Callable[[], Figure]]:
    """:func:`test_figures` with the images found: the training split's by index, the
    explained ones from ``edit_images`` (T, C, H, W) when given."""
    from helpers.errors import UserError

    if edit_images is not None and len(edit_images) != len(result):
        raise UserError(f"the edit set has {len(edit_images)} images but {result.path} explains "
                        f"{len(result)}: pass the edit set the result was computed for")
    training = split_images(result.dataset, result.split, data_root=data_root)
    explained = explained_images(result, data_root=data_root, edit_images=edit_images)
    figures = test_figures(result, explained, training, strips=strips)
    shown = {f"test_influence_strips_{s}_{start:04d}" for s in SCORES
             for start in range(0, min(len(result), max_strips), strips)}
    return {name: make for name, make in figures.items()
            if not name.startswith("test_influence_strips_") or name in shown}
