"""Gradient rules of data-movement ops: reshapes, transposes, concatenation, splitting, slicing, padding, gather,
tiling, depth/space moves and resizing."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx

from vis.kernels._emitter import Emitter, attr, optional_input
from vis.kernels._registry import register_rule

Grads = Sequence["str | None"]


def _need_rank(ctx: Emitter, node: onnx.NodeProto, tensor: str) -> int:
    r = ctx.rank(tensor)
    if r is None:
        raise NotImplementedError(f"{node.op_type} on a tensor of unknown rank ({tensor!r})")
    return r


@register_rule("Reshape")
@register_rule("Flatten")
@register_rule("Squeeze")
@register_rule("Unsqueeze")
def _reshape(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    return [ctx.reshape_like(grads[0], node.input[0])]  # type: ignore[list-item]


@register_rule("Transpose")
def _transpose(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    perm = attr(node, "perm")
    if perm is None:
        perm = list(reversed(range(_need_rank(ctx, node, node.input[0]))))
    inverse = [int(i) for i in np.argsort(perm)]
    return [ctx.op("Transpose", [grads[0]], perm=inverse)]  # type: ignore[list-item]


def _axis_size(ctx: Emitter, tensor: str, axis: int) -> str:
    """Runtime ``shape[axis]`` as a [1] int64 tensor (negative axes allowed)."""
    static = ctx.static_shape(tensor)
    if static is not None and isinstance(static[axis], int):
        return ctx.ints([static[axis]])  # type: ignore[list-item]
    return ctx.op("Gather", [ctx.shape(tensor), ctx.ints([axis])], axis=0)  # type: ignore[return-value]


@register_rule("Concat")
def _concat(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    axis = int(attr(node, "axis"))
    inputs = list(node.input)
    sizes = ctx.op("Concat", [_axis_size(ctx, x, axis) for x in inputs], axis=0)
    parts = ctx.op("Split", [grads[0], sizes], n_out=len(inputs), axis=axis)
    if len(inputs) == 1:
        parts = [parts]  # type: ignore[list-item]
    return [p if need else None for p, need in zip(parts, needs)]  # type: ignore[misc]


@register_rule("Split")
def _split(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    axis = int(attr(node, "axis", 0))
    parts = [g if g is not None else ctx.zeros_like(y) for g, y in zip(grads, node.output)]
    out: list[str | None] = [ctx.op("Concat", parts, axis=axis)]  # type: ignore[list-item]
    return out + [None] * (len(node.input) - 1)


def _normalized(ctx: Emitter, value: str, size: str, clamp_hi: str, clamp_lo: str) -> str:
    """Runtime ``clamp(value + size if value < 0 else value, lo, hi)`` on int64 vectors."""
    neg = ctx.op("Less", [value, ctx.ints([0])])
    v = ctx.op("Where", [neg, ctx.op("Add", [value, size]), value])
    return ctx.op("Min", [ctx.op("Max", [v, clamp_lo]), clamp_hi])  # type: ignore[return-value]


@register_rule("Slice")
def _slice(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    x = node.input[0]
    rank = _need_rank(ctx, node, x)
    if ctx.opset < 10:
        raise NotImplementedError("Slice before opset 10")
    starts, ends = node.input[1], node.input[2]
    axes_name, steps_name = optional_input(node, 3), optional_input(node, 4)
    steps = ctx.value(steps_name) if steps_name else None
    if steps_name and steps is None:  # computed while the graph runs (an Unsqueeze of a Constant, unfolded)
        raise NotImplementedError("Slice whose steps are computed, not constant (simplify the file, e.g. with "
                                  "onnxsim, or export it with constant folding)")
    if axes_name:
        axes_v = ctx.value(axes_name)
        if axes_v is None:
            raise NotImplementedError("Slice with runtime axes")
        axes = [int(a) % rank for a in axes_v.reshape(-1)]
    else:
        n = ctx.static_shape(starts)
        if n is None or not isinstance(n[0], int):
            raise NotImplementedError("Slice with starts of unknown length")
        axes = list(range(n[0]))
    if steps_name and np.any(steps != 1):
        return [_strided_slice(ctx, node, grads[0], axes, rank)] + [None] * (len(node.input) - 1)
    sizes = ctx.op("Gather", [ctx.shape(x), ctx.ints(axes)], axis=0)
    zero = ctx.ints([0])
    s = _normalized(ctx, ctx.op("Cast", [starts], to=onnx.TensorProto.INT64), sizes, sizes, zero)  # type: ignore[arg-type]
    e = _normalized(ctx, ctx.op("Cast", [ends], to=onnx.TensorProto.INT64), sizes, sizes, zero)  # type: ignore[arg-type]
    e = ctx.op("Max", [e, s])  # empty slices
    after = ctx.op("Sub", [sizes, e])
    # Scatter the per-axis pads into full-rank pad vectors (static positions).
    begin_parts: list[str] = []
    end_parts: list[str] = []
    for i in range(rank):
        if i in axes:
            k = axes.index(i)
            begin_parts.append(ctx.op("Slice", [s, ctx.ints([k]), ctx.ints([k + 1])]))  # type: ignore[arg-type]
            end_parts.append(ctx.op("Slice", [after, ctx.ints([k]), ctx.ints([k + 1])]))  # type: ignore[arg-type]
        else:
            begin_parts.append(zero)
            end_parts.append(zero)
    pads = ctx.op("Concat", begin_parts + end_parts, axis=0)
    return [ctx.op("Pad", [grads[0], pads], mode="constant")] + [None] * (len(node.input) - 1)  # type: ignore[list-item]


def _strided_slice(ctx: Emitter, node: onnx.NodeProto, g: str, axes: list[int], rank: int) -> str:
    """The gradient of a Slice with steps (``x[::2]``, a flip ``x[::-1]``): along each sliced axis the slice is
    y = S x with S the identity sliced as the node slices that axis, so the gradient is S^T g, axis by axis; starts
    and ends are clamped by the forward's own Slice."""
    x = node.input[0]
    for k, axis in enumerate(axes):
        one = [ctx.op("Slice", [ctx.op("Cast", [node.input[i]], to=onnx.TensorProto.INT64), ctx.ints([k]),
                                ctx.ints([k + 1])]) for i in (1, 2, 4)]
        n = ctx.dims(x, axis, axis + 1)
        selection = ctx.op("Slice", [_identity(ctx, n, x, batched=False), one[0], one[1], ctx.ints([0]), one[2]])
        g = _matmul_along(ctx, g, selection, axis, rank)  # type: ignore[arg-type]
    return g


