"""DeepDream on arrays: objective rises, octaves, tiles, zoom, guided dreaming, both backends."""

from __future__ import annotations

import numpy as np
import pytest

from vis.engine import make_backend
from vis.engine._dream import (
    GUIDE_SIDE,
    DreamConfig,
    DreamError,
    VideoDreamConfig,
    _tiles,
    ascent_step,
    dream,
    dream_zoom,
    fit_max_size,
    guide_features_of,
    network_input_sizes,
    octave_sizes,
    zoom_in,
)
from vis.errors import VisError
from vis.exporters import parse_objective
from vis.models import get_model

MODEL = "efficientnet_lite0"


@pytest.fixture(scope="module")
def net():
    return get_model(MODEL, "imagenet")


@pytest.fixture(scope="module")
def backend(net):
    return make_backend("ort", MODEL, net, parse_objective("block10", MODEL), threads=2)


@pytest.fixture(scope="module")
def torch_backend(net):
    return make_backend("torch", MODEL, net, parse_objective("block10", MODEL), threads=2)


@pytest.fixture(scope="module")
def photo(sample_photo):
    from vis.engine import load_image

    return fit_max_size(load_image(sample_photo), 96)


@pytest.mark.parametrize("kind", ["ort", "torch"])
def test_objective_rises_over_iterations(kind, backend, torch_backend, photo) -> None:
    backend = backend if kind == "ort" else torch_backend
    values = []
    out = dream(backend, photo, DreamConfig(octaves=1, iterations=6), rng=np.random.default_rng(0),
                progress=lambda p: values.append(p.value))
    assert len(values) == 6
    assert values[-1] > values[0] * 1.05
    assert out.shape == photo.shape and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0


def test_octaves_carry_detail_and_keep_size(backend, photo) -> None:
    seen = []
    out = dream(backend, photo, DreamConfig(octaves=3, iterations=2), rng=np.random.default_rng(0),
                progress=lambda p: seen.append(p.shape))
    assert out.shape == photo.shape
    assert seen[0] < seen[-1] and seen[-1] == photo.shape[:2]
    assert np.abs(out - photo).mean() > 1e-3


def test_ort_and_torch_agree(backend, torch_backend, photo) -> None:
    outs = [dream(b, photo, DreamConfig(octaves=1, iterations=2), rng=np.random.default_rng(3))
            for b in (backend, torch_backend)]
    assert np.abs(outs[0] - outs[1]).max() < 2e-3


def test_tiled_step_covers_large_images(backend) -> None:
    x = np.random.default_rng(0).random((1, 3, 150, 200), dtype=np.float32)
    out, value = ascent_step(backend, x, DreamConfig(tile=64), np.random.default_rng(0))
    assert out.shape == x.shape and np.isfinite(value)
    changed = np.abs(out - x).mean(axis=(0, 1))
    assert (changed > 0).mean() > 0.95  # every tile got a gradient


class MeanBackend:
    """A stand-in whose objective is the mean of its input: the value of any split into tiles is known."""

    def gradient(self, x):
        return float(x.mean()), np.ones_like(x)


@pytest.mark.parametrize("shape, tile", [((150, 200), 64), ((130, 1000), 256), ((100, 100), 64)])
def test_tiled_value_reads_as_an_untiled_one(shape, tile) -> None:
    """A tiled step reports the tiles' values weighted by area: the mean objective of the whole image, not a sum
    that grows with the number of tiles."""
    x = np.random.default_rng(1).random((1, 3, *shape), dtype=np.float32)
    _, value = ascent_step(MeanBackend(), x, DreamConfig(tile=tile), np.random.default_rng(0))
    assert value == pytest.approx(float(x.mean()), rel=1e-5)


def rolled_tiled_step(backend, x, config, rng):
    """The tiled step written plainly: roll the image, a gradient per tile, roll the gradient back, normalise by the
    mean |g|, add, clip (what ascent_step does without the copies)."""
    h, w = x.shape[2:]
    sy, sx = (int(v) for v in rng.integers(0, config.tile, size=2))
    rolled = np.roll(x, (sy, sx), axis=(2, 3))
    grad = np.empty_like(rolled)
    for (y0, y1) in _tiles(h, config.tile):
        for (x0, x1) in _tiles(w, config.tile):
            grad[:, :, y0:y1, x0:x1] = backend.gradient(np.ascontiguousarray(rolled[:, :, y0:y1, x0:x1]))[1]
    grad = np.roll(grad, (-sy, -sx), axis=(2, 3))
    return np.clip(x + config.step_size / (np.abs(grad).mean() + 1e-8) * grad, 0, 1)


