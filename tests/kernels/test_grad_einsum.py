"""Einsum gradient vs torch autograd: contractions, transposes, sums, implicit outputs, ellipses (broadcast too),
the image on either side, twice, and refusals of what the rule does not cover."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _vis_gradcheck import TOL, check_graph, check_module
from onnx import helper

from vis.exporters._autodiff import UnsupportedOperatorError

CASES = [
    # (equation, operands: "x" the image, "w" a weight, image shape, weight shape, what it is)
    ("bchw,cd->bdhw", "xw", (2, 3, 4, 5), (3, 6), "a 1x1 convolution"),
    ("ij,bcjk->bcik", "wx", (2, 3, 5, 4), (6, 5), "the image second"),
    ("bchw->bc", "x", (2, 3, 4, 5), None, "a sum over the map: the gradient spreads back"),
    ("bchw->bhwc", "x", (2, 3, 4, 5), None, "a transpose"),
    ("bchw,cd", "xw", (2, 3, 4, 5), (3, 6), "implicit output (bdhw)"),
    ("bchw,bchw->bhw", "xx", (2, 3, 4, 5), None, "the image twice"),
    ("...hw,wv->...hv", "xw", (2, 3, 4, 5), (5, 6), "a leading ellipsis"),
    ("...hw,...wv->...hv", "xw", (1, 3, 4, 5), (2, 3, 5, 6), "an ellipsis broadcast from 1: summed back"),
    ("bqhd,bkhd->bhqk", "xw", (2, 4, 3, 5), (2, 6, 3, 5), "attention scores (Keras MultiHeadAttention)"),
]


@pytest.mark.parametrize("equation,operands,shape,weight_shape,what", CASES, ids=[c[4] for c in CASES])
@pytest.mark.parametrize("static", [False, True], ids=["runtime-size", "static-size"])
def test_einsum(equation: str, operands: str, shape: tuple, weight_shape, what: str, static: bool) -> None:
    w = np.random.default_rng(0).standard_normal(weight_shape or ()).astype(np.float32)
    names = {"x": "image", "w": "w"}
    node = helper.make_node("Einsum", [names[o] for o in operands], ["y"], equation=equation)

    def ref(x: torch.Tensor) -> torch.Tensor:
        values = {"x": x, "w": torch.from_numpy(w).double()}
        return torch.einsum(equation, *(values[o] for o in operands))

    initializers = [("w", w)] if "w" in operands else []
    assert check_graph([node], shape, "y", ref, initializers=initializers, static=static) < TOL


@pytest.mark.parametrize("equation,words", [
    ("bii->bi", "an index repeated in one term"),
    ("b...i->bi", "an ellipsis after an index"),
    ("...i->i", "summing the dims of an ellipsis"),
])
def test_what_the_rule_does_not_cover_is_refused_with_the_reason(equation: str, words: str) -> None:
    node = helper.make_node("Einsum", ["image"], ["y"], equation=equation)
    with pytest.raises(UnsupportedOperatorError, match=words):
        check_graph([node], (2, 3, 3), "y", lambda x: torch.einsum(equation, x))


class _EinsumAttention(torch.nn.Module):
    """Self-attention over a map's positions written with torch.einsum, as torch exports it (Einsum nodes)."""

    def __init__(self, channels: int = 4, heads: int = 2) -> None:
        super().__init__()
        self.qkv = torch.nn.Parameter(torch.randn(3, heads, channels, channels) * 0.5)
        self.heads = heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = x.flatten(2)  # b, c, n
        q, k, v = (torch.einsum("bcn,hcd->bhnd", tokens, w) for w in self.qkv)
        weights = torch.softmax(torch.einsum("bhnd,bhmd->bhnm", q, k), dim=-1)
        mixed = torch.einsum("bhnm,bhmd->bdn", weights, v)
        return mixed.reshape(x.shape)


def test_einsum_attention_exported_by_torch() -> None:
    torch.manual_seed(0)
    assert check_module(_EinsumAttention(), (2, 4, 3, 5), run_shapes=[(1, 4, 4, 6)]) < TOL
