"""Gradient rules of Softmax and LogSoftmax (opset 13 semantics: one axis)."""

from __future__ import annotations

from collections.abc import Sequence

import onnx

from vis.kernels._emitter import Emitter, attr
from vis.kernels._registry import register_rule

Grads = Sequence["str | None"]


def _axis(ctx: Emitter, node: onnx.NodeProto) -> int:
    if ctx.opset < 13:
        raise NotImplementedError(f"{node.op_type} before opset 13 (flattening semantics)")
    return int(attr(node, "axis", -1))


@register_rule("Softmax")
def _softmax(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    # dx = y * (g - sum(g * y, axis))
    y, g = node.output[0], grads[0]
    axis = _axis(ctx, node)
    dot = ctx.reduce("ReduceSum", ctx.op("Mul", [g, y]), [axis], keepdims=1)  # type: ignore[arg-type]
    return [ctx.op("Mul", [y, ctx.op("Sub", [g, dot])])]  # type: ignore[list-item]


@register_rule("LogSoftmax")
def _log_softmax(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    # dx = g - exp(y) * sum(g, axis)
    y, g = node.output[0], grads[0]
    axis = _axis(ctx, node)
    total = ctx.reduce("ReduceSum", g, [axis], keepdims=1)  # type: ignore[arg-type]
    return [ctx.op("Sub", [g, ctx.op("Mul", [ctx.op("Exp", [y]), total])])]  # type: ignore[list-item]
