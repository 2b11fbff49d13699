"""Gradient rules of elementwise ops: activations, arithmetic with numpy broadcasting, pass-throughs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx

from vis.kernels._emitter import FLOAT_TYPES, Emitter, attr, optional_input
from vis.kernels._registry import register_rule

Grads = Sequence["str | None"]


def _mask_cast(ctx: Emitter, mask: str, like: str) -> str:
    return ctx.op("Cast", [mask], to=ctx.elem_type(like))  # type: ignore[return-value]


@register_rule("Identity")
@register_rule("Dropout")
def _identity(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    if node.op_type == "Dropout" and len(node.input) > 2 and node.input[2]:
        mode = ctx.value(node.input[2])
        if mode is None or bool(mode):
            raise NotImplementedError("Dropout in training mode")
    return [grads[0]]


@register_rule("Cast")
def _cast(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    if ctx.elem_type(node.input[0]) not in FLOAT_TYPES:
        return [None]
    return [ctx.op("Cast", [grads[0]], to=ctx.elem_type(node.input[0]))]  # type: ignore[list-item]


@register_rule("Relu")
def _relu(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    y = node.output[0]
    mask = ctx.op("Greater", [y, ctx.scalar(0.0, y)])
    dx = ctx.op("Mul", [grads[0], _mask_cast(ctx, mask, y)])
    ctx.native_route("ReluGrad", [y, grads[0]], dx)  # type: ignore[list-item]
    return [dx]  # type: ignore[list-item]


@register_rule("LeakyRelu")
def _leaky_relu(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    x, g = node.input[0], grads[0]
    alpha = float(attr(node, "alpha", 0.01))
    mask = ctx.op("Greater", [x, ctx.scalar(0.0, x)])
    return [ctx.op("Where", [mask, g, ctx.op("Mul", [g, ctx.scalar(alpha, x)])])]  # type: ignore[list-item]


@register_rule("Clip")
def _clip(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    # Gradient passes where min < x < max; the output y carries the same comparisons (y > min iff x > min).
    y, g = node.output[0], grads[0]
    lo, hi = optional_input(node, 1), optional_input(node, 2)
    if ctx.opset < 11:
        raise NotImplementedError("Clip before opset 11")
    if (lo and needs[1]) or (hi and needs[2]):
        raise NotImplementedError("Clip with bounds that depend on the input")
    mask = None
    if lo:
        mask = ctx.op("Greater", [y, lo])
    if hi:
        upper = ctx.op("Less", [y, hi])
        mask = upper if mask is None else ctx.op("And", [mask, upper])
    if mask is None:
        return [g]
    return [ctx.op("Mul", [g, _mask_cast(ctx, mask, y)])]  # type: ignore[list-item]


@register_rule("Tanh")
def _tanh(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    y = node.output[0]
    d = ctx.op("Sub", [ctx.scalar(1.0, y), ctx.op("Mul", [y, y])])
    return [ctx.op("Mul", [grads[0], d])]  # type: ignore[list-item]


@register_rule("Sigmoid")
def _sigmoid(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    y = node.output[0]
    d = ctx.op("Mul", [y, ctx.op("Sub", [ctx.scalar(1.0, y), y])])
    return [ctx.op("Mul", [grads[0], d])]  # type: ignore[list-item]


@register_rule("HardSigmoid")
def _hard_sigmoid(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    y = node.output[0]
    alpha = float(attr(node, "alpha", 0.2))
    inside = ctx.op("And", [ctx.op("Greater", [y, ctx.scalar(0.0, y)]), ctx.op("Less", [y, ctx.scalar(1.0, y)])])
    g = ctx.op("Mul", [grads[0], _mask_cast(ctx, inside, y)])
    return [ctx.op("Mul", [g, ctx.scalar(alpha, y)])]  # type: ignore[list-item]


@register_rule("HardSwish")
def _hard_swish(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    # y = x * clip(x / 6 + 1/2, 0, 1): dy/dx is 0 below -3, 1 above 3 and x / 3 + 1/2 between (torch's edges)
    x, g = node.input[0], grads[0]
    between = ctx.op("Add", [ctx.op("Div", [x, ctx.scalar(3.0, x)]), ctx.scalar(0.5, x)])
    above = ctx.op("Where", [ctx.op("Greater", [x, ctx.scalar(3.0, x)]), ctx.scalar(1.0, x), between])
    d = ctx.op("Where", [ctx.op("Less", [x, ctx.scalar(-3.0, x)]), ctx.scalar(0.0, x), above])
    return [ctx.op("Mul", [g, d])]  # type: ignore[list-item]


@register_rule("PRelu")
def _prelu(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    if len(needs) > 1 and needs[1]:
        raise NotImplementedError("PRelu gradient with respect to its slope")
    x, slope, g = node.input[0], node.input[1], grads[0]
    # the slope broadcasts onto x (one per channel, shaped C x 1 x 1): so does its product with g
    below = ctx.op("Mul", [g, slope])
    return [ctx.op("Where", [ctx.op("Greater", [x, ctx.scalar(0.0, x)]), g, below]), None]  # type: ignore[list-item]


@register_rule("Selu")
def _selu(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    # y = gamma * x above 0 and gamma * alpha * (e^x - 1) below, whose slope is y + gamma * alpha
    x, y, g = node.input[0], node.output[0], grads[0]
    alpha = float(attr(node, "alpha", 1.67326319217681884765625))
    gamma = float(attr(node, "gamma", 1.05070102214813232421875))
    below = ctx.op("Mul", [g, ctx.op("Add", [y, ctx.scalar(gamma * alpha, y)])])
    above = ctx.op("Mul", [g, ctx.scalar(gamma, x)])
    return [ctx.op("Where", [ctx.op("Greater", [x, ctx.scalar(0.0, x)]), above, below])]  # type: ignore[list-item]


@register_rule("Mish")
def _mish(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    # y = x * tanh(softplus(x)): dy/dx = t + x * (1 - t^2) * sigmoid(x), t = tanh(softplus(x))
    x, g = node.input[0], grads[0]
    t = ctx.op("Tanh", [ctx.op("Softplus", [x])])
    one_minus = ctx.op("Sub", [ctx.scalar(1.0, x), ctx.op("Mul", [t, t])])
    d = ctx.op("Add", [t, ctx.op("Mul", [ctx.op("Mul", [x, one_minus]), ctx.op("Sigmoid", [x])])])
    return [ctx.op("Mul", [g, d])]  # type: ignore[list-item]


@register_rule("Gelu")
def _gelu(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    x, g = node.input[0], grads[0]
    if attr(node, "approximate", "none") == "tanh":
        # y = x/2 (1 + tanh(u)), u = c (x + 0.044715 x^3): dy/dx = (1 + t)/2 + x/2 (1 - t^2) c (1 + 3 * 0.044715 x^2)
        c = float(np.sqrt(2.0 / np.pi))
        x2 = ctx.op("Mul", [x, x])
        u = ctx.op("Mul", [ctx.op("Add", [x, ctx.op("Mul", [ctx.op("Mul", [x2, x]), ctx.scalar(0.044715, x)])]),
                           ctx.scalar(c, x)])
        t = ctx.op("Tanh", [u])
        du = ctx.op("Mul", [ctx.op("Add", [ctx.scalar(1.0, x), ctx.op("Mul", [x2, ctx.scalar(3 * 0.044715, x)])]),
                            ctx.scalar(c, x)])
        half_x = ctx.op("Mul", [x, ctx.scalar(0.5, x)])
        d = ctx.op("Add", [ctx.op("Mul", [ctx.op("Add", [ctx.scalar(1.0, x), t]), ctx.scalar(0.5, x)]),
                           ctx.op("Mul", [ctx.op("Mul", [half_x, ctx.op("Sub", [ctx.scalar(1.0, x), ctx.op("Mul", [t, t])])]),
                                          du])])
    else:
        # y = x Phi(x): dy/dx = Phi(x) + x phi(x)
        cdf = ctx.op("Mul", [ctx.op("Add", [ctx.scalar(1.0, x),
                                            ctx.op("Erf", [ctx.op("Mul", [x, ctx.scalar(float(1 / np.sqrt(2.0)), x)])])]),
                             ctx.scalar(0.5, x)])
        pdf = ctx.op("Mul", [ctx.op("Exp", [ctx.op("Mul", [ctx.op("Mul", [x, x]), ctx.scalar(-0.5, x)])]),
                             ctx.scalar(float(1 / np.sqrt(2.0 * np.pi)), x)])
        d = ctx.op("Add", [cdf, ctx.op("Mul", [x, pdf])])
    return [ctx.op("Mul", [g, d])]  # type: ignore[list-item]


@register_rule("Elu")
def _elu(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    # dy/dx is 1 above 0 and alpha * exp(x) = y + alpha below
    x, y, g = node.input[0], node.output[0], grads[0]
    alpha = float(attr(node, "alpha", 1.0))
    below = ctx.op("Mul", [g, ctx.op("Add", [y, ctx.scalar(alpha, y)])])
    return [ctx.op("Where", [ctx.op("Greater", [x, ctx.scalar(0.0, x)]), g, below])]  # type: ignore[list-item]


@register_rule("Celu")
def _celu(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    # y = alpha * (exp(x / alpha) - 1) below 0, so dy/dx = exp(x / alpha) = y / alpha + 1 there, and 1 above
    x, y, g = node.input[0], node.output[0], grads[0]
    alpha = float(attr(node, "alpha", 1.0))
    slope = ctx.op("Add", [ctx.op("Mul", [y, ctx.scalar(1.0 / alpha, y)]), ctx.scalar(1.0, y)])
    return [ctx.op("Where", [ctx.op("Greater", [x, ctx.scalar(0.0, x)]), g, ctx.op("Mul", [g, slope])])]  # type: ignore[list-item]


@register_rule("Softplus")
def _softplus(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    # d/dx log(1 + e^x) = sigmoid(x)
    return [ctx.op("Mul", [grads[0], ctx.op("Sigmoid", [node.input[0]])])]  # type: ignore[list-item]


@register_rule("Neg")
def _neg(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    return [ctx.op("Neg", [grads[0]])]  # type: ignore[list-item]


@register_rule("Sqrt")
def _sqrt(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    y = node.output[0]
    return [ctx.op("Div", [ctx.op("Mul", [grads[0], ctx.scalar(0.5, y)]), y])]  # type: ignore[list-item]


@register_rule("Exp")
def _exp(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    return [ctx.op("Mul", [grads[0], node.output[0]])]  # type: ignore[list-item]


@register_rule("Log")
def _log(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    return [ctx.op("Div", [grads[0], node.input[0]])]  # type: ignore[list-item]


@register_rule("Reciprocal")
def _reciprocal(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    y = node.output[0]
    return [ctx.op("Neg", [ctx.op("Mul", [grads[0], ctx.op("Mul", [y, y])])])]  # type: ignore[list-item]


@register_rule("Abs")
def _abs(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    return [ctx.op("Mul", [grads[0], ctx.op("Sign", [node.input[0]])])]  # type: ignore[list-item]


@register_rule("Erf")
def _erf(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    x = node.input[0]
    e = ctx.op("Exp", [ctx.op("Neg", [ctx.op("Mul", [x, x])])])
    d = ctx.op("Mul", [e, ctx.scalar(2.0 / np.sqrt(np.pi), x)])
    return [ctx.op("Mul", [grads[0], d])]  # type: ignore[list-item]


# ---------------------------------------------------------------------------- broadcasting binary ops
def _binary_out(ctx: Emitter, node: onnx.NodeProto, needs: Sequence[bool], parts: list[str | None]) -> list[str | None]:
    y = node.output[0]
    return [
        ctx.unbroadcast(p, x, y) if (p is not None and need) else None
        for p, x, need in zip(parts, node.input, needs)
    ]


@register_rule("Add")
def _add(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    g = grads[0]
    return _binary_out(ctx, node, needs, [g, g])


@register_rule("Sub")
def _sub(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    g = grads[0]
    return _binary_out(ctx, node, needs, [g, ctx.op("Neg", [g]) if needs[1] else None])  # type: ignore[list-item]


@register_rule("Mul")
def _mul(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    g, (a, b) = grads[0], node.input
    ga = ctx.op("Mul", [g, b]) if needs[0] else None
    gb = ctx.op("Mul", [g, a]) if needs[1] else None
    return _binary_out(ctx, node, needs, [ga, gb])  # type: ignore[list-item]


@register_rule("Div")
def _div(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    g, b, y = grads[0], node.input[1], node.output[0]
    ga = ctx.op("Div", [g, b]) if needs[0] else None
    gb = ctx.op("Neg", [ctx.op("Div", [ctx.op("Mul", [g, y]), b])]) if needs[1] else None  # d(a/b)/db = -y/b
    return _binary_out(ctx, node, needs, [ga, gb])  # type: ignore[list-item]


@register_rule("Pow")
def _pow(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    g, (a, b), y = grads[0], node.input, node.output[0]
    ga = gb = None
    if needs[0]:
        p = ctx.value(b)
        if p is not None and p.size == 1 and float(p.reshape(())) == 2.0:
            d = ctx.op("Mul", [a, ctx.scalar(2.0, a)])
        elif p is not None and p.size == 1 and float(p.reshape(())) == 1.0:
            d = None
        else:
            bf = b if ctx.elem_type(b) == ctx.elem_type(a) else ctx.op("Cast", [b], to=ctx.elem_type(a))
            d = ctx.op("Mul", [bf, ctx.op("Pow", [a, ctx.op("Sub", [bf, ctx.scalar(1.0, a)])])])
        ga = g if d is None else ctx.op("Mul", [g, d])
    if needs[1]:
        gb = ctx.op("Mul", [ctx.op("Mul", [g, y]), ctx.op("Log", [a])])
    return _binary_out(ctx, node, needs, [ga, gb])  # type: ignore[list-item]


@register_rule("Sum")
def _sum(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    return _binary_out(ctx, node, needs, [grads[0]] * len(node.input))


@register_rule("Expand")
def _expand(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    return [ctx.unbroadcast(grads[0], node.input[0], node.output[0]), None]  # type: ignore[list-item]


@register_rule("Where")
def _where(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    cond, a, b = node.input
    g = grads[0]
    zero = ctx.scalar(0.0, node.output[0])
    ga = ctx.op("Where", [cond, g, zero]) if needs[1] else None
    gb = ctx.op("Where", [cond, zero, g]) if needs[2] else None
    return _binary_out(ctx, node, needs, [None, ga, gb])  # type: ignore[list-item]


@register_rule("Max")
@register_rule("Min")
def _max_min(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    # Two inputs, like torch.maximum/minimum: the winner gets the gradient, ties split it evenly.
    y, g = node.output[0], grads[0]
    if len(node.input) != 2:
        raise NotImplementedError(f"{node.op_type} with {len(node.input)} inputs")
    a, b = node.input
    half = ctx.op("Mul", [g, ctx.scalar(0.5, y)])
    parts: list[str | None] = []
    for x, other in ((a, b), (b, a)):
        cmp = "Greater" if node.op_type == "Max" else "Less"
        wins = _mask_cast(ctx, ctx.op(cmp, [x, other]), y)
        ties = _mask_cast(ctx, ctx.op("Equal", [x, other]), y)
        parts.append(ctx.op("Add", [ctx.op("Mul", [g, wins]), ctx.op("Mul", [half, ties])]))  # type: ignore[arg-type]
    return _binary_out(ctx, node, needs, parts)
