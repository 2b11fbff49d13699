"""Pooling gradients vs torch: MaxPool in both variants (overlapping windows, ceil_mode, pads, ties),
AveragePool (count_include_pad both ways, ceil_mode), GlobalAveragePool, adaptive pooling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _vis_gradcheck import TOL, check_module

T = torch.nn
VARIANTS = ["fast", "tensorrt_safe"]

MAXPOOL = [
    # (kernel, stride, padding, dilation, ceil_mode, shape)
    (2, 2, 0, 1, False, (2, 3, 8, 10)),
    (3, 2, 0, 1, True, (2, 3, 13, 12)),  # GoogLeNet style
    (3, 2, 1, 1, False, (1, 4, 11, 9)),
    (3, 2, 1, 1, True, (1, 4, 10, 13)),
    (3, 1, 1, 1, True, (1, 2, 9, 8)),  # GoogLeNet branch pool
    (2, 2, 0, 1, True, (1, 3, 9, 11)),
    ((3, 2), (2, 1), (1, 0), 1, False, (1, 2, 9, 8)),
    (3, 2, 0, 2, False, (1, 2, 13, 11)),  # dilation
    (5, 3, 2, 1, True, (1, 2, 16, 17)),
    (2, 3, 0, 1, False, (1, 2, 11, 10)),  # kernel < stride: a phase no window reaches
    (1, 2, 0, 1, False, (1, 2, 7, 8)),
    ((2, 3), (3, 2), (1, 1), 1, True, (1, 2, 10, 11)),
    ((3, 1), (2, 1), (1, 0), 1, False, (1, 2, 9, 6)),  # stride 1 along one axis only
    # stride 1: the fast variant's index-free separable rule
    (3, 1, 0, 1, False, (1, 3, 7, 9)),
    (2, 1, 0, 1, False, (1, 2, 6, 5)),
    (2, 1, 1, 1, False, (1, 2, 6, 5)),
    ((3, 5), 1, (1, 2), 1, False, (1, 2, 8, 11)),
    ((1, 3), 1, (0, 1), 1, False, (1, 2, 6, 7)),
    ((4, 1), 1, (2, 0), 1, False, (1, 2, 9, 5)),
    (5, 1, 2, 1, False, (2, 3, 9, 10)),
]


def _ties(shape: tuple[int, ...]) -> np.ndarray:
    """Plateaus and a zero region: many windows with tied maxima (like ReLU outputs)."""
    rng = np.random.default_rng(5)
    x = np.round(rng.standard_normal(shape) * 1.5).astype(np.float32)
    x[..., : shape[-2] // 2, : shape[-1] // 2] = 0.0
    return x


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("case", MAXPOOL, ids=[f"m{i}" for i in range(len(MAXPOOL))])
@pytest.mark.parametrize("ties", [False, True], ids=["random", "ties"])
def test_maxpool(case: tuple, variant: str, ties: bool) -> None:
    k, s, p, d, ceil, shape = case
    pool = T.MaxPool2d(k, s, padding=p, dilation=d, ceil_mode=ceil)
    x = _ties(shape) if ties else None
    assert check_module(pool, shape, variant=variant, x=x) < TOL


@pytest.mark.parametrize("variant", VARIANTS)
def test_maxpool_stride1_dynamic_sizes(variant: str) -> None:
    pool = T.Sequential(T.Conv2d(3, 4, 3, padding=1), T.ReLU(), T.MaxPool2d(3, 1, padding=1, ceil_mode=True))
    torch.manual_seed(0)
    assert check_module(pool, (1, 3, 16, 16), variant=variant, run_shapes=[(1, 3, 37, 53), (2, 3, 20, 9)]) < TOL


@pytest.mark.parametrize("variant", VARIANTS)
def test_maxpool_dynamic_sizes(variant: str) -> None:
    pool = T.Sequential(T.Conv2d(3, 4, 3, padding=1), T.ReLU(), T.MaxPool2d(3, 2, ceil_mode=True))
    torch.manual_seed(0)
    assert check_module(pool, (1, 3, 16, 16), variant=variant, run_shapes=[(1, 3, 37, 53), (2, 3, 20, 9)]) < TOL


AVGPOOL = [
    # (kernel, stride, padding, ceil_mode, count_include_pad, shape)
    (2, 2, 0, False, True, (2, 3, 8, 10)),
    (3, 2, 1, False, True, (1, 3, 11, 10)),
    (3, 2, 1, False, False, (1, 3, 11, 10)),
    (3, 2, 1, True, True, (1, 3, 10, 12)),
    (3, 2, 1, True, False, (1, 3, 10, 12)),
    (3, 2, 0, True, True, (1, 2, 12, 9)),
    (3, 1, 1, False, False, (1, 2, 7, 8)),
    ((3, 2), (2, 1), (1, 0), True, False, (1, 2, 10, 9)),
]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("case", AVGPOOL, ids=[f"a{i}" for i in range(len(AVGPOOL))])
def test_avgpool(case: tuple, variant: str) -> None:
    k, s, p, ceil, incl, shape = case
    pool = T.AvgPool2d(k, s, padding=p, ceil_mode=ceil, count_include_pad=incl)
    assert check_module(pool, shape, variant=variant, dynamic=False) < TOL
    assert check_module(pool, shape, variant=variant, run_shapes=[(1, shape[1], 13, 17)]) < TOL


@pytest.mark.parametrize("out", [1, (1, 1)])
def test_adaptive_global_avgpool(out: int | tuple[int, int]) -> None:
    assert check_module(T.AdaptiveAvgPool2d(out), (2, 3, 7, 9), run_shapes=[(1, 3, 5, 4)]) < TOL


def test_adaptive_avgpool_static() -> None:
    # VGG's AdaptiveAvgPool2d((7, 7)) at a divisible static size exports as AveragePool.
    assert check_module(T.AdaptiveAvgPool2d((7, 7)), (1, 4, 14, 14), dynamic=False) < TOL


def test_global_maxpool() -> None:
    assert check_module(T.AdaptiveMaxPool2d(1), (2, 3, 7, 9)) < TOL