def test_the_tiled_step_is_roll_gradient_unroll(backend) -> None:
    """Tiles read from the shifted places of the image equal tiles of the rolled image (no seams, same update)."""
    x = np.random.default_rng(2).random((1, 3, 150, 200), dtype=np.float32)
    config = DreamConfig(tile=64)
    before = x.copy()
    got, _ = ascent_step(backend, x, config, np.random.default_rng(7))
    want = rolled_tiled_step(backend, x, config, np.random.default_rng(7))
    assert np.array_equal(x, before)
    assert np.abs(got - want).max() < 1e-5 and np.abs(got - x).mean() > 1e-3


def test_a_dream_leaves_its_input_as_it_was(backend) -> None:
    image = np.random.default_rng(4).random((130, 150, 3), dtype=np.float32)
    before = image.copy()
    for octaves in (1, 2):
        dream(backend, image, DreamConfig(octaves=octaves, iterations=1, tile=64), rng=np.random.default_rng(0))
        assert np.array_equal(image, before)


def test_a_tiled_dream_reports_its_tiles_and_dreams_the_same(backend) -> None:
    """Within a tiled step (20 s for a 24 MP photo on 2 cores) each tile but the last is reported; the step itself
    is reported as before, and reporting changes nothing in the dream."""
    image = np.random.default_rng(1).random((130, 150, 3), dtype=np.float32)
    config = DreamConfig(octaves=2, iterations=2, tile=64)
    tiles, steps = [], []
    out = dream(backend, image, config, rng=np.random.default_rng(0), progress=lambda p: steps.append(p),
                tile_progress=lambda p: tiles.append((p.octave, p.iteration, p.tile, p.tiles, p.shape)))
    plain = dream(backend, image, config, rng=np.random.default_rng(0))
    assert np.array_equal(out, plain)
    small, full = steps[0].shape, steps[-1].shape  # 93x107 is 2x2 tiles of at most 64, 130x150 is 3x3
    assert small == (93, 107) and full == (130, 150)
    expected = [(o, i, t, n, shape) for o, shape, n in ((0, small, 4), (1, full, 9)) for i in range(2) for t in range(1, n)]
    assert tiles == expected
    assert [(p.octave, p.iteration, p.tiles) for p in steps] == [(0, 0, 0), (0, 1, 0), (1, 0, 0), (1, 1, 0)]
    assert all(np.isfinite(p.value) for p in steps)


def test_the_dream_progress_line_names_the_tile(monkeypatch, capsys) -> None:
    import sys

    from vis.cli._dream_runs import Progress
    from vis.engine._dream import DreamProgress

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    progress = Progress()
    progress.tile(DreamProgress(1, 2, 0, 10, float("nan"), (4000, 6000), 5, 96))
    assert capsys.readouterr().err == "\roctave 2/2 (6000x4000)  step 1/10  tile 5/96   "
    progress.tile(DreamProgress(1, 2, 0, 10, float("nan"), (4000, 6000), 6, 96))  # within 0.2 s: not drawn again
    progress.step(DreamProgress(1, 2, 0, 10, 1.5, (4000, 6000)))
    progress.end()
    assert capsys.readouterr().err == "\roctave 2/2 (6000x4000)  step 1/10  objective 1.5   \n"


def test_a_still_image_shows_the_time_left_by_its_octaves_pixels(monkeypatch, capsys) -> None:
    """Work is taken as pixels x steps: after both steps of a 100-pixel octave, 200 of 800 are done; 10 s so far
    leaves 30 s. Within a step, its tiles count."""
    import sys
    import time

    from vis.cli._dream_runs import Progress
    from vis.engine._dream import DreamProgress

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    progress = Progress(octave_pixels=[100, 300])
    progress.start = time.perf_counter() - 10.0
    progress.step(DreamProgress(0, 2, 1, 2, 1.5, (10, 10)))
    assert capsys.readouterr().err.endswith("objective 1.5  ETA 0:00:30   ")
    progress._last_tile = -1e9
    progress.start = time.perf_counter() - 10.0
    progress.tile(DreamProgress(1, 2, 0, 2, float("nan"), (15, 20), 1, 3))  # 200 + 100 of 800 done
    assert capsys.readouterr().err.endswith("tile 1/3  ETA 0:00:16   ")
    progress.end()
    capsys.readouterr()
    Progress().step(DreamProgress(0, 2, 1, 2, 1.5, (10, 10)))  # octaves not known: no ETA
    assert "ETA" not in capsys.readouterr().err


