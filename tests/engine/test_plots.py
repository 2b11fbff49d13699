"""The mosaic the tile figures (filters, feature maps) are drawn from: where each cell lands and what it holds; which
t-SNE points get a thumbnail."""

from __future__ import annotations

import numpy as np
import pytest

from vis.engine._plots import (
    EMBED_AXES_SHARE, EMBED_INCHES, blocks, mosaic, plot_embedding, plot_feature_maps, plot_filters, thumbnail,
    thumbnail_spots,
)


def test_mosaic_places_cells_row_by_row_with_white_gaps():
    cells = [np.full((4, 5, 3), v, np.float32) for v in (0.1, 0.2, 0.3, 0.4, 0.5)]
    out = mosaic(cells, cols=2, gap=3, gap_y=2)
    assert out.shape == (3 * 4 + 2 * 2, 2 * 5 + 3, 3)
    for n, value in enumerate((0.1, 0.2, 0.3, 0.4, 0.5)):
        r, c = divmod(n, 2)
        assert np.all(out[r * 6:r * 6 + 4, c * 8:c * 8 + 5] == value)
    assert np.all(out[4:6] == 1.0) and np.all(out[:, 5:8] == 1.0)  # the gaps
    assert np.all(out[12:, 8:] == 1.0)  # the missing sixth cell


def test_blocks_keep_each_weight_as_a_block():
    kernel = np.array([[0.0, 1.0], [0.25, 0.5]], np.float32)
    cell = blocks(kernel, 8)
    assert cell.shape == (8, 8, 3)
    np.testing.assert_array_equal(cell[:4, :4], 0.0)
    np.testing.assert_array_equal(cell[:4, 4:], 1.0)
    np.testing.assert_array_equal(cell[4:, :4], 0.25)
    np.testing.assert_array_equal(cell[4:, 4:], 0.5)


def test_blocks_with_a_colour_map_scale_each_map_to_its_own_range():
    from matplotlib import colormaps

    viridis = colormaps["viridis"]
    cell = blocks(np.array([[-3.0, 7.0]], np.float32), 4, "viridis")
    np.testing.assert_allclose(cell[0, 0], viridis(0.0)[:3], atol=1e-6)
    np.testing.assert_allclose(cell[0, 3], viridis(1.0)[:3], atol=1e-6)
    flat = blocks(np.full((3, 3), 5.0, np.float32), 6, "viridis")  # a constant map: its lowest colour, no NaN
    np.testing.assert_allclose(flat, np.broadcast_to(viridis(0.0)[:3], flat.shape), atol=1e-6)


def test_thumbnail_averages():
    image = np.zeros((4, 4, 3), np.float32)
    image[:, :2] = 1.0
    np.testing.assert_allclose(thumbnail(image, 2)[:, :, 0], [[1.0, 0.0], [1.0, 0.0]])


@pytest.mark.parametrize("shape", [(10, 3, 5, 5), (10, 1, 3, 3), (10, 12, 3, 3)])
def test_filter_figures_are_written(tmp_path, shape):
    path = plot_filters(np.random.default_rng(0).random(shape).astype(np.float32), tmp_path / "f.png", "t", max_filters=6)
    assert path.stat().st_size > 1000


def test_feature_map_figure_is_written(tmp_path):
    rng = np.random.default_rng(0)
    path = plot_feature_maps(rng.standard_normal((2, 3, 7, 7)).astype(np.float32), [0, 4, 9],
                             [rng.random((20, 20, 3)).astype(np.float32)] * 2, ["a.jpg", "b.jpg"], tmp_path / "m.png", "t")
    assert path.stat().st_size > 1000


def test_many_feature_maps_wrap_onto_lines_of_a_bounded_width(tmp_path):
    """70 channels of 2 images: each image's row wraps onto 3 lines of at most 32 maps, so the figure stays about
    33 maps wide (not 71) and about 6 lines tall."""
    import cv2

    from vis.engine._plots import GAP, MAP_CELL, MAX_MAP_COLUMNS

    rng = np.random.default_rng(0)
    maps = rng.standard_normal((2, 70, 7, 7)).astype(np.float32)
    path = plot_feature_maps(maps, list(range(100, 170)), [rng.random((20, 20, 3)).astype(np.float32)] * 2,
                             ["a.jpg", "b.jpg"], tmp_path / "m.png", "t")
    height, width = cv2.imread(str(path)).shape[:2]
    step = MAP_CELL + GAP
    assert (MAX_MAP_COLUMNS + 1) * step - GAP <= width < (MAX_MAP_COLUMNS + 4) * step
    assert 6 * MAP_CELL < height < 8 * (MAP_CELL + 14)


def test_row_labels_keep_the_end_of_a_long_path():
    from vis._text import cut_left
    from vis.engine._plots import ROW_LABEL_WIDTH

    def _row_label(label: str) -> str:
        return cut_left(label, ROW_LABEL_WIDTH)

    assert _row_label("0.png") == "0.png"
    assert _row_label("holiday/2024/cat/0.png") == "\u2026ay/2024/cat/0.png" and len(_row_label("x" * 40)) == 18


def test_thumbnail_spots_keep_thumbnails_apart_and_leave_no_free_place():
    points = np.random.default_rng(1).normal(size=(2000, 2)).astype(np.float32)
    spots = thumbnail_spots(points, side=48, overlap=0.2)
    unit = (points - points.min(0)) / np.ptp(points, axis=0)
    apart = 48 / 72 / (EMBED_INCHES * EMBED_AXES_SHARE) * 1.1 * 0.8
    gaps = np.abs(unit[spots][:, None] - unit[spots][None]).max(axis=2) + np.eye(len(spots))
    assert gaps.min() >= apart  # no two thumbnails cover each other by more than a fifth of a side
    rest = np.setdiff1d(np.arange(2000), spots)
    assert (np.abs(unit[rest][:, None] - unit[spots][None]).max(axis=2).min(axis=1) < apart).all()  # all others covered
    assert 30 < len(spots) < 400 and spots == sorted(spots)


def test_thumbnail_spots_of_a_pile_and_of_a_sparse_grid():
    assert len(thumbnail_spots(np.zeros((50, 2), np.float32), side=48)) == 1  # copies of one image: one thumbnail
    grid = np.stack(np.meshgrid(np.arange(5), np.arange(5)), -1).reshape(-1, 2).astype(np.float32)
    assert thumbnail_spots(grid, side=48) == list(range(25))  # a quarter of the axes apart: every one has room


def test_embedding_figure_draws_thumbnails_only_where_asked(tmp_path):
    points = np.random.default_rng(0).normal(size=(40, 2)).astype(np.float32)
    thumbs = {i: np.full((16, 16, 3), 0.5, np.float32) for i in (0, 7)}
    path = plot_embedding(points, thumbs, ["a", "b"] * 20, tmp_path / "t", "t-SNE", zoom=3.0)
    assert path == tmp_path / "t.png" and path.stat().st_size > 1000
