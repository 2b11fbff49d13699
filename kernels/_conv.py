"""Gradient rule of Conv with respect to its data input.

The input gradient of a convolution is the transposed convolution with the same weights (``ConvTranspose``,
exact for groups, strides, pads and dilations). Where the stride leaves trailing input rows outside every window
the transposed output comes out short; those rows get zeros (static ``output_padding`` when the shape is known,
else a static zero Pad plus a Slice to the runtime input shape). In the ``fast`` variant a stride-1 ConvTranspose
with constant weights becomes a plain ``Conv`` with flipped, transposed weights (faster on ORT CPU). SAME pads
(``auto_pad``) are made explicit (:mod:`vis.kernels._padding`), or cropped at run time where they depend on a size
only known then.
"""

from __future__ import annotations

from collections.abc import Sequence

import onnx

from vis.kernels._emitter import Emitter, attr, optional_input
from vis.kernels._padding import SAME_MODES, explicit_pads, runtime_same_pads, static_pads
from vis.kernels._registry import register_rule

Grads = Sequence["str | None"]


def transposed_weight(ctx: Emitter, w: str, shape: Sequence[int], group: int) -> str:
    """Weights of the Conv that equals ``ConvTranspose(w, group)`` at stride 1, ``w`` being Conv weights of
    ``shape`` ``[M, C/group, *k]``: ``[C, M/group, *k]``, per group input and output channels swapped and kernels
    flipped in every spatial axis.

    Nodes on the constant ``w``, not a second initializer: ONNX Runtime folds them when a session is made, and the
    file holds the weights once."""
    m, cg, *k = shape
    mg = m // group
    spatial = list(range(2, 2 + len(k)))
    grouped = ctx.op("Reshape", [w, ctx.ints([group, mg, cg, *k])])
    swapped = ctx.op("Transpose", [grouped], perm=[0, 2, 1, *(a + 1 for a in spatial)])
    wt = ctx.op("Reshape", [swapped, ctx.ints([group * cg, mg, *k])])
    n = len(k)
    return ctx.op("Slice", [wt, ctx.ints([-1] * n), ctx.ints([-(2**63)] * n), ctx.ints(spatial),  # type: ignore[return-value]
                            ctx.ints([-1] * n)])


@register_rule("Conv")
def _conv(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    x, w = node.input[0], node.input[1]
    b = optional_input(node, 2)
    if needs[1] or (b and needs[2]):
        raise NotImplementedError("Conv gradient with respect to weights or bias")
    g = grads[0]
    w_static = ctx.value(w)
    w_shape = ctx.static_shape(w)
    kernel = attr(node, "kernel_shape")
    if kernel is None:
        if w_shape is None or not all(isinstance(d, int) for d in w_shape[2:]):
            raise NotImplementedError("Conv with unknown kernel shape")
        kernel = w_shape[2:]
    n = len(kernel)
    strides = list(attr(node, "strides", [1] * n))
    dilations = list(attr(node, "dilations", [1] * n))
    group = int(attr(node, "group", 1))
    k_eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    xs = ctx.static_shape(x)
    spatial = xs[2:] if xs is not None else [None] * n
    known = static_pads(node, spatial, k_eff, strides)
    if known is None:
        # SAME pads of a size known only at run time: the gradient of the padded input, cropped at the runtime
        # begin pads. The padded input is at most stride - 1 longer than the transposed conv's output.
        gx = ctx.op("ConvTranspose", [g, w], group=group, dilations=dilations, strides=strides,
                    kernel_shape=list(kernel))
        start, _ = runtime_same_pads(ctx, node, x, k_eff, strides)
        return [ctx.fit_spatial(gx, x, 2, [s - 1 for s in strides], start), None, None]  # type: ignore[arg-type, list-item]
    pb, pe = known
    pads = pb + pe

    if all(s == 1 for s in strides):
        conv_pads = [ke - 1 - p for ke, p in zip(k_eff + k_eff, pb + pe)]
        if ctx.variant == "fast" and w_static is not None and min(conv_pads) >= 0:
            wt = transposed_weight(ctx, w, list(w_static.shape), group)
            return [ctx.op("Conv", [g, wt], group=group, pads=conv_pads, dilations=dilations,
                           kernel_shape=list(kernel)), None, None]  # type: ignore[list-item]
        return [ctx.op("ConvTranspose", [g, w], group=group, pads=pads, dilations=dilations, strides=strides,
                       kernel_shape=list(kernel)), None, None]  # type: ignore[list-item]

    # Strided: trailing rows not covered by any window get zeros.
    if all(isinstance(d, int) for d in spatial):
        out_pad = [(h + a + e - ke) % s for h, a, e, ke, s in zip(spatial, pb, pe, k_eff, strides)]  # type: ignore[operator]
        return [ctx.op("ConvTranspose", [g, w], group=group, pads=pads, dilations=dilations, strides=strides,
                       kernel_shape=list(kernel), output_padding=out_pad), None, None]  # type: ignore[list-item]
    # Dynamic: transposed conv with no end crop is (s - 1 - pe) short at most, else too long: pad, then slice.
    gx = ctx.op("ConvTranspose", [g, w], group=group, pads=pb + [0] * n, dilations=dilations, strides=strides,
                kernel_shape=list(kernel))
    pad_end = [max(0, s - 1 - e) for s, e in zip(strides, pe)]
    return [ctx.fit_spatial(gx, x, 2, pad_end), None, None]  # type: ignore[arg-type, list-item]


@register_rule("ConvTranspose")
def _conv_transpose(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    # ConvTranspose(x, w) is by definition the adjoint of Conv(., w) with the same strides, pads, dilations and
    # groups (w's layout, [C_in, C_out/group, *k], is that Conv's): its input gradient is that Conv of g. The
    # output_padding rows lie past the last window, so the Conv ends exactly on x's size.
    if needs[1] or (optional_input(node, 2) and needs[2]):
        raise NotImplementedError("ConvTranspose gradient with respect to weights or bias")
    if attr(node, "output_shape") is not None:
        raise NotImplementedError("ConvTranspose with output_shape (pads left to the runtime)")
    auto_pad = attr(node, "auto_pad", "NOTSET")
    if auto_pad in SAME_MODES:
        raise NotImplementedError(f"ConvTranspose auto_pad={auto_pad}")
    w = node.input[1]
    kernel = attr(node, "kernel_shape")
    if kernel is None:
        w_shape = ctx.static_shape(w)
        if w_shape is None or not all(isinstance(d, int) for d in w_shape[2:]):
            raise NotImplementedError("ConvTranspose with unknown kernel shape")
        kernel = w_shape[2:]
    n = len(kernel)
    pb, pe = explicit_pads(node, n)
    dx = ctx.op("Conv", [grads[0], w], group=int(attr(node, "group", 1)), pads=pb + pe, kernel_shape=list(kernel),
                strides=list(attr(node, "strides", [1] * n)), dilations=list(attr(node, "dilations", [1] * n)))
    return [dx] + [None] * (len(node.input) - 1)  # type: ignore[list-item]