def test_a_log_gets_the_first_frame_the_last_and_one_line_every_5_s_between(monkeypatch, capsys) -> None:
    """A line a frame made the log of a long video as long as the video."""
    import vis.cli._dream_runs as runs

    clock = [0.0]
    monkeypatch.setattr(runs.time, "perf_counter", lambda: clock[0])
    progress = runs.Progress(total=100)
    for _ in range(100):
        clock[0] += 0.125  # 8 fps
        progress.frame()
    shown = [line.split("  ")[0] for line in capsys.readouterr().err.splitlines()]
    assert shown == ["frame 1/100", "frame 41/100", "frame 81/100", "frame 100/100"]


@pytest.mark.parametrize("n, tile, spans", [(100, 512, 1), (512, 512, 1), (513, 512, 2), (1500, 512, 3)])
def test_tiles_split_evenly(n, tile, spans) -> None:
    got = _tiles(n, tile)
    assert len(got) == spans and got[0][0] == 0 and got[-1][1] == n
    assert all(b - a <= tile for a, b in got)


@pytest.mark.parametrize("shape, octaves, expected", [
    ((224, 224), 4, [(224, 224), (160, 160), (114, 114), (82, 82)]),
    ((64, 64), 4, [(64, 64), (46, 46), (33, 33)]),
    ((40, 400), 1, [(40, 400)]),
])
def test_octave_sizes(shape, octaves, expected) -> None:
    assert octave_sizes(shape, DreamConfig(octaves=octaves)) == expected


class ShapeRecorder:
    """A backend that records the input shapes the dream feeds it (and changes nothing)."""

    def __init__(self):
        self.seen: set[tuple[int, int]] = set()

    def step(self, x, jitter, step_size):
        self.seen.add(x.shape[2:])
        return x, 0.0

    def gradient(self, x):
        self.seen.add(x.shape[2:])
        return 0.0, np.ones_like(x)


@pytest.mark.parametrize("shape, tile", [((600, 900), 512), ((300, 200), 512), ((130, 1000), 256)])
def test_network_input_sizes_are_what_the_dream_feeds(shape, tile) -> None:
    config = DreamConfig(octaves=4, iterations=2, tile=tile)
    backend = ShapeRecorder()
    dream(backend, np.zeros((*shape, 3), np.float32), config, rng=np.random.default_rng(0))
    predicted = network_input_sizes(shape, config)
    assert set(predicted) == backend.seen and len(predicted) == len(backend.seen)


@pytest.mark.parametrize("kwargs", [{"octaves": 0}, {"octave_scale": 1.0}, {"iterations": -1}, {"tile": 8}])
def test_bad_config_is_a_typed_error(kwargs) -> None:
    with pytest.raises(DreamError):
        DreamConfig(**kwargs)


def test_bad_video_config() -> None:
    with pytest.raises(DreamError):
        VideoDreamConfig(blend=1.5)
    with pytest.raises(DreamError):
        VideoDreamConfig(flow="magic")


def test_too_small_image() -> None:
    with pytest.raises(DreamError, match="smaller"):
        octave_sizes((20, 100), DreamConfig())


def test_zoom_in_keeps_size_and_centre() -> None:
    img = np.zeros((41, 61, 3), np.float32)
    img[20, 30] = 1.0
    out = zoom_in(img, 0.5)
    assert out.shape == img.shape
    assert out[20, 30].max() > 0.2 and out[0, 0].max() == 0.0


