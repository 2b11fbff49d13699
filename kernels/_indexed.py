"""Gradient rules of the N-D indexed reads and writes: GatherND (TensorFlow's gather_nd) and ScatterND (torch's
slice assignment, ``x[:, 0] = v``).

GatherND's gradient scatters the output gradient back, adding where indices repeat: a ScatterND with
``reduction="add"`` (opset 16), so the TensorRT variant, which avoids scatter reductions, refuses it. ScatterND's
gradient reads the written places of the output gradient for the updates, and zeroes them for the data.
"""

from __future__ import annotations

from collections.abc import Sequence

import onnx

from vis.kernels._emitter import Emitter, attr
from vis.kernels._registry import register_rule

Grads = Sequence["str | None"]


@register_rule("GatherND", variants=("fast",))
def _gather_nd(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    x, idx = node.input
    if int(attr(node, "batch_dims", 0)):
        raise NotImplementedError("GatherND with batch_dims")
    if ctx.opset < 16:  # ScatterND's reduction="add" came with opset 16
        raise NotImplementedError("GatherND below opset 16 (its gradient adds with ScatterND's reduction)")
    return [ctx.op("ScatterND", [ctx.zeros_like(x), idx, grads[0]], reduction="add"), None]  # type: ignore[list-item]


@register_rule("GatherND", variants=("tensorrt_safe",))
def _gather_nd_refused(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    raise NotImplementedError("GatherND for TensorRT (its gradient is a scatter reduction)")


@register_rule("ScatterND")
def _scatter_nd(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    data, idx, updates = node.input
    reduction = attr(node, "reduction", "none")
    if reduction not in ("none", "add"):
        raise NotImplementedError(f"ScatterND with reduction={reduction}")
    g = grads[0]
    out: list[str | None] = [None, None, None]
    if needs[0]:  # written places were replaced (none) or added to (add)
        out[0] = g if reduction == "add" else ctx.op("ScatterND", [g, idx, ctx.zeros_like(updates)])  # type: ignore[assignment]
    if needs[2]:
        out[2] = ctx.op("GatherND", [g, idx])  # type: ignore[assignment]
    return out
