"""Helpers on ONNX graphs: emitting nodes with unique names (objectives, step graphs), what shape inference knows of
each tensor, and walks over the nodes (what a node reads, which nodes an output needs)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper

from vis.kernels._emitter import Dim, reduce_axes_are_an_input


def tensor_types(model: onnx.ModelProto) -> dict[str, tuple[int, list[Dim] | None]]:
    """Element type and dims (ints, symbols or None; None for an unknown rank) of every tensor ONNX shape inference
    (with data propagation) can see, initializers included. Inference is best effort: where it fails, what the file
    itself declares."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except Exception:  # noqa: BLE001 - a graph inference cannot follow still has its declared types
        inferred = model
    out: dict[str, tuple[int, list[Dim] | None]] = {}
    g = inferred.graph
    for vi in [*g.input, *g.value_info, *g.output]:
        if not vi.type.HasField("tensor_type"):
            continue
        t = vi.type.tensor_type
        dims: list[Dim] | None = None
        if t.HasField("shape"):
            dims = [int(d.dim_value) if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim]
        out[vi.name] = (t.elem_type, dims)
    for init in g.initializer:
        out[init.name] = (init.data_type, [int(d) for d in init.dims])
    return out


def rename_uses(nodes: Sequence[onnx.NodeProto], old: str, new: str, outputs: bool = False) -> None:
    """Make ``nodes`` read (and, with ``outputs``, also write) tensor ``new`` wherever they named ``old``."""
    for node in nodes:
        fields = (node.input, node.output) if outputs else (node.input,)
        for names in fields:
            for i, name in enumerate(names):
                if name == old:
                    names[i] = new


def subgraph_inputs(node: onnx.NodeProto) -> set[str]:
    """Every tensor name a node's subgraph attributes read (outer-scope references included)."""
    names: set[str] = set()
    for a in node.attribute:
        for g in list(a.graphs) + ([a.g] if a.HasField("g") else []):
            for n in g.node:
                names.update(n.input)
                names |= subgraph_inputs(n)
    return names


def names_read(nodes: Iterable[onnx.NodeProto]) -> set[str]:
    """Every tensor name ``nodes`` read, by their own inputs or their subgraphs'."""
    names: set[str] = set()
    for node in nodes:
        names.update(i for i in node.input if i)
        names |= subgraph_inputs(node)
    return names


def needed_nodes(nodes: Sequence[onnx.NodeProto], outputs: Iterable[str]) -> list[onnx.NodeProto]:
    """The nodes that ``outputs`` depend on, in their order (names read by subgraphs count as read)."""
    needed = set(outputs)
    kept: list[onnx.NodeProto] = []
    for node in reversed(nodes):
        if any(o in needed for o in node.output):
            kept.append(node)
            needed |= names_read([node])
    kept.reverse()
    return kept


class GraphBuilder:
    """Collects nodes and constant initializers; every emitted tensor gets a fresh name under ``prefix``.

    ``opset``: the default-domain opset of the graph the nodes join; a Reduce* op given ``axes=`` gets them in the form
    that opset wants (:func:`vis.kernels._emitter.reduce_axes_are_an_input`).
    """

    def __init__(self, prefix: str = "vis", opset: int = 17):
        self.prefix = prefix
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{self.prefix}/{hint}_{self._count}"

    def const(self, value: np.ndarray | float | int | Sequence[int], hint: str = "const", dtype: type | None = None) -> str:
        array = np.asarray(value, dtype=dtype if dtype is not None else (np.int64 if isinstance(value, (int, list, tuple)) else np.float32))
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, inputs: Sequence[str], hint: str | None = None, outputs: int = 1, **attrs: object) -> str | list[str]:
        if op_type.startswith("Reduce") and "axes" in attrs and reduce_axes_are_an_input(op_type, self.opset):
            inputs = [*inputs, self.const(list(attrs.pop("axes")), "axes")]
        names = [self.fresh(hint or op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, name=names[0] + "_node", **attrs))
        return names[0] if outputs == 1 else names

    @classmethod
    def joining(cls, proto: onnx.ModelProto, prefix: str) -> "GraphBuilder":
        """A builder for nodes that join ``proto``'s graph (its default-domain opset)."""
        opset = next((int(i.version) for i in proto.opset_import if i.domain in ("", "ai.onnx")), 17)
        return cls(prefix, opset)

    def rename_output(self, tensor: str, new_name: str) -> str:
        """Make the node producing ``tensor`` write ``new_name`` instead (for named graph outputs)."""
        self.op("Identity", [tensor])
        self.nodes[-1].output[0] = new_name
        return new_name
