"""Reverse-mode differentiation of ONNX graphs: add ``d objective / d image`` as a graph output.

The forward graph is pruned to what the objective needs, the tensors that depend on the differentiated input are
found, and the per-operator gradient rules of :mod:`vis.kernels` emit the vector-Jacobian products in reverse
topological order, seeded with ones at the objective. Contributions to one tensor are summed. All shapes in the
emitted nodes come from runtime ``Shape`` nodes (or from static shapes where they are fully known), so dynamic
batch/height/width survive.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from vis.errors import VisError
from vis.exporters._graph import names_read, needed_nodes, tensor_types
from vis.exporters._native_routes import record_native_routes
from vis.kernels import NON_DIFFERENTIABLE_OPS, VARIANTS, Emitter, get_rule, supported_ops
from vis.kernels._emitter import FLOAT_TYPES, Dim, attr

__all__ = ["AutodiffError", "UnsupportedOperatorError", "add_input_gradient"]

MIN_OPSET = 13


class AutodiffError(VisError):
    """The graph cannot be differentiated as asked (missing input/objective, opset too old, name clash)."""


class UnsupportedOperatorError(AutodiffError):
    """A node on the path from the input to the objective has no gradient rule (or an unsupported configuration).

    Attributes:
        op_type: the operator type.
        node_name: the node's name.
        supported: the sorted op types the chosen variant supports.
    """

    def __init__(self, op_type: str, node_name: str, supported: list[str], reason: str | None = None) -> None:
        where = f"cannot differentiate operator {op_type!r} (node {node_name!r})"
        if reason:  # the operator has a rule, not for this configuration: the list would only name it again
            super().__init__(f"{where}: {reason}")
        else:  # ops that carry no gradient (shapes, comparisons) pass anyway: the list names those with a rule
            with_rule = [op for op in supported if op not in NON_DIFFERENTIABLE_OPS]
            super().__init__(f"{where}: it has no gradient rule. Operators with one: {', '.join(with_rule)}")
        self.op_type, self.node_name, self.supported, self.reason = op_type, node_name, supported, reason


def _default_opset(model: onnx.ModelProto) -> int:
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return int(imp.version)
    raise AutodiffError("the model imports no default-domain (ai.onnx) opset")


def _constant_values(graph: onnx.GraphProto, nodes: Iterable[onnx.NodeProto]) -> dict:
    values = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in nodes:
        if node.op_type == "Constant" and node.attribute:
            a = node.attribute[0]
            if a.name == "value":
                values[node.output[0]] = numpy_helper.to_array(a.t)
            elif a.name in ("value_float", "value_int", "value_floats", "value_ints"):
                dtype = np.float32 if "float" in a.name else np.int64
                values[node.output[0]] = np.asarray(helper.get_attribute_value(a), dtype=dtype)
    return values


def add_input_gradient(
    model: onnx.ModelProto,
    *,
    wrt: str = "image",
    objective: str = "objective",
    grad_name: str = "grad",
    variant: str = "fast",
) -> onnx.ModelProto:
    """A copy of ``model`` that outputs ``objective`` and its gradient with respect to the input ``wrt``.

    Args:
        model: ONNX model (default-domain opset 13 or newer) whose graph has the float input ``wrt`` (for example
            ``[N, 3, H, W]``, dynamic dims allowed) and computes a scalar (shape ``[]`` or ``[1]``) tensor
            ``objective``. Initializers are constants: no gradients for them.
        wrt: name of the graph input to differentiate with respect to.
        objective: name of the scalar tensor to differentiate (a graph output or any tensor of the graph).
        grad_name: name of the new output ``d objective / d wrt`` (same shape and type as ``wrt``).
        variant: ``"fast"`` (quickest on ORT CPU: strided MaxPool backward through its Indices and a scatter-add,
            stride-1 MaxPool backward index-free and separable, stride-1 transposed convolutions as Conv with
            flipped weights) or ``"tensorrt_safe"`` (no MaxPool
            Indices, no scatter reductions: index-free dense max-pool backward).

    Returns:
        A new model with outputs ``[objective, grad_name]``. Forward nodes the objective does not need are
        dropped; the opset, IR version and metadata are kept.

    Raises:
        UnsupportedOperatorError: a node between ``wrt`` and ``objective`` has no gradient rule in ``variant``.
        AutodiffError: ``wrt``/``objective`` not found, ``grad_name`` taken, opset older than 13.
        ValueError: unknown ``variant``.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown gradient variant {variant!r}; valid: {', '.join(VARIANTS)}")
    graph = model.graph
    opset = _default_opset(model)
    if opset < MIN_OPSET:
        raise AutodiffError(f"opset {opset} is older than {MIN_OPSET}; re-export the model with opset >= {MIN_OPSET}")
    inputs = {vi.name: vi for vi in graph.input}
    if wrt not in inputs:
        raise AutodiffError(f"graph has no input {wrt!r}; inputs: {', '.join(inputs) or '(none)'}")

    nodes = [onnx.NodeProto() for _ in graph.node]
    for copy, node in zip(nodes, graph.node):
        copy.CopyFrom(node)
    produced = {o for n in nodes for o in n.output if o}
    if objective not in produced and objective not in inputs:
        raise AutodiffError(f"graph has no tensor {objective!r} to differentiate")
    taken = produced | set(inputs) | {i.name for i in graph.initializer} | {n.name for n in nodes if n.name}
    if grad_name in taken:
        raise AutodiffError(f"output name {grad_name!r} is already used in the graph")
    taken.add(grad_name)

    kept = needed_nodes(nodes, [objective])  # prune what the objective does not need

    types = tensor_types(model)
    # Activity: tensors that depend on wrt through differentiable float paths.
    active = {wrt}
    active_nodes: list[onnx.NodeProto] = []
    for node in kept:
        if node.op_type in NON_DIFFERENTIABLE_OPS or not any(i in active for i in node.input):
            continue
        outs = [o for o in node.output if o and types.get(o, (TensorProto.FLOAT, None))[0] in FLOAT_TYPES]
        if node.op_type == "Cast" and int(attr(node, "to", 0)) not in FLOAT_TYPES:
            outs = []
        if node.op_type == "MaxPool" and len(node.output) > 1:
            outs = [node.output[0]]
        if outs:
            active.update(outs)
            active_nodes.append(node)

    supported = supported_ops(variant)
    for node in active_nodes:
        if get_rule(node.op_type, variant) is None:
            raise UnsupportedOperatorError(node.op_type, node.name, supported)

    ctx = Emitter(taken=taken, opset=opset, types=types, constants=_constant_values(graph, kept), variant=variant)
    parts: dict[str, list[str]] = {}
    if objective in active:
        one = helper.make_tensor("value", ctx.elem_type(objective), [1], [1])
        parts[objective] = [ctx.op("ConstantOfShape", [ctx.shape(objective)], hint="seed", value=one)]  # type: ignore[list-item]

    def total(name: str) -> str | None:
        got = parts.get(name)
        if not got:
            return None
        if len(got) > 1:
            # Conv outputs stay in ORT CPU's blocked layout through a Sum of their own; mixing them with other
            # terms in one Sum would reorder each of them back to NCHW first.
            convs = [g for g in got if ctx.producers.get(g) in ("Conv", "ConvTranspose")]
            if 1 < len(convs) < len(got):
                got[:] = [ctx.op("Sum", convs, hint="acc")] + [g for g in got if g not in convs]  # type: ignore[list-item]
            got[:] = [ctx.op("Sum", got, hint="acc")]  # type: ignore[list-item]
        return got[0]

    for node in reversed(active_nodes):
        out_grads = [total(o) if o in active else None for o in node.output]
        if all(g is None for g in out_grads):
            continue
        needs = [bool(i) and i in active for i in node.input]
        rule = get_rule(node.op_type, variant)
        try:
            in_grads = list(rule(ctx, node, out_grads, needs))  # type: ignore[misc]
        except NotImplementedError as e:
            raise UnsupportedOperatorError(node.op_type, node.name, supported, str(e)) from e
        in_grads += [None] * (len(node.input) - len(in_grads))
        for j, (name, need, g) in enumerate(zip(node.input, needs, in_grads)):
            if not need:
                continue
            if g is None:
                raise UnsupportedOperatorError(node.op_type, node.name, supported, f"no gradient for input {j}")
            parts.setdefault(name, []).append(g)

    final = total(wrt)
    if final is None:
        final = ctx.zeros_like(wrt)
    ctx.nodes.append(helper.make_node("Identity", [final], [grad_name], name=ctx.name("grad_output")))

    return _assemble(model, kept, ctx, objective, wrt, grad_name, types)


