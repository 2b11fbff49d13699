"""The dream loop's recipe with stand-in backends: the detail an octave adds is carried up exactly, and a video frame
starts from the previous dream warped along the optical flow and blended with the new frame."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vis.engine._dream import DreamConfig, VideoDreamConfig, dream, dream_frames
from vis.engine._flow import FlowTracker, warp


class AddConstant:
    """Every step adds 0.05 to every pixel (no jitter dependence)."""

    def step(self, x, shift, step_size):
        return x + np.float32(0.05), 0.0


@pytest.mark.parametrize("octaves", [1, 2, 3])
def test_octaves_carry_exactly_the_added_detail(octaves):
    image = np.full((64, 80, 3), 0.3, np.float32)
    out = dream(AddConstant(), image, DreamConfig(octaves=octaves, iterations=2, min_size=16), rng=0)
    # each octave's 2 steps add 0.1; the detail (dreamed - base) is carried up to the next octave
    np.testing.assert_allclose(out, 0.3 + 0.1 * octaves, atol=1e-5)


class Unchanged:
    def step(self, x, shift, step_size):
        return x, 0.0


def _texture(h, w, seed=0):
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.random((h, w, 3)).astype(np.float32), (0, 0), 3)
    return (img - img.min()) / np.ptp(img)


def test_host_video_start_is_the_previous_dream_warped_along_the_flow():
    wide = _texture(72, 96 + 12)
    frames = [np.ascontiguousarray(wide[:, 4 * i: 4 * i + 96]) for i in range(2)]  # panning 4 px per frame
    video = VideoDreamConfig(blend=0.8, iterations_per_frame=0, octaves_per_frame=1, flow="dis", flow_size=None)
    out = list(dream_frames(Unchanged(), frames, DreamConfig(octaves=1, iterations=0), video, rng=0))
    track = FlowTracker("dis", None)
    track(frames[0], (72, 96))
    flow = track(frames[1], (72, 96))
    want = 0.8 * warp(out[0], flow) + 0.2 * frames[1]
    np.testing.assert_allclose(out[1], want, atol=1e-5)
    inner = (slice(8, -8), slice(8, -8))
    assert np.abs(out[1] - frames[1])[inner].mean() < 0.3 * np.abs(frames[0] - frames[1])[inner].mean()
