"""Figures of the inspection results (matplotlib, Agg canvas: no display, no global backend switch).

Each function takes the arrays the library computed and writes one image file; titles, labels and colour bars
where a reader expects them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from vis._text import cut_left
from vis.engine._images import check_output, refuse_non_file, write_rendered
from vis.errors import OutputPathError


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(width, 2.0), max(height, 2.0)), dpi=100, layout="constrained")  # titles never overlap
    FigureCanvasAgg(fig)
    return fig


FIGURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".pdf", ".svg")  # as image outputs, and vectors


def figure_path(path: str | Path) -> Path:
    """The file a figure goes to: a name without suffix gets .png (as matplotlib would add it), a suffix no figure
    is written as is refused before any work."""
    path = Path(path)
    refuse_non_file(path)
    if not path.suffix:
        return path.with_name(path.name.rstrip(".") + ".png")
    if path.suffix.lower() not in FIGURE_SUFFIXES:
        raise OutputPathError(f"cannot write a figure as {path.suffix}: use {', '.join(FIGURE_SUFFIXES[:-1])} or "
                              f"{FIGURE_SUFFIXES[-1]}")
    return path


def check_figure_output(path: str | Path, overwrite: bool, inputs: Sequence[Path] = ()) -> Path:
    """:func:`check_output` for the file a figure named ``path`` will really be written to."""
    return check_output(figure_path(path), overwrite, inputs)


def _save(fig, path: str | Path, overwrite: bool) -> Path:
    """Write the figure; a file that appeared at ``path`` since the command's own check (another run) is kept, the
    figure written beside it (see :func:`vis.engine._images.atomic_write`)."""
    path = check_figure_output(path, overwrite=True)  # folders made, writability probed; nothing replaced yet
    fmt = path.suffix.lower().lstrip(".")
    write_rendered(path, lambda buffer: fig.savefig(buffer, format=fmt, bbox_inches="tight"), overwrite)
    return path


def _off(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


# Grids of many small images are drawn as one picture in one axes: a subplot per tile took minutes for a few
# hundred tiles (each axes is laid out and rendered on its own), one mosaic takes a second.
FILTER_CELL = 48  # px per filter (nearest: a 3x3 kernel shows as 3x3 blocks)
RGB_FILTER_CELL = 64
MAP_CELL = 96  # px per activation map and input thumbnail
GAP = 6


def mosaic(cells: Sequence[np.ndarray], cols: int, gap: int = GAP, gap_y: int | None = None) -> np.ndarray:
    """Equal-sized HxWx3 cells laid out row by row, ``cols`` per row, on white with ``gap`` px between them
    (``gap_y`` between rows, default ``gap``)."""
    gap_y = gap if gap_y is None else gap_y
    h, w = cells[0].shape[:2]
    rows = math.ceil(len(cells) / cols)
    out = np.ones((rows * h + (rows - 1) * gap_y, cols * w + (cols - 1) * gap, 3), np.float32)
    for n, cell in enumerate(cells):
        r, c = divmod(n, cols)
        out[r * (h + gap_y):r * (h + gap_y) + h, c * (w + gap):c * (w + gap) + w] = cell
    return out


def blocks(values: np.ndarray, size: int, cmap: str | None = None) -> np.ndarray:
    """A small 2-D array (in [0, 1], or any range with ``cmap``, scaled to its own min..max) or HxWx3 image as a
    size x size RGB cell of nearest-neighbour blocks."""
    import cv2

    if values.ndim == 2 and cmap is not None:
        from matplotlib import colormaps

        lo, span = float(values.min()), float(np.ptp(values))
        values = colormaps[cmap]((values - lo) / span if span > 0 else np.zeros_like(values))[..., :3]
    elif values.ndim == 2:
        values = np.repeat(values[..., None], 3, axis=2)
    return cv2.resize(np.clip(values, 0, 1).astype(np.float32), (size, size), interpolation=cv2.INTER_NEAREST)


def thumbnail(image: np.ndarray, size: int) -> np.ndarray:
    """An HxWx3 image scaled to a size x size cell (area averaging: a photo, not blocks)."""
    import cv2

    return cv2.resize(np.clip(image, 0, 1).astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)


def _mosaic_figure(picture: np.ndarray, title: str, col_labels: Sequence[str] = (), row_labels: Sequence[str] = (),
                   cell: int = 0, gap: int = GAP, fontsize: int = 7):
    """A figure showing ``picture`` at about one image pixel per screen pixel, labels centred over its columns
    and beside its rows of ``cell``-px tiles."""
    h, w = picture.shape[:2]
    fig = _figure(w / 100 + 0.8, h / 100 + 0.8)
    ax = fig.add_subplot(1, 1, 1)
    if picture.dtype != np.uint8:  # matplotlib resamples floats in float64: 4x slower on a mosaic of 1000s of maps
        picture = (np.clip(picture, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    ax.imshow(picture, interpolation="nearest")
    centres = lambda count: [i * (cell + gap) + (cell - 1) / 2 for i in range(count)]  # noqa: E731
    ax.set_xticks(centres(len(col_labels)), list(col_labels), fontsize=fontsize)
    ax.set_yticks(centres(len(row_labels)), list(row_labels), fontsize=fontsize)
    ax.xaxis.tick_top()
    ax.tick_params(length=0, pad=2)
    for spine in ax.spines.values():
        spine.set_visible(False)
    fig.suptitle(title)
    return fig, ax


def plot_filters(weights: np.ndarray, path: str | Path, title: str, max_filters: int = 64, max_inputs: int = 8,
                 overwrite: bool = False) -> Path:
    """Filters (O, I, kh, kw), already normalised to [0, 1] per filter.

    RGB filters (I = 3) are drawn in colour (grey ones for I = 1) in a square grid, numbered; others as a grid of
    filters (rows) by input channels (columns).
    """
    o, i = weights.shape[:2]
    o = min(o, max_filters)
    cut = [f"the first {o} filters"] if o < weights.shape[0] else []
    cut += [f"the first {max_inputs} inputs"] if i not in (1, 3) and i > max_inputs else []
    title += f"\n(showing {' and '.join(cut)})" if cut else ""
    if i == 3 or i == 1:
        cols = math.ceil(math.sqrt(o))
        label_gap = 14  # room for each filter's number above it
        cells = [blocks(weights[n].transpose(1, 2, 0) if i == 3 else weights[n, 0], RGB_FILTER_CELL) for n in range(o)]
        fig, ax = _mosaic_figure(np.pad(mosaic(cells, cols, gap_y=label_gap), ((label_gap, 0), (0, 0), (0, 0)),
                                        constant_values=1.0), title)  # no tick labels: a number over each
        for n in range(o):
            r, c = divmod(n, cols)
            ax.text(c * (RGB_FILTER_CELL + GAP) + RGB_FILTER_CELL / 2, r * (RGB_FILTER_CELL + label_gap) + label_gap - 3,
                    str(n), ha="center", va="bottom", fontsize=7)
    else:
        shown = min(i, max_inputs)
        cells = [blocks(weights[n, c], FILTER_CELL) for n in range(o) for c in range(shown)]
        fig, _ = _mosaic_figure(mosaic(cells, shown), title, [f"in {c}" for c in range(shown)],
                                [f"filter {n}" for n in range(o)], FILTER_CELL)
    return _save(fig, path, overwrite)


ROW_LABEL_WIDTH = 18  # characters of an image's name beside its row of maps
MAX_MAP_COLUMNS = 32  # more channels wrap onto further lines of the image's row: a 1280-channel row was 130000 px


def plot_feature_maps(maps: np.ndarray, channels: Sequence[int], inputs: Sequence[np.ndarray], labels: Sequence[str],
                      path: str | Path, title: str, overwrite: bool = False) -> Path:
    """Activation maps (N, K, h, w): a row per image (its input first), a column per channel, each map scaled to
    its own range (viridis). Over :data:`MAX_MAP_COLUMNS` channels an image's row wraps onto more lines, and each
    map is numbered above it instead of by its column."""
    n, k = maps.shape[:2]
    if k <= MAX_MAP_COLUMNS:
        cells = []
        for r in range(n):
            cells.append(thumbnail(inputs[r], MAP_CELL))
            cells.extend(blocks(maps[r, c], MAP_CELL, "viridis") for c in range(k))
        fig, _ = _mosaic_figure(mosaic(cells, k + 1), title, ["input", *(f"ch {c}" for c in channels)],
                                [cut_left(label, ROW_LABEL_WIDTH) for label in labels], MAP_CELL, fontsize=8)
        return _save(fig, path, overwrite)
    lines = math.ceil(k / MAX_MAP_COLUMNS)
    label_gap = 14  # room for each map's channel number above it
    blank = np.ones((MAP_CELL, MAP_CELL, 3), np.float32)
    cells, numbers = [], []  # numbers: (line, column, channel) of every map drawn
    for r in range(n):
        for line in range(lines):
            cells.append(thumbnail(inputs[r], MAP_CELL) if line == 0 else blank)
            part = range(line * MAX_MAP_COLUMNS, min(k, (line + 1) * MAX_MAP_COLUMNS))
            cells.extend(blocks(maps[r, c], MAP_CELL, "viridis") for c in part)
            cells.extend(blank for _ in range(MAX_MAP_COLUMNS - len(part)))
            numbers.extend((r * lines + line, 1 + c - part.start, channels[c]) for c in part)
    picture = np.pad(mosaic(cells, MAX_MAP_COLUMNS + 1, gap_y=label_gap), ((label_gap, 0), (0, 0), (0, 0)),
                     constant_values=1.0)
    fig, ax = _mosaic_figure(picture, title, fontsize=8)
    step_x, step_y = MAP_CELL + GAP, MAP_CELL + label_gap
    for line, column, channel in numbers:
        ax.text(column * step_x + MAP_CELL / 2, line * step_y + label_gap - 3, str(channel), ha="center",
                va="bottom", fontsize=6)
    ax.set_yticks([r * lines * step_y + label_gap + MAP_CELL / 2 for r in range(n)],
                  [cut_left(label, ROW_LABEL_WIDTH) for label in labels], fontsize=8)
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


EMBED_INCHES = 10.0  # the t-SNE figure's side
EMBED_AXES_SHARE = 0.85  # of it, about what the axes take (labels and title the rest)
EMBED_THUMB_POINTS = 48  # a thumbnail's side on the t-SNE figure, whatever the model's input size


def thumbnail_spots(points: np.ndarray, side: float, overlap: float = 0.2, seed: int = 0) -> list[int]:
    """The points of a t-SNE figure that get a thumbnail ``side`` points (1/72 in) wide: taken in a seeded random
    order, each whose thumbnail would cover none taken before by more than ``overlap`` of its side. t-SNE piles
    similar images together, and a few hundred thumbnails drawn over each other show none; the rest stay dots.
    Sorted indices."""
    n = len(points)
    span = np.ptp(points, axis=0)
    unit = (points - points.min(axis=0)) / np.where(span > 0, span, 1.0)  # 0..1; matplotlib adds a 5% margin a side
    apart = side / 72 / (EMBED_INCHES * EMBED_AXES_SHARE) * 1.1 * (1 - overlap)  # least centre distance, in those units
    taken: list[int] = []
    for i in np.random.default_rng(seed).permutation(n):
        if not taken or (np.abs(unit[taken] - unit[i]).max(axis=1) >= apart).all():
            taken.append(int(i))
    return sorted(taken)


def plot_embedding(points: np.ndarray, thumbnails: Mapping[int, np.ndarray], labels: Sequence[str] | None,
                   path: str | Path, title: str, zoom: float = 0.25, overwrite: bool = False) -> Path:
    """t-SNE points, each a dot, with image thumbnails for the points in ``thumbnails`` (index to HxWx3 image, see
    :func:`thumbnail_spots`); a coloured frame and legend per label when labels are given."""
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    fig = _figure(EMBED_INCHES, EMBED_INCHES)
    ax = fig.add_subplot(1, 1, 1)
    names = sorted(set(labels)) if labels else []
    colours = {name: f"C{i % 10}" for i, name in enumerate(names)}
    for name in names:
        idx = [i for i, lab in enumerate(labels) if lab == name]
        ax.scatter(points[idx, 0], points[idx, 1], c=colours[name], label=name or "(no folder)", s=30)
    if not names:
        ax.scatter(points[:, 0], points[:, 1], s=10, c="C0")
    for i, thumb in sorted(thumbnails.items()):
        frame = dict(edgecolor=colours[labels[i]], linewidth=2) if labels else dict(edgecolor="none")
        box = AnnotationBbox(OffsetImage(np.clip(thumb, 0, 1), zoom=zoom), (points[i, 0], points[i, 1]), frameon=True,
                             bboxprops=frame, pad=0.1)
        ax.add_artist(box)
    if names:
        ax.legend(loc="best", fontsize=8)
    ax.set_xlabel("t-SNE 1")
    ax.set_ylabel("t-SNE 2")
    ax.set_title(title)
    return _save(fig, path, overwrite)
