"""The frame-loop graphs on the CPU provider against numpy, OpenCV and torch references.

Tolerances: 1e-5 where the reference computes the same arithmetic in another order (float32 rounding only); bit
equality where it is the same arithmetic (conversions at the frame's own size); stated looser bounds where the
reference is a different filter (OpenCV's INTER_AREA against the antialiased tent filter).
"""

from __future__ import annotations

import cv2
import numpy as np
import onnxruntime as ort
import pytest
import torch

from vis.engine._images import to_uint8
from vis.engine._flow import warp
from vis.errors import VisError
from vis.exporters import _frame_graphs as fg

SIZES = [(37, 53), (74, 106), (61, 99), (26, 38), (19, 27), (50, 20), (1, 53)]


def run(proto, **inputs) -> np.ndarray:
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {k: np.asarray(v) for k, v in inputs.items()})[0]


def tent_weights(n_in: int, n_out: int, antialias: bool) -> np.ndarray:
    """(n_out, n_in) weights of ONNX Resize linear, half_pixel: a tent of half-width max(1, n_in / n_out) when
    antialiasing (1 otherwise), normalised over its taps, taps outside the image clamped to the edge pixel."""
    scale = n_out / n_in
    support = 1.0 / scale if antialias and scale < 1 else 1.0
    weights = np.zeros((n_out, n_in))
    for i in range(n_out):
        centre = (i + 0.5) / scale - 0.5
        taps = range(int(np.floor(centre - support)), int(np.ceil(centre + support)) + 1)
        w = np.array([max(0.0, 1.0 - abs(j - centre) / support) for j in taps])
        if not antialias:  # plain linear clamps the sample position, not the taps
            centre = min(max(centre, 0.0), n_in - 1.0)
            w = np.array([max(0.0, 1.0 - abs(j - centre)) for j in taps])
        for j, wj in zip(taps, w / w.sum()):
            weights[i, min(max(j, 0), n_in - 1)] += wj
    return weights


def reference_resize(image: np.ndarray, size: tuple[int, int], antialias: bool) -> np.ndarray:
    """Separable resize of (1, C, h, w) in float64."""
    wy = tent_weights(image.shape[2], size[0], antialias)
    wx = tent_weights(image.shape[3], size[1], antialias)
    return np.einsum("yh,nchw,xw->ncyx", wy, image.astype(np.float64), wx)


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return np.random.default_rng(0).random((1, 3, 37, 53), dtype=np.float32)


def hwc(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x[0].transpose(1, 2, 0))


@pytest.mark.parametrize("antialias", [False, True])
@pytest.mark.parametrize("size", SIZES)
def test_resize_equals_separable_tent_filter(image, size, antialias) -> None:
    got = run(fg.resize_graph(antialias), image=image, size=np.array(size, np.int64))
    assert got.shape == (1, 3, *size)
    assert np.abs(got - reference_resize(image, size, antialias)).max() < 1e-5


@pytest.mark.parametrize("antialias", [False, True])
@pytest.mark.parametrize("size", [s for s in SIZES if s[0] >= 37 and s[1] >= 53])
def test_growing_equals_opencv_inter_linear(image, size, antialias) -> None:
    got = run(fg.resize_graph(antialias), image=image, size=np.array(size, np.int64))
    want = cv2.resize(hwc(image), size[::-1], interpolation=cv2.INTER_LINEAR)
    assert np.abs(hwc(got) - want).max() < 1e-5


@pytest.mark.parametrize("size", [(26, 38), (19, 27), (30, 40)])
def test_plain_linear_shrink_equals_opencv_and_antialias_equals_torch_inside(image, size) -> None:
    plain = run(fg.resize_graph(False), image=image, size=np.array(size, np.int64))
    assert np.abs(hwc(plain) - cv2.resize(hwc(image), size[::-1], interpolation=cv2.INTER_LINEAR)).max() < 1e-5
    # torch renormalises the tent over the taps inside the image, ORT clamps them to the edge: equal away from it
    got = run(fg.resize_graph(True), image=image, size=np.array(size, np.int64))
    want = torch.nn.functional.interpolate(torch.from_numpy(image), size=size, mode="bilinear", antialias=True,
                                           align_corners=False).numpy()
    m = 2
    assert np.abs(got - want)[..., m:-m, m:-m].max() < 1e-5


@pytest.mark.parametrize("size", [(44, 69), (31, 49), (22, 35)])
def test_antialiased_shrink_is_close_to_inter_area_on_a_smooth_image(size) -> None:
    """The host loop's pyramid filter (box) and the device one (tent) differ a little on a smooth image."""
    smooth = cv2.GaussianBlur(np.random.default_rng(1).random((61, 97, 3)).astype(np.float32), (0, 0), 2)
    x = np.ascontiguousarray(smooth.transpose(2, 0, 1)[None])
    got = hwc(run(fg.resize_graph(True), image=x, size=np.array(size, np.int64)))
    area = cv2.resize(smooth, size[::-1], interpolation=cv2.INTER_AREA)
    assert np.abs(got - area).mean() < 3e-3 and np.abs(got - area).max() < 2e-2
    assert abs(got.mean() - smooth.mean()) < 2e-5


def test_preprocess_uint8_bgr_is_bit_exact_at_its_own_size() -> None:
    frame = np.random.default_rng(2).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    got = run(fg.preprocess_graph("bgr_uint8"), frame=frame, size=np.array((37, 53), np.int64))
    want = np.ascontiguousarray(frame[..., ::-1], dtype=np.float32) * np.float32(1.0 / 255.0)
    assert got.dtype == np.float32 and np.array_equal(hwc(got), want)


