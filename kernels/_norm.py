"""Gradient rule of BatchNormalization in inference mode (running statistics are constants)."""

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
        f = ctx.op("Reshape", [ctx.op("Div", [scale, denom]), ctx.ints([-1] + [1] * (rank - 2))])  # type: ignore[assignment]
    return [ctx.op("Mul", [grads[0], f])] + [None] * (len(node.input) - 1)  # type: ignore[list-item]
