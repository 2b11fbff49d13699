"""Gradient rules of pooling: MaxPool (indexed and index-free), AveragePool, GlobalAveragePool, GlobalMaxPool.

MaxPool backward sends each output gradient to the first maximum of its window in row-major order (torch's
tie-breaking). ``fast``: stride-1 pools (GoogLeNet's inception branch pools) are routed index-free and separably
(a column pass then a row pass of cast-equality masks and Pad shifts; ORT's MaxPool with ``Indices`` is
single-threaded and ~5x slower than the plain one); strided pools read the forward MaxPool's ``Indices`` and
scatter-add (exact for overlapping windows and ceil_mode). ``tensorrt_safe`` is index-free: per kernel offset, an equality mask against the pooled output with
earlier offsets' matches removed (first-max), and the masked gradients, stacked as channels, are placed back by a
one-hot ``ConvTranspose``.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product

import numpy as np
import onnx

from vis.kernels._emitter import Emitter, attr
from vis.kernels._padding import runtime_same_pads, static_pads
from vis.kernels._registry import register_rule

Grads = Sequence["str | None"]


class _PoolGeometry:
    """Static attributes of a 2-D/N-D pooling node; ``pads_known`` is False for SAME pads of a size known only at
    run time, which :meth:`pad_tensors` then computes while the graph runs."""

    def __init__(self, ctx: Emitter, node: onnx.NodeProto) -> None:
        self.node = node
        self.kernel: list[int] = list(attr(node, "kernel_shape"))
        n = len(self.kernel)
        self.n = n
        self.strides: list[int] = list(attr(node, "strides", [1] * n))
        self.dilations: list[int] = list(attr(node, "dilations", [1] * n))
        self.ceil = int(attr(node, "ceil_mode", 0))
        self.k_eff = [(k - 1) * d + 1 for k, d in zip(self.kernel, self.dilations)]
        xs = ctx.static_shape(node.input[0])
        known = static_pads(node, xs[2:] if xs is not None else [None] * n, self.k_eff, self.strides)
        self.pads_known = known is not None
        self.pb, self.pe = known if known is not None else ([0] * n, [0] * n)
        self._runtime: tuple[str, str] | None = None

    def pad_tensors(self, ctx: Emitter) -> tuple[str, str]:
        """``(begin, end)`` pads as 1-D int64 tensors: constants where known, else computed at run time (once)."""
        if self.pads_known:
            return ctx.ints(self.pb), ctx.ints(self.pe)
        if self._runtime is None:
            self._runtime = runtime_same_pads(ctx, self.node, self.node.input[0], self.k_eff, self.strides)
        return self._runtime

    def spatial_pads(self, ctx: Emitter, end: Sequence[int] = ()) -> str:
        """A Pad node's ``pads`` input for ``[N, C, *spatial]``: the node's pads, ``end`` more at the ends."""
        pb, pe = self.pad_tensors(ctx)
        if any(end):
            pe = ctx.op("Add", [pe, ctx.ints(list(end))])
        return ctx.op("Concat", [ctx.ints([0, 0]), pb, ctx.ints([0, 0]), pe], axis=0)  # type: ignore[return-value]

    def place_pad_end(self) -> list[int]:
        """Static zero padding after a no-end-crop transposed placement so a Slice can reach the input size."""
        return [max(0, s - 1 - e) for s, e in zip(self.strides, self.pe)]


def _place(ctx: Emitter, cols: str, x: str, geo: _PoolGeometry, weight: np.ndarray) -> str:
    """Transposed placement of per-window values back onto the input grid.

    Args:
        cols: ``[N*C, K, *out]`` values, K the number of weight channels.
        x: the forward input ``[N, C, *in]``.
        weight: ``[K, 1, *kernel]`` placement kernels.

    Returns:
        ``[N, C, *in]``.
    """
    wname = ctx.const(weight.astype(ctx.np_dtype(x)), "pool_place")
    if geo.pads_known:
        full = ctx.op("ConvTranspose", [cols, wname], strides=geo.strides, dilations=geo.dilations,
                      kernel_shape=geo.kernel, pads=geo.pb + [0] * geo.n)
        fitted = ctx.fit_spatial(full, x, 2, geo.place_pad_end())  # type: ignore[arg-type]
    else:  # the padded input's gradient, cropped at the run-time begin pads (as Conv's SAME rule does)
        full = ctx.op("ConvTranspose", [cols, wname], strides=geo.strides, dilations=geo.dilations,
                      kernel_shape=geo.kernel)
        fitted = ctx.fit_spatial(full, x, 2, [s - 1 for s in geo.strides], geo.pad_tensors(ctx)[0])  # type: ignore[arg-type]
    return ctx.reshape_like(fitted, x)


def _flat_nc(ctx: Emitter, t: str, like: str, k: int = 1) -> str:
    """Reshape ``[N, C, *s]`` (``*s`` the runtime spatial dims of ``like``) to ``[N*C, k, *s]``."""
    n = ctx.rank(like) or 4
    shape = ctx.op("Concat", [ctx.ints([-1, k]), ctx.dims(like, 2, n)], axis=0)
    return ctx.op("Reshape", [t, shape])  # type: ignore[return-value]


def _window_slices(ctx: Emitter, x: str, y: str, geo: _PoolGeometry) -> list[tuple[tuple[int, ...], str]]:
    """Per kernel offset (row-major), the strided view of the -inf-padded input aligned with the output ``y``.

    The end padding of one extra stride keeps every view full-size for ceil_mode windows that run past the end.
    """
    n = geo.n
    xp = ctx.op("Pad", [x, geo.spatial_pads(ctx, end=geo.strides), ctx.scalar(-np.inf, x)], mode="constant")
    out_sp = ctx.dims(y, 2, 2 + n)
    axes = ctx.ints(list(range(2, 2 + n)))
    strides = ctx.ints(geo.strides)
    span = ctx.op("Add", [ctx.op("Mul", [ctx.op("Sub", [out_sp, ctx.ints([1] * n)]), strides]), ctx.ints([1] * n)])
    views = []
    for off in product(*[range(k) for k in geo.kernel]):
        st = ctx.ints([o * d for o, d in zip(off, geo.dilations)])
        views.append((off, ctx.op("Slice", [xp, st, ctx.op("Add", [span, st]), axes, strides])))
    return views  # type: ignore[return-value]


def _route_s1(ctx: Emitter, x: str, y: str, g: str, kernel: Sequence[int], pb: Sequence[int],
              pe: Sequence[int]) -> str:
    """Stride-1 2-D max-pool backward without indices: ``y`` = MaxPool(x) (stride 1, no dilation), ``g`` its gradient.

    Per kernel offset (row-major) the output gradient not yet claimed goes where the offset's view of ``x`` equals
    ``y`` (first maximum, torch's tie-breaking) and is shifted back onto ``x``'s grid. Views and shifts are single
    ``Pad`` nodes (negative pads crop); masks are ``Mul`` by a cast equality (``Where`` is far slower in ORT CPU).
    """
    kh, kw = kernel
    last = kh * kw - 1
    parts: list[str] = []
    rem = g
    for i, (a, b) in enumerate(product(range(kh), range(kw))):
        if i < last:
            # view[i, j] = x[i + a - pb0, j + b - pb1], -inf outside
            vp = [pb[0] - a, pb[1] - b, pe[0] - (kh - 1 - a), pe[1] - (kw - 1 - b)]
            view = x if not any(vp) else ctx.op("Pad", [x, ctx.ints([0, 0, vp[0], vp[1], 0, 0, vp[2], vp[3]]),
                                                        ctx.scalar(-np.inf, x)], mode="constant")
            eq = ctx.op("Cast", [ctx.op("Equal", [view, y])], to=ctx.elem_type(y))
            part = ctx.op("Mul", [rem, eq])
            rem = ctx.op("Sub", [rem, part])  # type: ignore[assignment]
        else:
            part = rem
        sp = [a - pb[0], b - pb[1], (kh - 1 - a) - pe[0], (kw - 1 - b) - pe[1]]
        if any(sp):
            part = ctx.op("Pad", [part, ctx.ints([0, 0, sp[0], sp[1], 0, 0, sp[2], sp[3]])], mode="constant")
        parts.append(part)  # type: ignore[arg-type]
    return parts[0] if len(parts) == 1 else ctx.op("Sum", parts)  # type: ignore[return-value]


def _maxpool_separable(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    """Stride-1 2-D MaxPool backward as a column pass then a row pass (index-free).

    ``MaxPool(kh x kw)`` = ``MaxPool(kh x 1)`` of ``r = MaxPool(1 x kw)(x)``, and its row-major first maximum is the
    first column maximum of the first row whose row maximum equals the output, so routing ``g`` back through the
    two 1-D pools, each to its first maximum, is exact. The forward keeps a plain ``MaxPool`` (the one with
    ``Indices`` is single-threaded and ~5x slower in ORT CPU).
    """
    x, y, g = node.input[0], node.output[0], grads[0]
    geo = _PoolGeometry(ctx, node)
    kh, kw = geo.kernel
    if kh == 1 or kw == 1:
        return [_route_s1(ctx, x, y, g, geo.kernel, geo.pb, geo.pe)]  # type: ignore[arg-type]
    r = ctx.op("MaxPool", [x], kernel_shape=[1, kw], pads=[0, geo.pb[1], 0, geo.pe[1]])
    g_r = _route_s1(ctx, r, y, g, [kh, 1], [geo.pb[0], 0], [geo.pe[0], 0])  # type: ignore[arg-type]
    return [_route_s1(ctx, x, r, g_r, [1, kw], [0, geo.pb[1]], [0, geo.pe[1]])]  # type: ignore[arg-type]


@register_rule("MaxPool", variants=("fast",))
def _maxpool_fast(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    if int(attr(node, "storage_order", 0)) != 0:
        raise NotImplementedError("MaxPool storage_order=1")
    geo = _PoolGeometry(ctx, node)
    if geo.n == 2 and all(s == 1 for s in geo.strides) and all(d == 1 for d in geo.dilations):
        dx = _maxpool_separable(ctx, node, grads, needs)[0]
    elif ctx.opset < 16:  # ScatterElements reduction="add" needs opset 16
        dx = _maxpool_dense(ctx, node, grads, needs)[0]
    else:
        dx = _maxpool_indices(ctx, node, grads[0])
    if geo.n == 2 and all(d == 1 for d in geo.dilations) and geo.pads_known:
        ctx.native_route("MaxPoolGrad", [node.input[0], grads[0]], dx, kernel_shape=geo.kernel,  # type: ignore[list-item]
                         strides=geo.strides, pads=geo.pb + geo.pe)
    return [dx]


def _maxpool_indices(ctx: Emitter, node: onnx.NodeProto, g: str) -> str:
    """Scatter-add of ``g`` at the forward MaxPool's ``Indices`` (exact for overlapping windows and ceil_mode)."""
    x = node.input[0]
    idx = ctx.forward_output(node, 1, "maxpool_indices")
    flat = ctx.ints([-1])
    zeros = ctx.op("ConstantOfShape", [ctx.op("Reshape", [ctx.op("Size", [x]), flat])],
                   value=onnx.helper.make_tensor("value", ctx.elem_type(x), [1], [0]))
    scattered = ctx.op("ScatterElements", [zeros, ctx.op("Reshape", [idx, flat]),
                                           ctx.op("Reshape", [g, flat])], axis=0, reduction="add")
    return ctx.reshape_like(scattered, x)  # type: ignore[arg-type, return-value]


@register_rule("MaxPool", variants=("tensorrt_safe",))
def _maxpool_dense(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    x, y, g = node.input[0], node.output[0], grads[0]
    geo = _PoolGeometry(ctx, node)
    views = _window_slices(ctx, x, y, geo)
    taken = None
    parts: list[str] = []
    for _, window in views:
        eq = ctx.op("Equal", [window, y])
        first = eq if taken is None else ctx.op("And", [eq, ctx.op("Not", [taken])])
        taken = eq if taken is None else ctx.op("Or", [taken, eq])
        parts.append(ctx.op("Mul", [g, ctx.op("Cast", [first], to=ctx.elem_type(y))]))  # type: ignore[arg-type]
    offsets = [off for off, _ in views]
    kk = len(offsets)
    stacked = ctx.op("Concat", [ctx.unsqueeze(p, [2]) for p in parts], axis=2)  # [N, C, K, *out]
    cols = _flat_nc(ctx, stacked, y, kk)
    weight = np.zeros([kk, 1, *geo.kernel], dtype=np.float32)
    for i, off in enumerate(offsets):
        weight[(i, 0, *off)] = 1.0
    return [_place(ctx, cols, x, geo, weight)]


@register_rule("AveragePool")
def _avgpool(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    x, y, g = node.input[0], node.output[0], grads[0]
    geo = _PoolGeometry(ctx, node)
    n = geo.n
    include_pad = int(attr(node, "count_include_pad", 0))
    if any(d != 1 for d in geo.dilations):
        raise NotImplementedError("AveragePool with dilations")
    kernel_ones = np.ones([1, 1, *geo.kernel], dtype=ctx.np_dtype(x))
    unpadded = geo.pads_known and not any(geo.pb + geo.pe)
    if not geo.ceil and (include_pad or unpadded):
        g_div = ctx.op("Mul", [g, ctx.scalar(1.0 / float(np.prod(geo.kernel)), y)])
    else:
        # Per-window divisor: the count of real (or real+pad) elements in the window, like the forward op; one
        # stride of zeros more at the end keeps ceil_mode's last windows.
        one = onnx.helper.make_tensor("value", ctx.elem_type(x), [1], [1])
        shape = ctx.op("Concat", [ctx.ints([1, 1]), ctx.dims(x, 2, 2 + n)], axis=0)
        ones = ctx.op("ConstantOfShape", [shape], value=one)
        if include_pad:
            ones = ctx.op("Pad", [ones, geo.spatial_pads(ctx), ctx.scalar(1.0, x)], mode="constant")
            conv_pads = [0] * n + list(geo.strides)
        else:
            ones = ctx.op("Pad", [ones, geo.spatial_pads(ctx, end=geo.strides)], mode="constant")
            conv_pads = [0] * (2 * n)
        counts = ctx.op("Conv", [ones, ctx.const(kernel_ones, "pool_ones")], strides=geo.strides,
                        pads=conv_pads, kernel_shape=geo.kernel)
        counts = ctx.op("Slice", [counts, ctx.ints([0] * n), ctx.dims(y, 2, 2 + n),
                                  ctx.ints(list(range(2, 2 + n)))])
        g_div = ctx.op("Div", [g, counts])
    cols = _flat_nc(ctx, g_div, y, 1)  # type: ignore[arg-type]
    return [_place(ctx, cols, x, geo, kernel_ones)]


@register_rule("GlobalAveragePool")
def _global_avgpool(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    x, y, g = node.input[0], node.output[0], grads[0]
    count = ctx.op("Cast", [ctx.op("Div", [ctx.op("Size", [x]), ctx.op("Size", [y])])], to=ctx.elem_type(y))
    return [ctx.op("Expand", [ctx.op("Div", [g, count]), ctx.shape(x)])]  # type: ignore[list-item]


@register_rule("GlobalMaxPool")
def _global_maxpool(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    # Ties share the gradient equally (like torch.amax).
    x, y, g = node.input[0], node.output[0], grads[0]
    rank = ctx.rank(x) or 4
    mask = ctx.op("Cast", [ctx.op("Equal", [x, y])], to=ctx.elem_type(x))
    count = ctx.reduce("ReduceSum", mask, list(range(2, rank)), keepdims=1)
    return [ctx.op("Mul", [mask, ctx.op("Div", [g, count])])]  # type: ignore[list-item]

