"""Gradient rules of reductions: ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceSumSquare, ReduceL2."""

from __future__ import annotations

from collections.abc import Sequence

import onnx

from vis.kernels._emitter import Emitter, attr, optional_input, reduce_axes_are_an_input
from vis.kernels._registry import register_rule

Grads = Sequence["str | None"]

def _axes(ctx: Emitter, node: onnx.NodeProto) -> list[int] | None:
    """The reduced axes (None: all axes), from the attribute or the constant second input."""
    if reduce_axes_are_an_input(node.op_type, ctx.opset):
        name = optional_input(node, 1)
        if not name:
            if int(attr(node, "noop_with_empty_axes", 0)):
                return []
            return None
        value = ctx.value(name)
        if value is None:
            raise NotImplementedError(f"{node.op_type} with runtime axes")
        axes = [int(a) for a in value.reshape(-1)]
        if not axes and not int(attr(node, "noop_with_empty_axes", 0)):
            return None
        return axes
    axes = attr(node, "axes")
    return None if axes is None else [int(a) for a in axes]


def _kept_output(ctx: Emitter, node: onnx.NodeProto, g: str, kept_y: str | None) -> str:
    """The forward output with the reduced dims kept (shaped like ``g`` from :func:`_expand_back`)."""
    if kept_y is not None:
        return kept_y
    return ctx.reshape_like(ctx.op("Reshape", [node.output[0], ctx.ints([-1])]), g)  # type: ignore[arg-type]


def _expand_back(ctx: Emitter, node: onnx.NodeProto, g: str) -> tuple[str, str | None]:
    """``g`` (shaped like the output) reshaped with kept dims, and the kept-dims forward output if any."""
    x, y = node.input[0], node.output[0]
    keep = int(attr(node, "keepdims", 1))
    axes = _axes(ctx, node)
    if keep or axes == []:
        return g, y
    if axes is None:
        rank = ctx.rank(x)
        if rank is None:
            raise NotImplementedError(f"{node.op_type} over all axes of a tensor of unknown rank")
        axes = list(range(rank))
    # Unsqueeze's negative axes count in the output rank, which is the input's rank: they carry over as they are.
    return ctx.unsqueeze(g, axes), None


@register_rule("ReduceSum")
@register_rule("ReduceMean")
def _reduce_sum_mean(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    x, y = node.input[0], node.output[0]
    g, _ = _expand_back(ctx, node, grads[0])
    if node.op_type == "ReduceMean":
        count = ctx.op("Cast", [ctx.op("Div", [ctx.op("Size", [x]), ctx.op("Size", [y])])], to=ctx.elem_type(y))
        g = ctx.op("Div", [g, count])  # type: ignore[assignment]
    return [ctx.op("Expand", [g, ctx.shape(x)])] + [None] * (len(node.input) - 1)  # type: ignore[list-item]


@register_rule("ReduceSumSquare")
def _reduce_sum_square(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    x = node.input[0]
    g, _ = _expand_back(ctx, node, grads[0])
    two_x = ctx.op("Mul", [x, ctx.scalar(2.0, x)])
    return [ctx.op("Mul", [two_x, g])] + [None] * (len(node.input) - 1)  # type: ignore[list-item]


@register_rule("ReduceL2")
def _reduce_l2(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    x = node.input[0]
    g, kept_y = _expand_back(ctx, node, grads[0])
    kept_y = _kept_output(ctx, node, g, kept_y)
    return [ctx.op("Mul", [x, ctx.op("Div", [g, kept_y])])] + [None] * (len(node.input) - 1)  # type: ignore[list-item]


@register_rule("ReduceMax")
@register_rule("ReduceMin")
def _reduce_max(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    # Ties share the gradient equally (torch.amax semantics).
    x = node.input[0]
    g, kept_y = _expand_back(ctx, node, grads[0])
    kept_y = _kept_output(ctx, node, g, kept_y)
    mask = ctx.op("Cast", [ctx.op("Equal", [x, kept_y])], to=ctx.elem_type(x))
    axes = _axes(ctx, node)
    count = ctx.reduce("ReduceSum", mask, axes, keepdims=1) if axes is not None else ctx.op(
        "ReduceSum", [mask], keepdims=1)
    return [ctx.op("Mul", [mask, ctx.op("Div", [g, count])])] + [None] * (len(node.input) - 1)  # type: ignore[list-item]