def _assemble(
    model: onnx.ModelProto,
    kept: list[onnx.NodeProto],
    ctx: Emitter,
    objective: str,
    wrt: str,
    grad_name: str,
    types: dict[str, tuple[int, list[Dim] | None]],
) -> onnx.ModelProto:
    graph = model.graph
    all_nodes = kept + ctx.nodes
    used = names_read(all_nodes)
    inputs = {vi.name for vi in graph.input}
    initializers = [t for t in graph.initializer if t.name in used or t.name in inputs]
    present = {o for n in all_nodes for o in n.output} | inputs

    outputs_by_name = {vi.name: vi for vi in graph.output}
    if objective in outputs_by_name:
        obj_vi = outputs_by_name[objective]
    else:
        elem, dims = types.get(objective, (TensorProto.FLOAT, None))
        obj_vi = helper.make_tensor_value_info(objective, elem, dims)
    grad_vi = onnx.ValueInfoProto()
    grad_vi.CopyFrom(next(vi for vi in graph.input if vi.name == wrt))
    grad_vi.name = grad_name

    new_graph = helper.make_graph(
        all_nodes,
        graph.name,
        list(graph.input),
        [obj_vi, grad_vi],
        initializer=initializers + ctx.initializers,
        value_info=[vi for vi in graph.value_info if vi.name in present and vi.name != objective],
        doc_string=graph.doc_string,
    )
    out = onnx.ModelProto()
    out.ir_version = model.ir_version
    out.opset_import.extend(model.opset_import)
    out.producer_name = model.producer_name
    out.producer_version = model.producer_version
    out.domain = model.domain
    out.model_version = model.model_version
    out.doc_string = model.doc_string
    out.metadata_props.extend(model.metadata_props)
    out.functions.extend(model.functions)
    out.graph.CopyFrom(new_graph)
    record_native_routes(out, ctx.native_routes)
    return out
