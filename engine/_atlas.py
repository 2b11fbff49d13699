"""Many units of one layer at once: one gradient graph over a batch of N images, image i maximising unit i
(:class:`vis.exporters._objectives.BatchChannelObjective`), and the labelled grid of a layer atlas (the thesis's
figures 4.3-4.7)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import cv2
import numpy as np

from vis.engine._backend import make_backend
from vis.engine._image_array import quantize
from vis.engine._maximize import (
    MaximizeConfig,
    MaximizeError,
    MaximizeProgress,
    maximize_batch,
    network_batch,
    no_gradient,
)
from vis.errors import UnknownNameError
from vis.exporters._objectives import BatchChannelObjective
from vis.models import StagedNet, layer_table


def batch_objective(model_name: str, layer: str) -> BatchChannelObjective:
    """The per-image channel objective on ``layer`` of ``model_name`` (unknown layers raise with the valid ones)."""
    table = {row.name: row.shape for row in layer_table(model_name)}
    if layer not in table:
        raise UnknownNameError(f"layer of {model_name}", layer, table)
    shape = table[layer]
    if not shape:
        raise MaximizeError(f"{layer} of {model_name} has no known shape")
    return BatchChannelObjective(layer, shape[0], rank=len(shape) + 1)


def maximize_units(model_name: str, model: StagedNet, layer: str, units: Sequence[int],
                   config: MaximizeConfig | None = None, *, backend: str = "ort", batch: int = 8,
                   provider: str = "auto", threads: int = 0, weights: str = "",
                   progress: Callable[[int, int, MaximizeProgress], None] | None = None) -> np.ndarray:
    """One image per unit (channel of a conv layer, unit of a dense layer, class logit) of ``layer``.

    ``batch`` units are optimised per backend run: one gradient graph with a batch of N images, image i
    maximising unit ``units[i]`` (:class:`BatchChannelObjective`; the selection is a graph input, so one graph
    serves every batch).

    Args:
        progress: called with (first unit index of the batch, number of units, step report).

    Returns:
        (len(units), H, W, 3) float32 in [0, 1].
    """
    return _unit_images(model_name, model, layer, units, config, backend=backend, batch=batch, provider=provider,
                        threads=threads, weights=weights, progress=progress, find_asleep=False)[0]


def _unit_images(model_name: str, model: StagedNet, layer: str, units: Sequence[int],
                 config: MaximizeConfig | None = None, *, backend: str = "ort", batch: int = 8,
                 provider: str = "auto", threads: int = 0, weights: str = "",
                 progress: Callable[[int, int, MaximizeProgress], None] | None = None,
                 find_asleep: bool = True) -> tuple[np.ndarray, list[int]]:
    """:func:`maximize_units`' images, and (with ``find_asleep``, one more gradient a batch) the units whose image
    has no gradient at the end (never woke)."""
    objective = batch_objective(model_name, layer)
    units = list(units)
    first = objective.selection(units[: max(1, batch)])  # validates every unit below too
    objective.selection(units)
    if batch < 1:
        raise MaximizeError(f"--batch must be at least 1, got {batch}")
    config = config or MaximizeConfig.for_model(model_name, objective)
    engine = make_backend(backend, model_name, model, objective, provider=provider, threads=threads, guide=first,
                          weights=weights)
    images, asleep = [], []
    for start in range(0, len(units), batch):
        chunk = units[start : start + batch]
        engine.set_guide(objective.selection(chunk))
        hook = (lambda p, s=start: progress(s, len(units), p)) if progress else None
        made = maximize_batch(engine, config, len(chunk), hook, starts=chunk)  # a unit's image: any --batch
        if find_asleep:
            _, g = engine.gradient(network_batch(made, config.channels))
            asleep += [unit for unit, dead in zip(chunk, no_gradient(g)) if dead]
        images.append(made)
    return np.concatenate(images, axis=0), asleep


def atlas_grid(tiles: np.ndarray, labels: Sequence[str], columns: int | None = None, gap: int = 4) -> np.ndarray:
    """Lay out (N, H, W, 3) tiles in a grid on white with a label under each (the thesis's figures 4.3-4.7)."""
    n, h, w, _ = tiles.shape
    columns = columns or max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / columns)
    labels, font_scale = _fitted_labels([str(label) for label in labels], w)
    label_h = int(22 * font_scale / 0.5)
    cell_h, cell_w = h + label_h + gap, w + gap
    grid = np.full((rows * cell_h + gap, columns * cell_w + gap, 3), 255, np.uint8)
    for i in range(n):
        r, c = divmod(i, columns)
        top, left = gap + r * cell_h, gap + c * cell_w
        grid[top : top + h, left : left + w] = quantize(tiles[i])
        cv2.putText(grid, labels[i], (left, top + h + label_h - 6), LABEL_FONT, font_scale, (0, 0, 0), 1, cv2.LINE_AA)
    return grid.astype(np.float32) / 255.0


LABEL_FONT = cv2.FONT_HERSHEY_SIMPLEX
SMALLEST_LABEL = 0.3  # font scale; below it Hershey text is unreadable


def _fitted_labels(labels: list[str], width: int) -> tuple[list[str], float]:
    """Labels that fit under ``width``-px tiles without running into the next one, and their font scale: scaled
    with the tile, smaller if needed, and at the smallest scale ``layer:12`` becomes ``12`` (one layer per grid)."""
    widest = lambda texts, scale: max(cv2.getTextSize(t, LABEL_FONT, scale, 1)[0][0] for t in texts)  # noqa: E731
    scale = max(SMALLEST_LABEL, min(0.6, width / 200))
    while scale > SMALLEST_LABEL and widest(labels, scale) > width:
        scale = max(SMALLEST_LABEL, scale - 0.05)
    if widest(labels, scale) > width:
        labels = [label.rsplit(":", 1)[-1] for label in labels]
    return labels, scale


def atlas(model_name: str, model: StagedNet, layer: str, channels: Sequence[int],
          config: MaximizeConfig | None = None, *, backend: str = "ort", batch: int = 8, columns: int | None = None,
          provider: str = "auto", threads: int = 0, weights: str = "",
          progress: Callable[[int, int, MaximizeProgress], None] | None = None) -> Atlas:
    """A labelled grid of channel images of ``layer``."""
    tiles, asleep = _unit_images(model_name, model, layer, channels, config, backend=backend, batch=batch,
                                 provider=provider, threads=threads, weights=weights, progress=progress)
    return Atlas(atlas_grid(tiles, [f"{layer}:{c}" for c in channels], columns), tiles, asleep)


class Atlas(NamedTuple):
    grid: np.ndarray
    """HxWx3 float32 in [0, 1]."""
    tiles: np.ndarray
    """(N, h, w, 3), one per channel, in the order asked."""
    asleep: list[int]
    """The channels no start woke: their tiles are only their noisy grey starts."""
