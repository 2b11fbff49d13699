"""Swapping backward subgraphs for vis's native CPU kernels (MaxPoolGrad, ReluGrad) in a finished graph.

Gradient rules emit standard ONNX only, so every exported graph runs anywhere. Where a native kernel computes the
same tensor in one node, the rule records it (:meth:`vis.kernels.Emitter.native_route`) and the autodiff stores the
records in the model's metadata. A CPU session with the native library loaded (:mod:`vis.engine._native`) then
replaces each recorded result's producer with the native node and drops what only fed it: MaxPool's ``Indices``
output, the scatter-add, the equality masks of stride-1 pools, ReLU's Greater/Cast/Mul.
"""

from __future__ import annotations

import json
from typing import Any

import onnx
from onnx import helper

from vis.exporters._graph import names_read, needed_nodes

NATIVE_ROUTES_KEY = "vis.native_routes"
NATIVE_DOMAIN = "vis.native"


def record_native_routes(proto: onnx.ModelProto, routes: list[dict[str, Any]]) -> None:
    """Store ``routes`` (the emitter's records) in ``proto``'s metadata, replacing earlier ones."""
    for i in reversed(range(len(proto.metadata_props))):
        if proto.metadata_props[i].key == NATIVE_ROUTES_KEY:
            del proto.metadata_props[i]
    if routes:
        proto.metadata_props.add(key=NATIVE_ROUTES_KEY, value=json.dumps(routes))


def native_routes(proto: onnx.ModelProto) -> list[dict[str, Any]]:
    """The routes recorded in ``proto`` (empty when none)."""
    for entry in proto.metadata_props:
        if entry.key == NATIVE_ROUTES_KEY:
            return json.loads(entry.value)
    return []


def apply_native_routes(proto: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """A copy of ``proto`` computing each recorded route with its native node, and how many were applied.

    A route applies when its output is produced by a node of the main graph and its inputs exist; others (a graph
    edited since, say) are left as they are. ``proto`` itself is returned when no route applies.
    """
    routes = native_routes(proto)
    graph = proto.graph
    producer = {o: i for i, n in enumerate(graph.node) for o in n.output if o}
    available = set(producer) | {v.name for v in graph.input} | {t.name for t in graph.initializer}
    swaps: dict[int, onnx.NodeProto] = {}
    for k, route in enumerate(routes):
        at = producer.get(route["output"])
        if at is None or at in swaps or not all(i in available for i in route["inputs"]):
            continue
        swaps[at] = helper.make_node(route["op"], route["inputs"], [route["output"]], name=f"native/{route['op']}_{k}",
                                     domain=NATIVE_DOMAIN, **route["attrs"])
    if not swaps:
        return proto, 0
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    nodes = [swaps.get(i, n) for i, n in enumerate(out.graph.node)]
    _replace_nodes(out.graph, needed_nodes(nodes, [o.name for o in out.graph.output]))
    if not any(op.domain == NATIVE_DOMAIN for op in out.opset_import):
        out.opset_import.append(helper.make_opsetid(NATIVE_DOMAIN, 1))
    record_native_routes(out, [])
    return out, len(swaps)


def _replace_nodes(graph: onnx.GraphProto, nodes: list[onnx.NodeProto]) -> None:
    used = names_read(nodes) | {o.name for o in graph.output}
    for n in nodes:
        if n.op_type == "MaxPool" and len(n.output) > 1 and n.output[1] not in used:
            del n.output[1:]  # Indices nobody reads: the plain MaxPool is ORT's fast one
    del graph.node[:]
    graph.node.extend(nodes)
    initializers = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    produced = {o for n in nodes for o in n.output}
    value_info = [v for v in graph.value_info if v.name in produced]
    del graph.value_info[:]
    graph.value_info.extend(value_info)
