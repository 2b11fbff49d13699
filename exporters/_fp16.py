"""float16 graphs with a float32 interface: what the CUDA and TensorRT providers run fastest.

Inputs are cast to float16 on entry and outputs back to float32 on exit, so callers and the fused step's
normalisation (whose 1e-8 epsilon would underflow in float16) keep float32.

Three parts of a gradient graph do not survive float16: the objective, a mean of squared activations whose sums
overflow 65504 (seen on an H100); the start of the backward pass, which divides the seed by the number of averaged
elements (100352 at GoogLeNet's inception4c for a 224 image: infinite in float16, so every gradient was 0; found
2026-11-23 by running the float16 graph in true float16 through onnx's reference evaluator); and the seed's share
of each activation, 1/N (~1e-5 to 1e-7), which underflows. So the objective's nodes (named ``objective/...``) and
the backward nodes that read only their values, the seed and integer sizes compute in float32 up to where they
meet a float16 activation, and the backward seed is ``seed_scale`` instead of 1, every gradient output being divided
by it again after its cast back to float32: the same gradient, carried through float16 at a representable size.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from vis.exporters._graph import rename_uses, tensor_types
from vis.exporters._native_routes import record_native_routes

FP16_MAX = float(np.finfo(np.float16).max)
# Inputs that ONNX requires to stay float32 whatever the graph's data type (op type -> input indices).
KEEP_FLOAT32_INPUTS = {"Resize": {1, 2}}
OBJECTIVE_PREFIX = "objective/"  # node names of the objective's subgraph (vis.exporters._objectives)
SEED_MARK = "seed"  # the backward seed: a ConstantOfShape whose output name holds this (vis.exporters._autodiff)
# 2**10: a layer objective's gradient at the activations becomes 2x * 1024 / N, inside float16's normal range for
# N up to ~10^7 elements, while a class logit's seed of 1024 stays far from its 65504 ceiling.
SEED_SCALE = 1024.0


def to_float16(proto: onnx.ModelProto, seed_scale: float = SEED_SCALE) -> onnx.ModelProto:
    """A copy of ``proto`` computing in float16, with the same float32 inputs and outputs (see the module's notes)."""
    out = onnx.ModelProto.FromString(proto.SerializeToString())
    record_native_routes(out, [])  # the native kernels are float32 only
    graph = out.graph
    types = {name: elem_type for name, (elem_type, _) in tensor_types(proto).items()}
    float_values = {name for name, t in types.items() if t == TensorProto.FLOAT}
    island = _float32_island(graph.node, types, {i.name for i in graph.initializer})
    in_island = {id(n) for n in island}
    outside = [n for n in graph.node if id(n) not in in_island]
    keep = {node.input[i] for node in graph.node for i in KEEP_FLOAT32_INPUTS.get(node.op_type, ()) if i < len(node.input)}
    keep |= _used_only_by(island, outside) & {i.name for i in graph.initializer}  # the objective's own constants
    for i, init in enumerate(graph.initializer):
        if init.data_type == TensorProto.FLOAT and init.name not in keep:
            graph.initializer[i].CopyFrom(numpy_helper.from_array(_half(numpy_helper.to_array(init)), init.name))
    seeds = 0
    for node in graph.node:
        if _is_seed(node):
            seeds += 1
            for attr in node.attribute:
                attr.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(attr.t) * np.float32(seed_scale), attr.t.name))
    for node in outside:
        for attr in node.attribute:
            if attr.name == "to" and node.op_type == "Cast" and attr.i == TensorProto.FLOAT:
                attr.i = TensorProto.FLOAT16
            if attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type == TensorProto.FLOAT:
                attr.t.CopyFrom(numpy_helper.from_array(_half(numpy_helper.to_array(attr.t)), attr.t.name))
    initializers = {i.name for i in graph.initializer}
    casts: list[onnx.NodeProto] = []
    # graph inputs: float16 for the graph, the original float32 for the objective
    for value in graph.input:
        if value.name in initializers or value.type.tensor_type.elem_type != TensorProto.FLOAT:
            continue
        half_name = f"{value.name}/fp16"
        rename_uses(outside, value.name, half_name)
        casts.append(_cast(value.name, half_name, TensorProto.FLOAT16))
    produced_inside = {o for n in island for o in n.output}
    graph_inputs = {v.name for v in graph.input}
    # float16 values the objective reads, cast up; float32 values it hands back, cast down
    for name in sorted({i for n in island for i in n.input if i} - produced_inside - keep - graph_inputs):
        if name in float_values:
            rename_uses(island, name, f"{name}/fp32")
            casts.append(_cast(name, f"{name}/fp32", TensorProto.FLOAT))
    for name in sorted(produced_inside & {i for n in outside for i in n.input} & float_values):
        rename_uses(outside, name, f"{name}/fp16")
        casts.append(_cast(name, f"{name}/fp16", TensorProto.FLOAT16))
    exit_ = []
    for value in graph.output:
        if value.type.tensor_type.elem_type != TensorProto.FLOAT or value.name in produced_inside:
            continue
        half_name = f"{value.name}/fp16"
        rename_uses(outside, value.name, half_name, outputs=True)
        if seeds:  # a gradient: back to its true size
            scaled = f"{value.name}/scaled"
            exit_.append(_cast(half_name, scaled, TensorProto.FLOAT))
            inverse = f"{value.name}/inverse_seed_scale"
            graph.initializer.append(numpy_helper.from_array(np.asarray(1.0 / seed_scale, np.float32), inverse))
            exit_.append(helper.make_node("Mul", [scaled, inverse], [value.name], name=f"{value.name}/unscale"))
        else:
            exit_.append(_cast(half_name, value.name, TensorProto.FLOAT))
    nodes = _with_casts(list(graph.node), casts) + exit_
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.value_info[:]
    return out