@pytest.mark.parametrize("zoom", [0.05, 0.3])
def test_zoom_in_shows_the_centre_one_minus_zoom(zoom) -> None:
    """The seminar's frame loop: output pixel o shows input (1 - s) * o + size * s / 2 (scipy's affine_transform)."""
    h, w = 40, 64
    ramp = np.broadcast_to(np.arange(w, dtype=np.float32)[None, :, None], (h, w, 3)).copy()
    out = zoom_in(ramp, zoom)
    wanted = (1 - zoom) * np.arange(w) + w * zoom / 2
    np.testing.assert_allclose(out[h // 2, :, 0], wanted, atol=1e-3)


def test_dream_zoom_yields_frames(backend, photo) -> None:
    frames = list(dream_zoom(backend, photo, 3, 0.05, DreamConfig(octaves=1, iterations=1), rng=np.random.default_rng(0)))
    assert len(frames) == 3 and all(f.shape == photo.shape for f in frames)


def _guided(net, photo, kind):
    obj = parse_objective("guide:block10", MODEL)
    guide = guide_features_of(net, "block10", photo[::-1].copy(), 64)
    return make_backend(kind, MODEL, net, obj, threads=2, guide=guide)


def test_guide_features_are_taken_at_the_guide_side(net) -> None:
    from vis.models import layer_table

    big = np.random.default_rng(0).random((300, 448, 3), dtype=np.float32)
    shapes = {row.name: row.shape for row in layer_table(MODEL, (150, GUIDE_SIDE))}  # 448x300 shrunk to 224 wide
    c, h, w = shapes["block10"]
    assert guide_features_of(net, "block10", big).shape == (c, h * w)
    c, h, w = {row.name: row.shape for row in layer_table(MODEL, (64, 96))}["block10"]
    assert guide_features_of(net, "block10", big, max_size=96).shape == (c, h * w)


def test_guided_dream_changes_the_image(net, photo) -> None:
    be = _guided(net, photo, "torch")
    out = dream(be, photo, DreamConfig(octaves=1, iterations=3), rng=np.random.default_rng(0))
    plain = dream(make_backend("torch", MODEL, net, parse_objective("block10", MODEL), threads=2), photo,
                  DreamConfig(octaves=1, iterations=3), rng=np.random.default_rng(0))
    assert np.abs(out - photo).mean() > 1e-3 and np.abs(out - plain).mean() > 1e-4


def test_guide_gradient_ort_matches_torch(net, photo) -> None:
    x = np.ascontiguousarray(photo.transpose(2, 0, 1)[None])
    (_, g_ort), (_, g_torch) = (_guided(net, photo, k).gradient(x) for k in ("ort", "torch"))
    assert np.corrcoef(g_ort.ravel(), g_torch.ravel())[0, 1] > 0.99


def test_same_seed_same_dream(backend, photo) -> None:
    runs = [dream(backend, photo, DreamConfig(octaves=2, iterations=2), rng=np.random.default_rng(7)) for _ in range(2)]
    assert np.array_equal(runs[0], runs[1])


def test_gpu_is_judged_by_the_backends_own_library(monkeypatch) -> None:
    # CPU-only onnxruntime beside a CUDA build of torch: --backend torch runs on the GPU and gets the GPU tile
    import torch

    import vis.engine._session as session
    from vis.engine._dream import GPU_TILE, DreamConfig, default_tile, runs_on_gpu

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(session, "available_providers", lambda: ["cpu"])
    assert runs_on_gpu("auto", "torch") and not runs_on_gpu("auto", "ort")
    assert default_tile("auto", "torch") == GPU_TILE and default_tile("auto", "ort") == DreamConfig().tile
    assert runs_on_gpu("cuda", "ort") and not runs_on_gpu("cpu", "torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(session, "available_providers", lambda: ["cuda", "cpu"])
    assert runs_on_gpu("auto", "ort") and not runs_on_gpu("auto", "torch")


def test_a_guide_image_is_taken_as_its_features(net, photo) -> None:
    """make_backend takes the guide image itself (as `vis dream --guide` does), or its features."""
    obj = parse_objective("guide:block10", MODEL)
    x = np.ascontiguousarray(photo.transpose(2, 0, 1)[None])
    guide = photo[::-1].copy()
    from_image = make_backend("ort", MODEL, net, obj, threads=2, guide=guide).gradient(x)
    from_features = make_backend("ort", MODEL, net, obj, threads=2,
                                 guide=guide_features_of(net, "block10", guide)).gradient(x)
    assert from_image[0] == from_features[0] and np.array_equal(from_image[1], from_features[1])
    with pytest.raises(VisError, match="no guide:LAYER term"):
        make_backend("ort", MODEL, net, parse_objective("block10", MODEL), guide=guide)
    with pytest.raises(VisError, match="guide is 5: pass the guide image"):
        make_backend("ort", MODEL, net, obj, guide=np.zeros(5, np.float32))
    for kind in ("ort", "torch"):
        with pytest.raises(VisError, match=r"needs a guide \(vis dream --guide IMAGE"):
            make_backend(kind, MODEL, net, obj, threads=2).gradient(x)


@pytest.mark.parametrize("kwargs, words", [({"iterations": 2.5}, "--iterations must be a whole number, got 2.5"),
                                           ({"octaves": "4"}, "--octaves must be a whole number")])
def test_counts_of_a_config_are_whole_numbers(kwargs, words) -> None:
    with pytest.raises(DreamError, match=words):
        DreamConfig(**kwargs)
