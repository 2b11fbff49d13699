"""Gradient rules of Gemm and MatMul."""

from __future__ import annotations

from collections.abc import Sequence

import onnx

from vis.kernels._emitter import Emitter, attr, optional_input
from vis.kernels._registry import register_rule

Grads = Sequence["str | None"]


@register_rule("Gemm")
def _gemm(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    # Y = alpha * A' @ B' + beta * C with A' = A or A^T, B' = B or B^T.
    a, b = node.input[0], node.input[1]
    c = optional_input(node, 2)
    g, y = grads[0], node.output[0]
    alpha = float(attr(node, "alpha", 1.0))
    beta = float(attr(node, "beta", 1.0))
    ta, tb = int(attr(node, "transA", 0)), int(attr(node, "transB", 0))
    out: list[str | None] = [None, None, None][: len(node.input)]
    if needs[0]:  # dA' = alpha g B'^T ; dA = dA'^T when transA
        if ta:
            out[0] = ctx.op("Gemm", [b, g], alpha=alpha, transA=tb, transB=1)  # type: ignore[assignment]
        else:
            out[0] = ctx.op("Gemm", [g, b], alpha=alpha, transA=0, transB=1 - tb)  # type: ignore[assignment]
    if needs[1]:  # dB' = alpha A'^T g ; dB = dB'^T when transB
        if tb:
            out[1] = ctx.op("Gemm", [g, a], alpha=alpha, transA=1, transB=ta)  # type: ignore[assignment]
        else:
            out[1] = ctx.op("Gemm", [a, g], alpha=alpha, transA=1 - ta, transB=0)  # type: ignore[assignment]
    if c and needs[2]:
        gc = g if beta == 1.0 else ctx.op("Mul", [g, ctx.scalar(beta, y)])
        out[2] = ctx.unbroadcast(gc, c, y)  # type: ignore[arg-type]
    return out


def _swap_last(ctx: Emitter, t: str, rank: int) -> str:
    perm = list(range(rank - 2)) + [rank - 1, rank - 2]
    return ctx.op("Transpose", [t], perm=perm)  # type: ignore[return-value]


@register_rule("MatMul")
def _matmul(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    a, b = node.input
    y, g = node.output[0], grads[0]
    ra, rb = ctx.rank(a), ctx.rank(b)
    if ra is None or rb is None:
        raise NotImplementedError("MatMul on tensors of unknown rank")
    # Promote 1-D operands to matrices like numpy, then undo.
    a2, b2, g2 = a, b, g
    if ra == 1:
        a2 = ctx.unsqueeze(a, [0])
        g2 = ctx.unsqueeze(g2, [-2])
    if rb == 1:
        b2 = ctx.unsqueeze(b, [1])
        g2 = ctx.unsqueeze(g2, [-1])
    ra2, rb2 = max(ra, 2), max(rb, 2)
    ry2 = max(ra2, rb2)
    out: list[str | None] = [None, None]
    if needs[0]:
        ga = ctx.op("MatMul", [g2, _swap_last(ctx, b2, rb2)])
        ga = _sum_to(ctx, ga, ry2, ra2, a2, a) if ra2 < ry2 or _may_broadcast(ctx, a, y) else ga
        out[0] = ctx.reshape_like(ga, a)  # type: ignore[arg-type]
    if needs[1]:
        gb = ctx.op("MatMul", [_swap_last(ctx, a2, ra2), g2])
        gb = _sum_to(ctx, gb, ry2, rb2, b2, b) if rb2 < ry2 or _may_broadcast(ctx, b, y) else gb
        out[1] = ctx.reshape_like(gb, b)  # type: ignore[arg-type]
    return out


def _may_broadcast(ctx: Emitter, x: str, y: str) -> bool:
    """Whether batch dims of ``x`` may be broadcast in ``y`` (conservative)."""
    sx, sy = ctx.static_shape(x), ctx.static_shape(y)
    if sx is None or sy is None or len(sx) <= 2:
        return False if sx is not None and len(sx) <= 2 else True
    lead = len(sy) - len(sx)
    return any(not (d == sy[lead + i] and d is not None) for i, d in enumerate(sx[:-2]))


def _sum_to(ctx: Emitter, grad: str, ry: int, rx: int, x2: str, x: str) -> str:
    """Sum the broadcast batch dims of ``grad`` (rank ``ry``) down to the batch dims of ``x2`` (rank ``rx``)."""
    if rx == 2:
        return ctx.reduce("ReduceSum", grad, list(range(ry - 2)), keepdims=0)
    return _runtime_sum_to(ctx, grad, x2, ry, rx)  # general batch broadcast: axes found at runtime


def _runtime_sum_to(ctx: Emitter, grad: str, x2: str, ry: int, rx: int) -> str:
    padded = ctx.op("Concat", [ctx.ints([1] * (ry - rx)), ctx.op("Shape", [x2])], axis=0) if ry > rx else ctx.op(
        "Shape", [x2])
    is_one = ctx.op("Equal", [padded, ctx.ints([1])])
    axes_t = ctx.op("Reshape", [ctx.op("NonZero", [is_one]), ctx.ints([-1])])
    red = ctx.op("ReduceSum", [grad, axes_t], keepdims=1, noop_with_empty_axes=1)
    return ctx.op("Reshape", [red, ctx.op("Shape", [x2])])  # type: ignore[return-value]
