"""The pads a Conv or pooling node applies, also under ``auto_pad`` (tf2onnx writes ``SAME_UPPER`` where TensorFlow's
``padding="SAME"`` met an input of unknown size).

SAME pads so that ``out = ceil(in / stride)``: ``total = max(0, (out - 1) * stride + k_eff - in)``, split with the odd
pixel at the end (``SAME_UPPER``) or at the start (``SAME_LOWER``), as ONNX Runtime does. At stride 1 the total is
``k_eff - 1`` whatever the size; at other strides it depends on the size, which may only be known at run time.
"""

from __future__ import annotations

from collections.abc import Sequence

import onnx

from vis.kernels._emitter import Dim, Emitter, attr

SAME_MODES = ("SAME_UPPER", "SAME_LOWER")


def explicit_pads(node: onnx.NodeProto, n: int) -> tuple[list[int], list[int]]:
    """``(begin, end)`` pads of a node over ``n`` spatial axes whose ``auto_pad`` is NOTSET or VALID."""
    if attr(node, "auto_pad", "NOTSET") == "VALID":
        return [0] * n, [0] * n
    pads = list(attr(node, "pads", [0] * (2 * n)))
    return pads[:n], pads[n:]


def static_pads(node: onnx.NodeProto, spatial: Sequence[Dim], k_eff: Sequence[int],
                strides: Sequence[int]) -> tuple[list[int], list[int]] | None:
    """``(begin, end)`` pads of ``node`` on an input of spatial dims ``spatial``, or None when they are SAME pads
    that depend on a size not known before run time."""
    auto_pad = attr(node, "auto_pad", "NOTSET")
    if auto_pad not in SAME_MODES:
        return explicit_pads(node, len(k_eff))
    totals = []
    for size, k, s in zip(spatial, k_eff, strides):
        if s == 1:
            totals.append(k - 1)
        elif isinstance(size, int):
            totals.append(max(0, (-(-size // s) - 1) * s + k - size))
        else:
            return None
    small = [t // 2 for t in totals]
    large = [t - h for t, h in zip(totals, small)]
    return (small, large) if auto_pad == "SAME_UPPER" else (large, small)


def runtime_same_pads(ctx: Emitter, node: onnx.NodeProto, x: str, k_eff: Sequence[int],
                      strides: Sequence[int]) -> tuple[str, str]:
    """The ``(begin, end)`` pads of a SAME ``node`` on ``x`` computed while the graph runs (1-D int64 tensors, one
    entry per spatial axis)."""
    n = len(k_eff)
    size = ctx.dims(x, 2, 2 + n)
    s = ctx.ints(strides)
    out = ctx.op("Div", [ctx.op("Add", [size, ctx.ints([v - 1 for v in strides])]), s])  # ceil(in / s)
    span = ctx.op("Add", [ctx.op("Mul", [ctx.op("Sub", [out, ctx.ints([1] * n)]), s]), ctx.ints(k_eff)])
    total = ctx.op("Max", [ctx.op("Sub", [span, size]), ctx.ints([0] * n)])
    rounded_up = ctx.op("Add", [total, ctx.ints([1] * n)]) if attr(node, "auto_pad") == "SAME_LOWER" else total
    begin = ctx.op("Div", [rounded_up, ctx.ints([2] * n)])  # the odd pixel at the end (UPPER) or start (LOWER)
    return begin, ctx.op("Sub", [total, begin])  # type: ignore[return-value]