@pytest.mark.parametrize("source", fg.FRAME_SOURCES)
@pytest.mark.parametrize("size", [(23, 31), (80, 111), (37, 53)])
def test_preprocess_resizes(source, size) -> None:
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    rgb = np.ascontiguousarray(frame[..., ::-1], dtype=np.float32) * np.float32(1.0 / 255.0)
    given = frame if source == "bgr_uint8" else rgb
    got = run(fg.preprocess_graph(source), frame=given, size=np.array(size, np.int64))
    want = reference_resize(np.ascontiguousarray(rgb.transpose(2, 0, 1)[None]), size, antialias=True)
    assert got.shape == (1, 3, *size) and np.abs(got - want).max() < 1e-5


def test_postprocess_uint8_bgr_matches_to_uint8() -> None:
    x = np.random.default_rng(4).random((1, 3, 37, 53), dtype=np.float32) * 1.2 - 0.1  # some out of range
    same = run(fg.postprocess_graph("bgr_uint8"), image=x, size=np.array((37, 53), np.int64))
    assert same.dtype == np.uint8 and np.array_equal(same, to_uint8(hwc(x)))
    grown = run(fg.postprocess_graph("bgr_uint8"), image=x, size=np.array((80, 101), np.int64))
    want = to_uint8(cv2.resize(hwc(x), (101, 80), interpolation=cv2.INTER_LINEAR))
    diff = np.abs(grown.astype(int) - want)
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3  # float rounding at x.5 boundaries only


def test_postprocess_float_rgb() -> None:
    x = np.random.default_rng(5).random((1, 3, 37, 53), dtype=np.float32)
    got = run(fg.postprocess_graph("rgb_float"), image=x, size=np.array((37, 53), np.int64))
    assert got.dtype == np.float32 and np.array_equal(got, hwc(x))
    got = run(fg.postprocess_graph("rgb_float"), image=x, size=np.array((20, 29), np.int64))
    assert np.abs(got - hwc(reference_resize(x, (20, 29), True))).max() < 1e-5


@pytest.mark.parametrize("small, big", [((26, 38), (37, 53)), ((19, 27), (26, 38)), ((33, 47), (33, 47))])
def test_detail_carry_equals_host_octave_step(small, big) -> None:
    rng = np.random.default_rng(6)
    dreamed, base = (rng.random((1, 3, *small), dtype=np.float32) for _ in range(2))
    next_base = rng.random((1, 3, *big), dtype=np.float32)
    got = run(fg.detail_carry_graph(), dreamed=dreamed, base=base, next_base=next_base)
    # the host loop: detail = dreamed - base; next = next_base + cv2.resize(detail, INTER_LINEAR)
    want = hwc(next_base) + cv2.resize(hwc(dreamed - base), big[::-1], interpolation=cv2.INTER_LINEAR).reshape(*big, 3)
    assert np.abs(hwc(got) - want).max() < 1e-5


def test_blend() -> None:
    rng = np.random.default_rng(7)
    warped, frame = (rng.random((1, 3, 21, 34), dtype=np.float32) for _ in range(2))
    for blend in (0.0, 0.8, 1.0):
        got = run(fg.blend_graph(), warped=warped, frame=frame, blend=np.float32(blend))
        assert np.abs(got - (blend * warped + (1.0 - blend) * frame)).max() < 1e-6


@pytest.mark.parametrize("scale", [0.3, 3.0, 12.0])
def test_warp_equals_opencv_remap_with_reflected_borders(scale) -> None:
    rng = np.random.default_rng(8)
    x = rng.random((1, 3, 29, 41), dtype=np.float32)
    flow = (rng.standard_normal((29, 41, 2)) * scale).astype(np.float32)  # 12 px reaches well past the borders
    got = run(fg.warp_graph(), image=x, flow=flow)
    assert np.abs(hwc(got) - warp(hwc(x), flow)).max() < 1e-5


def test_warp_scales_a_small_flow_up_as_opencv_does() -> None:
    rng = np.random.default_rng(10)
    x = rng.random((1, 3, 36, 64), dtype=np.float32)
    flow = (rng.standard_normal((9, 16, 2)) * 2.0).astype(np.float32)  # in the pixels of a 4x smaller copy
    got = run(fg.warp_graph(), image=x, flow=flow)
    assert np.abs(hwc(got) - warp(hwc(x), flow)).max() < 1e-4


def test_zero_flow_is_identity() -> None:
    x = np.random.default_rng(9).random((1, 3, 15, 22), dtype=np.float32)
    # sample positions go through normalised [-1, 1] coordinates and back: float32 rounding, no more
    assert np.abs(run(fg.warp_graph(), image=x, flow=np.zeros((15, 22, 2), np.float32)) - x).max() < 1e-5


def test_graphs_declare_opset_18_and_dynamic_sizes() -> None:
    for proto in (fg.resize_graph(), fg.preprocess_graph(), fg.postprocess_graph(), fg.detail_carry_graph(),
                  fg.blend_graph(), fg.warp_graph(), fg.copy_graph()):
        assert proto.opset_import[0].version == fg.FRAME_OPSET
        first = proto.graph.input[0].type.tensor_type.shape.dim
        spatial = first[:2] if proto.graph.input[0].name in ("frame", "flow") else first[2:]
        assert all(d.dim_param and not d.dim_value for d in spatial), proto.graph.name


@pytest.mark.parametrize("build", [fg.preprocess_graph, fg.postprocess_graph])
def test_unknown_layout_is_a_typed_error(build) -> None:
    with pytest.raises(VisError, match="rgb_float"):
        build("rgba")
