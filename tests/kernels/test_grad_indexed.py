"""GatherND and ScatterND gradients vs torch autograd (advanced indexing and index_put), repeated indices included,
and the TensorRT variant's refusal."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _vis_gradcheck import TOL, check_graph
from onnx import helper

from vis.exporters._autodiff import UnsupportedOperatorError

SHAPE = (2, 3, 4, 5)
# (indices, what): the last axis of the indices names leading dims of the data
GATHERS = [
    (np.array([[0, 1], [1, 2], [0, 1]]), "(image, channel) pairs, one twice: the gradients add"),
    (np.array([[[1, 0, 3], [0, 2, 1]]]), "single rows, indices of rank 3"),
    (np.array([[1, -1, 0, -2]]), "single elements, negative indices"),
]


def _torch_gather_nd(x: torch.Tensor, idx: np.ndarray) -> torch.Tensor:
    k = idx.shape[-1]
    flat = idx.reshape(-1, k)
    picked = torch.stack([x[tuple(int(i) for i in row)] for row in flat])
    return picked.reshape(*idx.shape[:-1], *x.shape[k:])


@pytest.mark.parametrize("idx,what", GATHERS, ids=[w for _, w in GATHERS])
@pytest.mark.parametrize("static", [False, True], ids=["runtime-size", "static-size"])
def test_gather_nd(idx: np.ndarray, what: str, static: bool) -> None:
    node = helper.make_node("GatherND", ["image", "idx"], ["y"])
    assert check_graph([node], SHAPE, "y", lambda x: _torch_gather_nd(x, idx), static=static,
                       initializers=[("idx", idx.astype(np.int64))]) < TOL


def test_gather_nd_is_refused_where_its_scatter_is_not_to_be_had() -> None:
    node = helper.make_node("GatherND", ["image", "idx"], ["y"])
    idx = [("idx", GATHERS[0][0].astype(np.int64))]
    with pytest.raises(UnsupportedOperatorError, match="GatherND for TensorRT"):
        check_graph([node], SHAPE, "y", lambda x: x, initializers=idx, variant="tensorrt_safe")
    with pytest.raises(UnsupportedOperatorError, match="GatherND below opset 16"):
        check_graph([node], SHAPE, "y", lambda x: x, initializers=idx, opset=13)


IDX = np.array([[0, 2], [1, 0]])  # writes image 0 channel 2 and image 1 channel 0


def _written(x: torch.Tensor, updates: torch.Tensor, add: bool) -> torch.Tensor:
    y = x.clone()
    for row, u in zip(IDX, updates):
        y[tuple(row)] = y[tuple(row)] + u if add else u
    return y


@pytest.mark.parametrize("reduction", ["none", "add"])
@pytest.mark.parametrize("static", [False, True], ids=["runtime-size", "static-size"])
def test_scatter_nd_data(reduction: str, static: bool) -> None:
    """The image is the data: zero gradient where it was overwritten, unchanged where added to."""
    updates = np.random.default_rng(1).standard_normal((2, 4, 5)).astype(np.float32)
    node = helper.make_node("ScatterND", ["image", "idx", "u"], ["y"], reduction=reduction)
    u = torch.from_numpy(updates).double()
    assert check_graph([node], SHAPE, "y", lambda x: _written(x, u, reduction == "add"), static=static,
                       initializers=[("idx", IDX.astype(np.int64)), ("u", updates)], opset=18) < TOL


@pytest.mark.parametrize("reduction", ["none", "add"])
def test_scatter_nd_updates(reduction: str) -> None:
    """The image is the updates, written into a constant tensor."""
    data = np.random.default_rng(2).standard_normal(SHAPE).astype(np.float32)
    node = helper.make_node("ScatterND", ["d", "idx", "image"], ["y"], reduction=reduction)
    d = torch.from_numpy(data).double()
    assert check_graph([node], (2, 4, 5), "y", lambda x: _written(d, x, reduction == "add"),
                       initializers=[("idx", IDX.astype(np.int64)), ("d", data)], opset=18) < TOL


def test_scatter_nd_multiply_is_refused() -> None:
    node = helper.make_node("ScatterND", ["image", "idx", "u"], ["y"], reduction="mul")
    inits = [("idx", IDX.astype(np.int64)), ("u", np.ones((2, 4, 5), np.float32))]
    with pytest.raises(UnsupportedOperatorError, match="ScatterND with reduction=mul"):
        check_graph([node], SHAPE, "y", lambda x: x, initializers=inits, opset=18)


class _SliceAssignment(torch.nn.Module):
    """``y[:, 1] = 2 * x[:, 0]``: torch exports the assignment as ScatterND, the image on both of its sides."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.tanh(x) * 1.0  # a copy: tanh's backward reads its own output
        y[:, 1] = 2.0 * x[:, 0]
        return y


def test_a_torch_slice_assignment() -> None:
    from _vis_gradcheck import check_module, export

    ops = {n.op_type for n in export(_SliceAssignment().eval(), torch.randn(*SHAPE), dynamic=True).graph.node}
    assert "ScatterND" in ops
    assert check_module(_SliceAssignment(), SHAPE, run_shapes=[(1, 3, 6, 2)]) < TOL
