"""Fold a graph's shape arithmetic into constants once its input shapes are fixed.

A gradient graph computes many small shape values at run time (Shape, Size, and the Div, Cast, Concat, Reshape and
Slice of them) so that it takes any H and W. ORT's CUDA provider runs such shape arithmetic on the CPU, and one CPU
node in a session is enough to stop CUDA graph capture. With every input dimension fixed those values are
constants: this pass computes them once (ONNX's reference evaluator) and replaces the nodes by initializers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import onnx
from onnx import numpy_helper

from vis.exporters._graph import tensor_types

# The largest value that is folded into an initializer: shape arithmetic is tiny; a ConstantOfShape or a Range with
# all-constant inputs may be large and is left to the runtime rather than stored in the file.
MAX_FOLDED_ELEMENTS = 4096
_NEVER = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli"}


def fold_static_shapes(proto: onnx.ModelProto, input_shapes: Mapping[str, Sequence[int]]) -> onnx.ModelProto:
    """A copy of ``proto`` with the inputs in ``input_shapes`` fixed to those shapes and its shape arithmetic folded.

    Raises:
        ValueError: an input name that the graph does not have, or a shape of the wrong rank.
    """
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    inputs = {i.name: i for i in out.graph.input}
    for name, shape in input_shapes.items():
        if name not in inputs:
            raise ValueError(f"the graph has no input {name!r} (inputs: {', '.join(inputs)})")
        dims = inputs[name].type.tensor_type.shape.dim
        if len(dims) != len(shape):
            raise ValueError(f"input {name!r} has rank {len(dims)}, got shape {tuple(shape)}")
        for d, n in zip(dims, shape):
            d.Clear()
            d.dim_value = int(n)
    while _fold_round(out):
        pass
    used = {name for node in out.graph.node for name in node.input}
    kept = [init for init in out.graph.initializer if init.name in used]
    del out.graph.initializer[:]
    out.graph.initializer.extend(kept)
    return out


def _static_shapes(proto: onnx.ModelProto) -> dict[str, tuple[int, ...]]:
    """The tensors whose every dim shape inference knows."""
    return {name: tuple(dims) for name, (_, dims) in tensor_types(proto).items()  # type: ignore[arg-type]
            if dims is not None and all(isinstance(d, int) for d in dims)}


def _fold_round(proto: onnx.ModelProto) -> bool:
    """Fold every node whose outputs are known now; True when something was folded."""
    graph = proto.graph
    shapes = _static_shapes(proto)
    known: dict[str, np.ndarray] = {i.name: numpy_helper.to_array(i) for i in graph.initializer
                                    if int(np.prod(i.dims)) <= MAX_FOLDED_ELEMENTS}
    graph_outputs = {o.name for o in graph.output}
    keep, folded = [], {}
    for node in graph.node:
        values = _evaluate(node, shapes, known, proto.opset_import)
        if values is None or any(name in graph_outputs for name in node.output):
            keep.append(node)
            continue
        for name, value in zip(node.output, values):
            known[name] = folded[name] = value
    if not folded:
        return False
    del graph.node[:]
    graph.node.extend(keep)
    graph.initializer.extend(numpy_helper.from_array(np.asarray(v), name) for name, v in folded.items())
    return True


def _evaluate(node: onnx.NodeProto, shapes: Mapping[str, tuple[int, ...]], known: Mapping[str, np.ndarray],
              opsets: Sequence[onnx.OperatorSetIdProto]) -> list[np.ndarray] | None:
    """The node's output values if they follow from static shapes and small constants, else ``None``."""
    if node.op_type in _NEVER or node.domain not in ("", "ai.onnx") or any(not o for o in node.output):
        return None
    if node.op_type in ("Shape", "Size"):
        shape = shapes.get(node.input[0])
        if shape is None:
            return None
        if node.op_type == "Size":
            return [np.asarray(int(np.prod(shape)), dtype=np.int64)]
        attrs = {a.name: a.i for a in node.attribute}
        start, end = attrs.get("start", 0), attrs.get("end", len(shape))
        return [np.asarray(shape[slice(start, end)], dtype=np.int64)]
    inputs = [name for name in node.input if name]
    # a Constant (an exported F.pad's shape arithmetic has them) is folded like any node whose inputs are all known
    if (not inputs and node.op_type != "Constant") or any(name not in known for name in inputs):
        return None
    from onnx.reference import ReferenceEvaluator

    try:
        feeds = {name: known[name] for name in inputs}
        values = ReferenceEvaluator(_single_node_model(node, feeds, opsets)).run(None, feeds)
    except Exception:  # an op the reference evaluator lacks: leave it to the runtime
        return None
    if any(np.asarray(v).size > MAX_FOLDED_ELEMENTS for v in values):
        return None
    return [np.asarray(v) for v in values]


def _single_node_model(node: onnx.NodeProto, feeds: Mapping[str, np.ndarray],
                       opsets: Sequence[onnx.OperatorSetIdProto]) -> onnx.ModelProto:
    from onnx import helper

    inputs = [helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
              for name, v in feeds.items()]
    outputs = [helper.make_empty_tensor_value_info(name) for name in node.output]
    graph = helper.make_graph([node], "fold", inputs, outputs)
    return helper.make_model(graph, opset_imports=list(opsets))
