"""Gradient rules where random inputs never reach the case: exact ties (GlobalMaxPool, Max/Min), BatchNormalization
that the exporter does not fold into a Conv, Gemm's C input, ReduceL2/ReduceSumSquare, MatMul's batch broadcast at
equal rank, and Conv's own asymmetric pads. Each case was written against a hand-made mutation of its rule that the
other tests let through."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from onnx import helper
from _vis_gradcheck import TOL, Lambda, check_graph, check_module

T = torch.nn


@pytest.mark.parametrize("variant", ["fast", "tensorrt_safe"])
def test_conv_stride1_asymmetric_pads_in_the_conv_node(variant):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((5, 3, 3, 3)).astype(np.float32)
    node = helper.make_node("Conv", ["image", "w"], ["y"], kernel_shape=[3, 3], pads=[1, 0, 2, 1])
    wt = torch.from_numpy(w).double()
    ref = lambda x: F.conv2d(F.pad(x, (0, 1, 1, 2)), wt)  # noqa: E731  (left, right, top, bottom)
    assert check_graph([node], (2, 3, 7, 6), "y", ref, initializers=[("w", w)], variant=variant) < TOL


def test_global_maxpool_ties_share_the_gradient():
    x = np.round(np.random.default_rng(1).standard_normal((2, 3, 5, 4)) * 1.5).astype(np.float32)
    x[..., 0, 0] = x[..., 3, 2] = 9.0  # every channel's maximum is a tie
    node = helper.make_node("GlobalMaxPool", ["image"], ["y"])
    assert check_graph([node], x.shape, "y", lambda t: t.amax(dim=(2, 3), keepdim=True), x=x) < TOL


def test_max_min_ties_split_evenly():
    x = np.round(np.random.default_rng(2).standard_normal((2, 3, 5, 4))).astype(np.float32)  # many exact zeros
    nodes = [helper.make_node("Max", ["image", "zero"], ["a"]), helper.make_node("Min", ["image", "zero"], ["b"]),
             helper.make_node("Add", ["a", "b"], ["y"])]  # (Sub would cancel the two halves at a tie)
    z = torch.zeros((), dtype=torch.float64)
    ref = lambda t: torch.maximum(t, z) + torch.minimum(t, z)  # noqa: E731
    assert check_graph(nodes, x.shape, "y", ref, x=x, initializers=[("zero", np.zeros((), np.float32))]) < TOL


def test_batchnorm_with_small_running_variance():
    torch.manual_seed(0)
    bn = T.BatchNorm2d(4)
    with torch.no_grad():
        bn.running_var.uniform_(1e-5, 1e-4)  # near-dead channels: eps is most of the denominator
        bn.running_mean.uniform_(-1, 1)
    # first on the image: after a Conv, torch's exporter folds the BatchNorm into it and the rule is never used
    assert check_module(bn, (2, 4, 6, 5)) < TOL


def test_gemm_bias_depends_on_the_image():
    rng = np.random.default_rng(3)
    b = rng.standard_normal((4, 5)).astype(np.float32)
    nodes = [helper.make_node("Reshape", ["image", "shp"], ["a"]),
             helper.make_node("ReduceSum", ["a", "ax"], ["c"], keepdims=1),
             helper.make_node("Gemm", ["a", "b", "c"], ["y"], alpha=0.7, beta=1.3)]
    bt = torch.from_numpy(b).double()
    ref = lambda x: 0.7 * x.reshape(3, 4) @ bt + 1.3 * x.reshape(3, 4).sum(1, keepdim=True)  # noqa: E731
    inits = [("b", b), ("shp", np.array([3, 4], np.int64)), ("ax", np.array([1], np.int64))]
    assert check_graph(nodes, (1, 3, 2, 2), "y", ref, initializers=inits) < TOL


@pytest.mark.parametrize("keepdims", [0, 1])
def test_reduce_l2_and_sum_square(keepdims):
    nodes = [helper.make_node("ReduceL2", ["image"], ["l2"], axes=[2, 3], keepdims=keepdims),
             helper.make_node("ReduceSumSquare", ["image"], ["ss"], axes=[1], keepdims=keepdims),
             helper.make_node("ReduceSum", ["ss"], ["s"], keepdims=0), helper.make_node("Add", ["l2", "s"], ["y"])]
    ref = lambda x: (torch.linalg.vector_norm(x, dim=(2, 3), keepdim=bool(keepdims))  # noqa: E731
                     + (x * x).sum(1, keepdim=bool(keepdims)).sum())
    assert check_graph(nodes, (2, 3, 4, 5), "y", ref) < TOL


def test_matmul_batch_broadcast_of_an_image_dependent_operand():
    fn = lambda m, x: m.conv(x).mean(1, keepdim=True) @ m.conv(x).transpose(2, 3)  # noqa: E731
    torch.manual_seed(1)
    assert check_module(Lambda(fn), (2, 3, 6, 5)) < TOL
