"""Optical flow on small grey copies, the tracker that keeps the previous one, and the warp that scales the field."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vis.engine._dream import fitted_size
from vis.engine._flow import FlowTracker, grey, scale_flow, warp


def texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth float32 RGB texture in [0, 1], wider and taller than any crop taken from it below."""
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.random((h + 40, w + 40, 3)).astype(np.float32), (0, 0), 3)
    return (img - img.min()) / np.ptp(img)


def crop(img: np.ndarray, dx: int, dy: int, h: int, w: int) -> np.ndarray:
    return np.ascontiguousarray(img[20 + dy:20 + dy + h, 20 + dx:20 + dx + w])


def bgr_uint8(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray((rgb[..., ::-1] * 255.0 + 0.5).astype(np.uint8))


INNER = (slice(12, -12), slice(12, -12))


def flow_at_frame_size(current: np.ndarray, previous: np.ndarray, method: str, max_side: int | None = None) -> np.ndarray:
    """The tracker's field from ``current`` to ``previous``, scaled to the frames' own size."""
    size = current.shape[:2]
    track = FlowTracker(method, max_side)
    track(previous, size)
    return scale_flow(track(current, size), size)


def test_grey_of_a_bgr_frame_equals_grey_of_its_float_rgb() -> None:
    rgb = crop(texture(60, 80), 0, 0, 60, 80)
    frame = bgr_uint8(rgb)
    back = frame[..., ::-1].astype(np.float32) / 255.0
    for size in (None, (30, 40), (17, 23)):
        a, b = grey(frame, size), grey(back, size)
        assert a.dtype == b.dtype == np.uint8 and a.shape == (size or (60, 80))
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


@pytest.mark.parametrize("method", ["farneback", "dis"])
def test_flow_finds_a_known_shift(method) -> None:
    img = texture(72, 96)
    prev, cur = crop(img, 0, 0, 72, 96), crop(img, 3, 2, 72, 96)  # the content moves 3 px left and 2 up
    flow = flow_at_frame_size(cur, prev, method)  # cur[y, x] = prev[y + 2, x + 3]
    assert np.median(flow[INNER][..., 0]) == pytest.approx(3.0, abs=0.3)
    assert np.median(flow[INNER][..., 1]) == pytest.approx(2.0, abs=0.3)
    moved = warp(prev, flow)
    assert np.abs(moved - cur)[INNER].mean() < 0.3 * np.abs(prev - cur)[INNER].mean()


@pytest.mark.parametrize("method", ["farneback", "dis"])
def test_flow_at_a_smaller_size_is_scaled_back_to_the_frame(method) -> None:
    img = texture(72, 96)
    prev, cur = crop(img, 0, 0, 72, 96), crop(img, 4, 0, 72, 96)
    full = flow_at_frame_size(cur, prev, method)
    half = flow_at_frame_size(cur, prev, method, max_side=48)
    assert half.shape == full.shape
    # the same motion in frame pixels, not in the small copy's
    assert np.median(half[INNER][..., 0]) == pytest.approx(np.median(full[INNER][..., 0]), abs=0.6)
    assert np.abs(warp(prev, half) - cur)[INNER].mean() < 0.4 * np.abs(prev - cur)[INNER].mean()
    assert flow_at_frame_size(cur, prev, method, max_side=10_000).tolist() == full.tolist()  # no shrinking when it fits


def test_tracker_gives_the_small_field_that_warp_scales() -> None:
    img = texture(90, 160)
    frames = [bgr_uint8(crop(img, 2 * i, 0, 90, 160)) for i in range(3)]
    track = FlowTracker("dis", max_side=80)
    assert track(frames[0], (90, 160)) is None  # nothing before the first frame
    small = track(frames[1], (90, 160))
    assert small.shape == (45, 80, 2)
    # the content moves 2 px left per frame: 1 px in the half-size copy
    assert np.median(small[6:-6, 6:-6, 0]) == pytest.approx(1.0, abs=0.25)
    # DIS on the two frames' half-size grey copies, scaled by warp as by scale_flow
    half = fitted_size((90, 160), 80)
    direct = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(grey(frames[1], half), grey(frames[0], half), None)
    assert np.abs(small - direct).max() < 1e-5
    prev = frames[0][..., ::-1].astype(np.float32) / 255.0
    assert np.array_equal(warp(prev, small), warp(prev, scale_flow(small, (90, 160))))
    # the tracker keeps the grey copy of the frame before; a copy of another size starts over
    assert track(frames[2], (90, 160)) is not None
    assert track(frames[2], (40, 72)) is None


def test_tracker_at_the_dream_size_of_a_larger_frame() -> None:
    img = texture(90, 160)
    frames = [bgr_uint8(crop(img, 4 * i, 0, 90, 160)) for i in range(2)]
    track = FlowTracker("dis", max_side=None)
    track(frames[0], (45, 80))
    flow = track(frames[1], (45, 80))
    assert flow.shape == (45, 80, 2)  # the dream's size, in its pixels: 2 px per frame
    assert np.median(flow[6:-6, 6:-6, 0]) == pytest.approx(2.0, abs=0.3)


def test_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError, match="dis, farneback"):
        FlowTracker("lucas")