def _matmul_along(ctx: Emitter, g: str, matrix: str, axis: int, rank: int) -> str:
    """``g`` with its ``axis`` contracted with ``matrix``'s rows (``g`` times ``matrix`` along that axis): the axis
    moved last for a MatMul, then back."""
    last = [i for i in range(rank) if i != axis] + [axis]
    moved = ctx.op("Transpose", [g], perm=last) if axis != rank - 1 else g
    out = ctx.op("MatMul", [moved, matrix])
    if axis != rank - 1:
        out = ctx.op("Transpose", [out], perm=[int(i) for i in np.argsort(last)])
    return out  # type: ignore[return-value]


@register_rule("DepthToSpace")
@register_rule("SpaceToDepth")
def _depth_space(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    # Both only move elements: SpaceToDepth undoes DepthToSpace in DCR order (and the reverse); CRD order's
    # permutation is undone by reshaping g to N, C, H, b, W, b and moving the two block axes back behind C.
    x, g = node.input[0], grads[0]
    b = int(attr(node, "blocksize"))
    if node.op_type == "SpaceToDepth":
        return [ctx.op("DepthToSpace", [g], blocksize=b, mode="DCR")]  # type: ignore[list-item]
    if attr(node, "mode", "DCR") == "DCR":
        return [ctx.op("SpaceToDepth", [g], blocksize=b)]  # type: ignore[list-item]
    block = ctx.ints([b])
    split = ctx.op("Concat", [ctx.dims(node.output[0], 0, 2), ctx.dims(x, 2, 3), block, ctx.dims(x, 3, 4), block],
                   axis=0)
    blocks = ctx.op("Transpose", [ctx.op("Reshape", [g, split])], perm=[0, 1, 3, 5, 2, 4])
    return [ctx.reshape_like(blocks, x)]  # type: ignore[list-item]


@register_rule("Tile")
def _tile(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    # y = x repeated r_i times along axis i: g reshaped to r_0, d_0, r_1, d_1, ... sums over the r axes.
    x, repeats = node.input
    rank = _need_rank(ctx, node, x)
    parts: list[str] = []
    for i in range(rank):
        parts += [ctx.op("Slice", [repeats, ctx.ints([i]), ctx.ints([i + 1])]), ctx.dims(x, i, i + 1)]  # type: ignore[list-item]
    split = ctx.op("Reshape", [grads[0], ctx.op("Concat", parts, axis=0)])
    return [ctx.reduce("ReduceSum", split, list(range(0, 2 * rank, 2)), keepdims=0), None]  # type: ignore[arg-type]


@register_rule("Pad")
def _pad(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    x, g = node.input[0], grads[0]
    mode = attr(node, "mode", "constant")
    if ctx.opset < 11:
        raise NotImplementedError("Pad before opset 11")
    rank = _need_rank(ctx, node, x)
    if mode != "constant":
        return _mirrored_pad(ctx, node, g, rank)
    axes_name = optional_input(node, 3)
    if axes_name:
        axes_v = ctx.value(axes_name)
        if axes_v is None:
            raise NotImplementedError("Pad with runtime axes")
        axes = [int(a) % rank for a in axes_v.reshape(-1)]
    else:
        axes = list(range(rank))
    pads = ctx.value(node.input[1])
    if pads is not None:
        pads = pads.reshape(-1).astype(np.int64)
        n = len(axes)
        begin, end = pads[:n], pads[n:]
        crop_b, crop_e = np.maximum(-begin, 0), np.maximum(-end, 0)
        if crop_b.any() or crop_e.any():
            full = [0] * (2 * rank)
            for k, a in enumerate(axes):
                full[a], full[rank + a] = int(crop_b[k]), int(crop_e[k])
            g = ctx.op("Pad", [g, ctx.ints(full)], mode="constant")  # type: ignore[assignment]
        starts = ctx.ints(np.maximum(begin, 0).tolist())
    else:
        if axes_name:
            raise NotImplementedError("Pad with runtime pads and an axes input")
        # Runtime pads: negative entries crop in the forward pass, so pad the gradient back by them first.
        pads_t = ctx.op("Cast", [node.input[1]], to=onnx.TensorProto.INT64)
        zero = ctx.ints([0])
        g = ctx.op("Pad", [g, ctx.op("Max", [ctx.op("Neg", [pads_t]), zero])], mode="constant")  # type: ignore[assignment]
        begin_t = ctx.op("Slice", [pads_t, zero, ctx.ints([len(axes)])])
        starts = ctx.op("Max", [begin_t, zero])  # type: ignore[assignment]
    sizes = ctx.op("Gather", [ctx.shape(x), ctx.ints(axes)], axis=0)
    ends = ctx.op("Add", [starts, sizes])
    out = ctx.op("Slice", [g, starts, ends, ctx.ints(axes)])
    return [out] + [None] * (len(node.input) - 1)  # type: ignore[list-item]


@register_rule("Gather")
def _gather(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    # Index-free: the gradient is a contraction of g with OneHot(indices, depth=shape[axis]) (handles repeated
    # and negative indices, no scatter).
    x, idx = node.input
    rank = _need_rank(ctx, node, x)
    axis = int(attr(node, "axis", 0)) % rank
    idx_rank = ctx.rank(idx)
    if idx_rank is None:
        raise NotImplementedError("Gather with indices of unknown rank")
    g = grads[0]
    if idx_rank == 0:
        g = ctx.unsqueeze(g, [axis])
        idx_vec = ctx.op("Reshape", [idx, ctx.ints([1])])
    elif idx_rank > 1:  # the indices' axes in g become one, as for flattened indices
        flat = ctx.op("Concat", [ctx.dims(x, 0, axis), ctx.ints([-1]), ctx.dims(x, axis + 1, rank)], axis=0)
        g = ctx.op("Reshape", [g, flat])  # type: ignore[assignment]
        idx_vec = ctx.op("Reshape", [idx, ctx.ints([-1])])
    else:
        idx_vec = idx
    depth = _axis_size(ctx, x, axis)
    like = node.output[0]
    on_off = ctx.const(np.array([0.0, 1.0], dtype=ctx.np_dtype(like)), "onoff")
    onehot = ctx.op("OneHot", [idx_vec, depth, on_off], axis=-1)  # [k, depth]
    return [_matmul_along(ctx, g, onehot, axis, rank), None]  # type: ignore[arg-type]


# Attributes the identity resizes below do not copy: they pass all four scales or sizes themselves.
_RESIZE_OWN_ATTRIBUTES = ("axes", "keep_aspect_ratio_policy")


@register_rule("Resize")
def _resize(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    # Resize of H and W is separable and linear in x: y = R_h x R_w^T for every image and channel, whatever the mode
    # (nearest, linear, cubic, antialiased). Each R is found by resizing an identity matrix along that one axis with
    # the node's own attributes and scale, so the gradient R_h^T g R_w rounds and clamps exactly as the forward does.
    # Its cost grows with H_in H_out W_out: fine for the maps of a CNN, not free at a video's full size.
    if any(needs[1:]):
        raise NotImplementedError("Resize gradient with respect to its scales or sizes")
    x, y, g = node.input[0], node.output[0], grads[0]
    if ctx.rank(x) != 4:
        raise NotImplementedError("Resize of a tensor that is not N x C x H x W")
    if attr(node, "coordinate_transformation_mode", "half_pixel") == "tf_crop_and_resize":
        raise NotImplementedError("Resize with tf_crop_and_resize")
    if attr(node, "keep_aspect_ratio_policy", "stretch") != "stretch":
        raise NotImplementedError("Resize that keeps the aspect ratio")
    given = attr(node, "axes")
    axes = None if given is None else [a % 4 for a in given]  # scales and sizes then hold these axes only
    if axes is not None and not set(axes) <= {2, 3}:
        raise NotImplementedError("Resize of the batch or channel axis")
    scales, sizes = optional_input(node, 2), optional_input(node, 3)
    if sizes or (scales and ctx.value(scales) is not None and ctx.value(scales).size == 0):
        scales = ""  # opset 13's empty scales beside sizes: the output's sides are the sizes
    rows = _resize_matrix(ctx, node, x, y, 2, scales, axes)  # R_h: H_out x H_in
    cols_t = _resize_matrix(ctx, node, x, y, 3, scales, axes)  # R_w^T: W_in x W_out
    return [_separable_adjoint(ctx, rows, g, cols_t)] + [None] * (len(node.input) - 1)


def _resize_matrix(ctx: Emitter, node: onnx.NodeProto, x: str, y: str, axis: int, scales: str,
                   axes: list[int] | None) -> str:
    """The identity of side ``x.shape[axis]`` (1 x 1 x n x n) resized along ``axis`` (2: rows, 3: columns) as
    ``node`` resizes ``x`` there: R_h (1 x 1 x H_out x H_in) for axis 2, R_w^T (1 x 1 x W_in x W_out) for axis 3.
    ``scales``: the node's scales ("" where it takes sizes); ``axes``: the axes they are for (None: all four)."""
    n = ctx.dims(x, axis, axis + 1)
    eye = _identity(ctx, n, x)
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute if a.name not in _RESIZE_OWN_ATTRIBUTES}
    attrs = {k: v.decode() if isinstance(v, bytes) else v for k, v in attrs.items()}
    if scales:  # the forward's scale on this axis, 1 on the others: the same source coordinates as the forward's
        one = ctx.const(np.ones(1, np.float32), "one")
        if axes is not None and axis not in axes:
            scale = one
        else:
            at = axis if axes is None else axes.index(axis)
            scale = ctx.op("Slice", [scales, ctx.ints([at]), ctx.ints([at + 1])])  # type: ignore[assignment]
        parts = [one, one, scale, one] if axis == 2 else [one, one, one, scale]
        return ctx.op("Resize", [eye, "", ctx.op("Concat", parts, axis=0)], **attrs)  # type: ignore[return-value,list-item]
    out = ctx.dims(y, axis, axis + 1)
    ones = ctx.ints([1, 1])
    parts = [ones, out, n] if axis == 2 else [ones, n, out]
    return ctx.op("Resize", [eye, "", "", ctx.op("Concat", parts, axis=0)], **attrs)  # type: ignore[return-value,list-item]


def _identity(ctx: Emitter, n: str, like: str, batched: bool = True) -> str:
    """The identity matrix of side ``n`` (a 1-D size tensor) of ``like``'s type: 1 x 1 x n x n, or n x n where not
    ``batched``."""
    square = ctx.op("ConstantOfShape", [ctx.op("Concat", [n, n], axis=0)],
                    value=onnx.helper.make_tensor("value", ctx.elem_type(like), [1], [0]))
    eye = ctx.op("EyeLike", [square])
    return ctx.unsqueeze(eye, [0, 1]) if batched else eye  # type: ignore[arg-type, return-value]


def _separable_adjoint(ctx: Emitter, rows: str, g: str, cols_t: str) -> str:
    """The gradient ``A^T g B`` of a map ``y = A x B^T`` applied to H and W, given A (1 x 1 x H_out x H_in) and
    B^T (1 x 1 x W_in x W_out) as an identity transformed along each axis yields them."""
    swap = [0, 1, 3, 2]
    return ctx.op("MatMul", [ctx.op("MatMul", [ctx.op("Transpose", [rows], perm=swap), g]),  # type: ignore[return-value]
                             ctx.op("Transpose", [cols_t], perm=swap)])


def _mirrored_pad(ctx: Emitter, node: onnx.NodeProto, g: str, rank: int) -> list[str | None]:
    """Reflect, edge and wrap padding of H and W (style-transfer and pix2pix generators): linear and separable,
    y = P_h x P_w^T, so the gradient is P_h^T g P_w, each P found by padding an identity matrix as the node pads x
    (the copies a border pixel makes are summed back into it). Pads may be computed at run time (torch writes them
    so); padding the batch or channel axis is refused where the pads are constant."""
    x, mode = node.input[0], attr(node, "mode")
    if rank != 4:
        raise NotImplementedError(f"Pad mode {mode!r} of a tensor that is not N x C x H x W")
    axes_name = optional_input(node, 3)
    axes_v = ctx.value(axes_name) if axes_name else np.arange(rank)
    if axes_v is None:
        raise NotImplementedError(f"Pad mode {mode!r} with runtime axes")
    axes = [int(a) % rank for a in np.asarray(axes_v).reshape(-1)]
    if not {2, 3} & set(axes):
        raise NotImplementedError(f"Pad mode {mode!r} of the batch or channel axis")
    pads = ctx.value(node.input[1])
    if pads is not None:
        full = [0] * 8
        for k, a in enumerate(axes):
            full[a], full[4 + a] = int(pads.reshape(-1)[k]), int(pads.reshape(-1)[len(axes) + k])
        if any(full[a] or full[4 + a] for a in (0, 1)) or min(full) < 0:
            raise NotImplementedError(f"Pad mode {mode!r} of the batch or channel axis, or cropping")
    pads_t = ctx.op("Cast", [node.input[1]], to=onnx.TensorProto.INT64)
    zeros = ctx.ints([0, 0])

    def along(axis: int) -> str:
        """The pads that pad the identity along ``axis`` as the node pads x along it."""
        if axis not in axes:
            return ctx.ints([0] * 8)
        k = axes.index(axis)
        begin = ctx.op("Slice", [pads_t, ctx.ints([k]), ctx.ints([k + 1])])
        end = ctx.op("Slice", [pads_t, ctx.ints([len(axes) + k]), ctx.ints([len(axes) + k + 1])])
        zero = ctx.ints([0])
        parts = [zeros, begin, zero, zeros, end, zero] if axis == 2 else [zeros, zero, begin, zeros, zero, end]
        return ctx.op("Concat", parts, axis=0)  # type: ignore[return-value]

    rows = ctx.op("Pad", [_identity(ctx, ctx.dims(x, 2, 3), x), along(2)], mode=mode)  # P_h: 1 x 1 x H_out x H_in
    cols_t = ctx.op("Pad", [_identity(ctx, ctx.dims(x, 3, 4), x), along(3)], mode=mode)  # P_w^T: 1 x 1 x W_in x W_out
    return [_separable_adjoint(ctx, rows, g, cols_t)] + [None] * (len(node.input) - 1)
