"""Gradient rules of normalisations: BatchNormalization in inference mode (running statistics are constants), and
Layer-, Instance- and GroupNormalization, whose statistics come from the input itself."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx

from vis.kernels._emitter import Emitter, attr
from vis.kernels._registry import register_rule

Grads = Sequence["str | None"]


@register_rule("BatchNormalization")
def _batchnorm(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    # y = (x - mean) / sqrt(var + eps) * scale + bias  =>  dx = g * scale / sqrt(var + eps), per channel.
    if int(attr(node, "training_mode", 0)) or len([o for o in node.output if o]) > 1:
        raise NotImplementedError("BatchNormalization in training mode")
    if any(needs[1:]):
        raise NotImplementedError("BatchNormalization gradient with respect to its parameters")
    x, scale, _bias, _mean, var = node.input[:5]
    eps = float(attr(node, "epsilon", 1e-5))
    rank = ctx.rank(x) or 4
    s, v = ctx.value(scale), ctx.value(var)
    if s is not None and v is not None:
        factor = (s.astype(np.float64) / np.sqrt(v.astype(np.float64) + eps)).astype(ctx.np_dtype(x))
        f = ctx.const(factor.reshape(-1, *([1] * (rank - 2))), "bn_factor")
    else:
        denom = ctx.op("Sqrt", [ctx.op("Add", [var, ctx.scalar(eps, x)])])
        f = _per_channel(ctx, ctx.op("Div", [scale, denom]), rank)  # type: ignore[arg-type]
    return [ctx.op("Mul", [grads[0], f])] + [None] * (len(node.input) - 1)  # type: ignore[list-item]


def _normalized_grad(ctx: Emitter, x: str, gs: str, axes: list[int], eps: float, like: str | None = None) -> str:
    """The gradient of ``xhat = (x - mean) / sqrt(var + eps)`` (statistics over ``axes``) given ``gs``, the gradient
    of ``xhat``: ``(gs - mean(gs) - xhat * mean(gs * xhat)) / sqrt(var + eps)``. The statistics are computed again
    from ``x`` rather than taken from the forward node's optional outputs, which are float32 for any input type.
    ``like``: the forward tensor whose element type ``x`` has (``x`` itself by default)."""
    centred = ctx.op("Sub", [x, ctx.reduce("ReduceMean", x, axes)])
    var = ctx.reduce("ReduceMean", ctx.op("Mul", [centred, centred]), axes)
    rstd = ctx.op("Reciprocal", [ctx.op("Sqrt", [ctx.op("Add", [var, ctx.scalar(eps, like or x)])])])
    xhat = ctx.op("Mul", [centred, rstd])
    inner = ctx.op("Sub", [gs, ctx.reduce("ReduceMean", gs, axes)])
    inner = ctx.op("Sub", [inner, ctx.op("Mul", [xhat, ctx.reduce("ReduceMean", ctx.op("Mul", [gs, xhat]), axes)])])
    return ctx.op("Mul", [inner, rstd])  # type: ignore[return-value]


def _known_rank(ctx: Emitter, node: onnx.NodeProto, needs: Sequence[bool]) -> int:
    """The rank of a normalisation's input; refused where its scale or bias depends on the image too."""
    if any(needs[1:]):
        raise NotImplementedError(f"{node.op_type} gradient with respect to its scale or bias")
    rank = ctx.rank(node.input[0])
    if rank is None:
        raise NotImplementedError(f"{node.op_type} of a tensor whose rank shape inference leaves open")
    return rank


def _per_channel(ctx: Emitter, values: str, rank: int) -> str:
    """A 1-D per-channel tensor shaped to broadcast onto N x C x ... of ``rank``."""
    return ctx.op("Reshape", [values, ctx.ints([-1] + [1] * (rank - 2))])  # type: ignore[return-value]


@register_rule("LayerNormalization")
def _layer_norm(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    # y = xhat * scale + bias over the axes from ``axis`` to the last; scale broadcasts from the right
    rank = _known_rank(ctx, node, needs)
    axis = int(attr(node, "axis", -1)) % rank
    gs = ctx.op("Mul", [grads[0], node.input[1]])
    dx = _normalized_grad(ctx, node.input[0], gs, list(range(axis, rank)), float(attr(node, "epsilon", 1e-5)))
    return [dx] + [None] * (len(node.input) - 1)


@register_rule("InstanceNormalization")
def _instance_norm(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    # each (sample, channel) normalised over its own positions, then a per-channel scale and bias
    rank = _known_rank(ctx, node, needs)
    gs = ctx.op("Mul", [grads[0], _per_channel(ctx, node.input[1], rank)])
    dx = _normalized_grad(ctx, node.input[0], gs, list(range(2, rank)), float(attr(node, "epsilon", 1e-5)))
    return [dx] + [None] * (len(node.input) - 1)


@register_rule("GroupNormalization")
def _group_norm(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    # the channels fall into num_groups groups, each normalised over its channels and positions; the scale is one
    # per group at opset 18 and one per channel from opset 21
    rank = _known_rank(ctx, node, needs)
    x, scale, g = node.input[0], node.input[1], grads[0]
    groups = int(attr(node, "num_groups"))
    grouped = ctx.ints([0, groups, -1])
    if ctx.opset >= 21:
        gs = ctx.op("Reshape", [ctx.op("Mul", [g, _per_channel(ctx, scale, rank)]), grouped])
    else:
        gs = ctx.op("Mul", [ctx.op("Reshape", [g, grouped]), ctx.op("Reshape", [scale, ctx.ints([-1, 1])])])
    dx = _normalized_grad(ctx, ctx.op("Reshape", [x, grouped]), gs, [2], float(attr(node, "epsilon", 1e-5)), x)
    return [ctx.reshape_like(dx, x)] + [None] * (len(node.input) - 1)
