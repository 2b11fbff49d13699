"""Data-movement gradients vs torch: Reshape/Flatten/Squeeze/Unsqueeze/Transpose, Concat, Split, Slice, Pad,
Gather."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _vis_gradcheck import TOL, Lambda, check_graph, check_module
from onnx import helper

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
T = torch.nn
F = torch.nn.functional



CASES = {
    "flatten": lambda m, x: torch.flatten(m.conv(x), 1) * 2,
    "reshape": lambda m, x: m.conv(x).reshape(x.shape[0], 3, -1).tanh(),
    "squeeze_unsqueeze": lambda m, x: m.conv(x).mean(dim=(2, 3), keepdim=True).squeeze(3).unsqueeze(0),
    "transpose": lambda m, x: m.conv(x).permute(0, 2, 3, 1).tanh(),
    "concat": lambda m, x: torch.cat([m.conv(x), x, torch.tanh(m.conv(x))], 1),
    "concat_axis3": lambda m, x: torch.cat([m.conv(x), m.conv(x)[:, :, :, :2]], 3),
    "split": lambda m, x: torch.split(m.conv(x), [2, 4], dim=1)[1] * 3,
    "split_both": lambda m, x: torch.tanh(torch.chunk(m.conv(x), 3, 1)[0]) + torch.chunk(m.conv(x), 3, 1)[2],
    "slice": lambda m, x: m.conv(x)[:, 1:4, 1:-1, 2:],
    "slice_neg": lambda m, x: m.conv(x)[:, -3:, :-2],
    "pad": lambda m, x: F.pad(m.conv(x), (1, 2, 0, 3)),
    "pad_crop": lambda m, x: F.pad(m.conv(x), (-1, 2, 1, -2)),
    "gather_scalar": lambda m, x: m.conv(x)[:, 2] * 2.0 + m.conv(x)[:, 0],
    "gather_index": lambda m, x: m.conv(x)[:, [0, 2, 2, 5]],
    "transform_input": lambda m, x: torch.cat(
        [torch.unsqueeze(x[:, i], 1) * s + b for i, (s, b) in enumerate([(0.5, 0.1), (0.4, -0.2), (0.3, 0.3)])], 1),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_shape_ops(name: str) -> None:
    torch.manual_seed(0)
    assert check_module(Lambda(CASES[name], channels=6), (2, 3, 7, 6)) < TOL


@pytest.mark.parametrize("name", ["concat", "split_both", "slice_neg", "pad", "gather_index", "flatten"])
def test_shape_ops_dynamic(name: str) -> None:
    torch.manual_seed(0)
    assert check_module(Lambda(CASES[name], channels=6), (1, 3, 7, 6), run_shapes=[(2, 3, 11, 9)]) < TOL


def test_split_handmade_with_unused_output() -> None:
    nodes = [
        helper.make_node("Split", ["image", "sizes"], ["a", "b", "c"], axis=2),
        helper.make_node("Concat", ["c", "a"], ["y"], axis=2),
    ]
    inits = [("sizes", np.array([1, 2, 3], dtype=np.int64))]
    ref = lambda x: torch.cat([x[:, :, 3:], x[:, :, :1]], 2)  # noqa: E731
    assert check_graph(nodes, (1, 2, 6, 3), "y", ref, initializers=inits) < TOL


def test_slice_steps_are_reported() -> None:
    from vis.exporters._autodiff import UnsupportedOperatorError

    nodes = [helper.make_node("Slice", ["image", "s", "e", "a", "st"], ["y"])]
    inits = [(n, np.array(v, dtype=np.int64)) for n, v in (("s", [0]), ("e", [6]), ("a", [2]), ("st", [2]))]
    with pytest.raises(UnsupportedOperatorError, match="steps"):
        check_graph(nodes, (1, 2, 6, 3), "y", lambda x: x[:, :, ::2], initializers=inits)
