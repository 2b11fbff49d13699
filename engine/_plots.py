"""Figures of the inspection results (matplotlib, Agg canvas: no display, no global backend switch).

Each function takes the arrays the library computed and writes one image file; titles, labels and colour bars
where a reader expects them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vis.engine._images import check_output, reporting_write_errors
from vis.errors import OutputPathError


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(width, 2.0), max(height, 2.0)), dpi=100, layout="constrained")  # titles never overlap
    FigureCanvasAgg(fig)
    return fig


FIGURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".pdf", ".svg")


def figure_path(path: str | Path) -> Path:
    """The file a figure goes to: a name without suffix gets .png (as matplotlib would add it), a suffix no figure
    is written as is refused before any work."""
    path = Path(path)
    if not path.suffix:
        return path.with_name(path.name + ".png")
    if path.suffix.lower() not in FIGURE_SUFFIXES:
        raise OutputPathError(f"cannot write a figure as {path.suffix}: use {', '.join(FIGURE_SUFFIXES[:-1])} or "
                              f"{FIGURE_SUFFIXES[-1]}")
    return path


def check_figure_output(path: str | Path, overwrite: bool) -> Path:
    """:func:`check_output` for the file a figure named ``path`` will really be written to."""
    return check_output(figure_path(path), overwrite)


def _save(fig, path: str | Path, overwrite: bool) -> Path:
    path = check_figure_output(path, overwrite)
    with reporting_write_errors(path):
        fig.savefig(str(path), bbox_inches="tight")
    return path


def _off(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def plot_filters(weights: np.ndarray, path: str | Path, title: str, max_filters: int = 64, max_inputs: int = 8,
                 overwrite: bool = False) -> Path:
    """Filters (O, I, kh, kw), already normalised to [0, 1] per filter.

    RGB filters (I = 3) are drawn in colour in a square grid; others as a grid of filters (rows) by input
    channels (columns).
    """
    o, i = weights.shape[:2]
    o = min(o, max_filters)
    if i == 3 or i == 1:
        cols = math.ceil(math.sqrt(o))
        rows = math.ceil(o / cols)
        fig = _figure(cols * 1.0, rows * 1.0 + 0.5)
        for n in range(o):
            ax = fig.add_subplot(rows, cols, n + 1)
            w = weights[n].transpose(1, 2, 0)
            ax.imshow(w if i == 3 else w[..., 0], cmap=None if i == 3 else "gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(str(n), fontsize=7)
            _off(ax)
    else:
        shown = min(i, max_inputs)
        fig = _figure(shown * 0.9 + 0.6, o * 0.9 + 0.5)
        for n in range(o):
            for c in range(shown):
                ax = fig.add_subplot(o, shown, n * shown + c + 1)
                ax.imshow(weights[n, c], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
                _off(ax)
                if n == 0:
                    ax.set_title(f"in {c}", fontsize=7)
                if c == 0:
                    ax.set_ylabel(f"filter {n}", fontsize=7)
    fig.suptitle(title)
    return _save(fig, path, overwrite)


def plot_feature_maps(maps: np.ndarray, channels: Sequence[int], inputs: Sequence[np.ndarray], labels: Sequence[str],
                      path: str | Path, title: str, overwrite: bool = False) -> Path:
    """Activation maps (N, K, h, w): a row per image (its input first), a column per channel, each map scaled to
    its own range (viridis)."""
    n, k = maps.shape[:2]
    fig = _figure((k + 1) * 1.2, n * 1.3 + 0.6)
    for r in range(n):
        ax = fig.add_subplot(n, k + 1, r * (k + 1) + 1)
        ax.imshow(np.clip(inputs[r], 0, 1))
        ax.set_ylabel(labels[r][:18], fontsize=7)
        _off(ax)
        if r == 0:
            ax.set_title("input", fontsize=8)
        for c in range(k):
            ax = fig.add_subplot(n, k + 1, r * (k + 1) + c + 2)
            ax.imshow(maps[r, c], cmap="viridis", interpolation="nearest")
            _off(ax)
            if r == 0:
                ax.set_title(f"ch {channels[c]}", fontsize=8)
    fig.suptitle(title)
    return _save(fig, path, overwrite)


def _input_beside(image: np.ndarray):  # noqa: ANN202
    """A two-panel figure whose left panel shows the input image."""
    fig = _figure(8.5, 4.2)
    ax = fig.add_subplot(1, 2, 1)
    ax.imshow(np.clip(image, 0, 1))
    ax.set_title("input")
    _off(ax)
    return fig


def plot_saliency(image: np.ndarray, saliency: np.ndarray, path: str | Path, title: str, overwrite: bool = False) -> Path:
    """The input and its saliency map (with a colour bar) side by side."""
    fig = _input_beside(image)
    ax = fig.add_subplot(1, 2, 2)
    im = ax.imshow(saliency, cmap="hot")
    ax.set_title("max_c |dS/dI|")
    _off(ax)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.suptitle(title)
    return _save(fig, path, overwrite)


def plot_cam(image: np.ndarray, heatmap: np.ndarray, path: str | Path, title: str, alpha: float = 0.5,
             overwrite: bool = False) -> Path:
    """The input, and the [0, 1] heatmap overlaid on it (jet, with a colour bar)."""
    fig = _input_beside(image)
    ax = fig.add_subplot(1, 2, 2)
    ax.imshow(np.clip(image, 0, 1))
    im = ax.imshow(heatmap, cmap="jet", alpha=alpha, vmin=0, vmax=1)
    ax.set_title("class activation map")
    _off(ax)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path, overwrite)


def plot_patches(patches: Sequence[np.ndarray], captions: Sequence[str], path: str | Path, title: str,
                 overwrite: bool = False) -> Path:
    """Patches (HxWx3) in a square grid, each with a caption (image and activation)."""
    k = len(patches)
    cols = math.ceil(math.sqrt(k))
    rows = math.ceil(k / cols)
    fig = _figure(cols * 1.8, rows * 1.9 + 0.5)
    for n, (patch, caption) in enumerate(zip(patches, captions)):
        ax = fig.add_subplot(rows, cols, n + 1)
        ax.imshow(np.clip(patch, 0, 1))
        ax.set_title(caption, fontsize=7)
        _off(ax)
    fig.suptitle(title)
    return _save(fig, path, overwrite)


def plot_embedding(points: np.ndarray, thumbnails: Sequence[np.ndarray], labels: Sequence[str] | None,
                   path: str | Path, title: str, zoom: float = 0.25, overwrite: bool = False) -> Path:
    """t-SNE points with image thumbnails; a coloured frame and legend per label when labels are given."""
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    fig = _figure(10, 10)
    ax = fig.add_subplot(1, 1, 1)
    names = sorted(set(labels)) if labels else []
    colours = {name: f"C{i % 10}" for i, name in enumerate(names)}
    for name in names:
        idx = [i for i, lab in enumerate(labels) if lab == name]
        ax.scatter(points[idx, 0], points[idx, 1], c=colours[name], label=name or "(no folder)", s=30)
    if not names:
        ax.scatter(points[:, 0], points[:, 1], s=10, c="C0")
    for i, (p, thumb) in enumerate(zip(points, thumbnails)):
        frame = dict(edgecolor=colours[labels[i]], linewidth=2) if labels else dict(edgecolor="none")
        box = AnnotationBbox(OffsetImage(np.clip(thumb, 0, 1), zoom=zoom), (p[0], p[1]), frameon=True, bboxprops=frame, pad=0.1)
        ax.add_artist(box)
    if names:
        ax.legend(loc="best", fontsize=8)
    ax.set_xlabel("t-SNE 1")
    ax.set_ylabel("t-SNE 2")
    ax.set_title(title)
    return _save(fig, path, overwrite)
