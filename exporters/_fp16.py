"""float16 graphs with a float32 interface: what the CUDA and TensorRT providers run fastest.

Inputs are cast to float16 on entry and outputs back to float32 on exit, so callers and the fused step's
normalisation (whose 1e-8 epsilon would underflow in float16) keep float32.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from vis.exporters._graph import rename_uses

FP16_MAX = float(np.finfo(np.float16).max)
# Inputs that ONNX requires to stay float32 whatever the graph's data type (op type -> input indices).
KEEP_FLOAT32_INPUTS = {"Resize": {1, 2}}


def to_float16(proto: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``proto`` computing in float16, with the same float32 inputs and outputs."""
    out = onnx.ModelProto.FromString(proto.SerializeToString())
    graph = out.graph
    keep = {node.input[i] for node in graph.node for i in KEEP_FLOAT32_INPUTS.get(node.op_type, ()) if i < len(node.input)}
    for i, init in enumerate(graph.initializer):
        if init.data_type == TensorProto.FLOAT and init.name not in keep:
            half = np.clip(numpy_helper.to_array(init), -FP16_MAX, FP16_MAX).astype(np.float16)
            graph.initializer[i].CopyFrom(numpy_helper.from_array(half, init.name))
    for node in graph.node:
        for attr in node.attribute:
            if attr.name == "to" and node.op_type == "Cast" and attr.i == TensorProto.FLOAT:
                attr.i = TensorProto.FLOAT16
            if attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type == TensorProto.FLOAT:
                half = np.clip(numpy_helper.to_array(attr.t), -FP16_MAX, FP16_MAX).astype(np.float16)
                attr.t.CopyFrom(numpy_helper.from_array(half, attr.t.name))
    initializers = {i.name for i in graph.initializer}
    entry = []
    for value in graph.input:
        if value.name in initializers or value.type.tensor_type.elem_type != TensorProto.FLOAT:
            continue
        half_name = f"{value.name}/fp16"
        rename_uses(graph.node, value.name, half_name)
        entry.append(helper.make_node("Cast", [value.name], [half_name], to=TensorProto.FLOAT16, name=f"{half_name}/cast"))
    exit_ = []
    for value in graph.output:
        if value.type.tensor_type.elem_type != TensorProto.FLOAT:
            continue
        half_name = f"{value.name}/fp16"
        rename_uses(graph.node, value.name, half_name, outputs=True)
        exit_.append(helper.make_node("Cast", [half_name], [value.name], to=TensorProto.FLOAT, name=f"{value.name}/cast32"))
    nodes = entry + list(graph.node) + exit_
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.value_info[:]
    return out
