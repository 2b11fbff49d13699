"""Which axis holds the channels of each 4-D tensor of a graph whose image is N, H, W, C (tf2onnx's files).

Such a graph transposes the image to N, C, H, W for its convolutions and back to N, H, W, C for each Keras layer's
output, so a tensor's name says nothing of its layout. The axis is followed from the input through the nodes: an
operator ONNX defines on N, C, H, W puts the channels on axis 1, a Transpose moves them, and elementwise and
size-keeping operators leave them where their inputs have them. Tensors it cannot follow (after a Reshape) are left
out.
"""

from __future__ import annotations

import onnx

from vis.kernels._emitter import attr

# ONNX defines these on N, C, H, W: whatever came in, the output's channels are on axis 1
_CHANNELS_FIRST_OPS = frozenset({
    "Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool",
    "BatchNormalization", "InstanceNormalization", "LRN", "DepthToSpace", "SpaceToDepth", "MaxUnpool",
})
# the output's axes are the inputs' axes (a channel stays where it was); broadcast inputs of lower rank do not count
_AXIS_KEEPING_OPS = frozenset({
    "Abs", "Add", "Cast", "Ceil", "Celu", "Clip", "Concat", "Cos", "Div", "Dropout", "Elu", "Erf", "Exp", "Floor",
    "Gelu", "HardSigmoid", "HardSwish", "Identity", "LeakyRelu", "Log", "LogSoftmax", "Max", "Mean", "Min", "Mish",
    "Mul", "Neg", "Pad", "Pow", "PRelu", "Reciprocal", "ReduceMax", "ReduceMean", "ReduceMin", "ReduceSum",
    "Relu", "Resize", "Round", "Selu", "Sigmoid", "Sign", "Sin", "Slice", "Softmax", "Softplus", "Softsign", "Split",
    "Sqrt", "Sub", "Sum", "Tanh", "ThresholdedRelu", "Tile", "Upsample", "Where",
})


def channel_axes(proto: onnx.ModelProto, input_name: str, shapes: dict[str, tuple[int, ...]]) -> dict[str, int]:
    """The channel axis (1 or 3) of every 4-D tensor the walk from ``input_name`` (N, H, W, C) can follow.

    ``shapes``: per-sample shapes (without the batch) of the graph's float tensors, for their ranks.
    """
    def rank(name: str) -> int:
        return 4 if name == input_name else len(shapes[name]) + 1 if name in shapes else 0

    axes = {input_name: 3}
    for node in proto.graph.node:  # ONNX nodes come in topological order
        outputs = [o for o in node.output if o and rank(o) == 4]
        if not outputs:
            continue
        axis = _output_axis(node, axes, rank)
        if axis is not None:
            axes.update(dict.fromkeys(outputs, axis))
    return axes


def _output_axis(node: onnx.NodeProto, axes: dict[str, int], rank) -> int | None:
    if node.op_type in _CHANNELS_FIRST_OPS:
        return 1
    seen = {axes[i] for i in node.input if i in axes and rank(i) == 4}
    if len(seen) != 1:  # nothing known, or inputs that disagree
        return None
    (axis,) = seen
    if node.op_type == "Transpose":
        perm = attr(node, "perm", None)
        return list(perm).index(axis) if perm is not None and len(perm) == 4 else None
    if node.op_type.startswith("Reduce") and int(attr(node, "keepdims", 1)) == 0:
        return None
    return axis if node.op_type in _AXIS_KEEPING_OPS else None