def _half(value: np.ndarray) -> np.ndarray:
    return np.clip(value, -FP16_MAX, FP16_MAX).astype(np.float16)


def _cast(source: str, target: str, to: int) -> onnx.NodeProto:
    return helper.make_node("Cast", [source], [target], to=to, name=f"cast:{target}")  # not under objective/


def _is_seed(node: onnx.NodeProto) -> bool:
    return node.op_type == "ConstantOfShape" and any(SEED_MARK in o for o in node.output)


_INTEGERS = {TensorProto.INT64, TensorProto.INT32}


def _float32_island(nodes: Iterable[onnx.NodeProto], types: dict[str, int], constants: set[str]) -> list[onnx.NodeProto]:
    """The nodes that keep float32: the objective's, the backward seed, casts of integer sizes to float, and every
    node whose float inputs (constants aside) all come from those: the seed's way down to the objective's inputs,
    which ends where it meets a float16 activation."""
    island, produced = [], set()
    for node in nodes:
        floats_in = [i for i in node.input if types.get(i) == TensorProto.FLOAT and i not in constants]
        joins = (node.name.startswith(OBJECTIVE_PREFIX) or _is_seed(node)
                 or (node.op_type == "Cast" and types.get(node.input[0]) in _INTEGERS)
                 or (bool(floats_in) and all(i in produced for i in floats_in)))
        if joins:
            island.append(node)
            produced.update(node.output)
    return island


def _used_only_by(nodes: Iterable[onnx.NodeProto], others: Iterable[onnx.NodeProto]) -> set[str]:
    used = {i for n in nodes for i in n.input}
    return used - {i for n in others for i in n.input}


def _with_casts(nodes: list[onnx.NodeProto], casts: list[onnx.NodeProto]) -> list[onnx.NodeProto]:
    """``nodes`` (in topological order) with each cast right after the producer of its input, or first when that
    input is a graph input or an initializer: the order ONNX requires."""
    produced = {o for n in nodes for o in n.output}
    first = [c for c in casts if c.input[0] not in produced]
    after: dict[str, list[onnx.NodeProto]] = {}
    for cast in casts:
        if cast.input[0] in produced:
            after.setdefault(cast.input[0], []).append(cast)
    ordered = list(first)
    for node in nodes:
        ordered.append(node)
        for name in node.output:
            ordered.extend(after.get(name, []))
    return ordered
