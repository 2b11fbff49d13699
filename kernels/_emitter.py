"""The node emitter that gradient rules write into.

A rule (see :mod:`vis.kernels._registry`) receives an :class:`Emitter` and the forward ``NodeProto``. It appends
ONNX nodes through :meth:`Emitter.op`, adds constants through :meth:`Emitter.const` and reads what is statically
known about forward tensors (shape, rank, constant value) through the query methods. Every emitted node is valid
at the forward graph's opset (13 or newer): the emitter picks the attribute or input form where an op changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

Dim = int | str | None
"""One static dimension: a known size, a symbolic name, or unknown."""

FLOAT_TYPES = frozenset(
    {TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16}
)


def reduce_axes_are_an_input(op_type: str, opset: int) -> bool:
    """Whether a Reduce* op at ``opset`` takes its axes as an input (ReduceSum from opset 13, the others from 18)
    rather than as an attribute."""
    return opset >= (13 if op_type == "ReduceSum" else 18)


class Emitter:
    """Collects the backward nodes and initializers and answers questions about forward tensors.

    Args:
        taken: every name already used in the forward graph (tensors and nodes); emitted names avoid them.
        opset: the default-domain opset of the forward graph.
        types: forward tensor name -> (elem_type, dims or None) from ONNX shape inference.
        constants: forward tensor name -> value, for initializers and ``Constant`` outputs.
        variant: the rule variant being emitted (``"fast"`` or ``"tensorrt_safe"``).
    """

    def __init__(
        self,
        *,
        taken: set[str],
        opset: int,
        types: dict[str, tuple[int, list[Dim] | None]],
        constants: dict[str, np.ndarray],
        variant: str,
    ) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[TensorProto] = []
        self.opset = opset
        self.variant = variant
        self._taken = taken
        self._types = types
        self._constants = constants
        self._counter = 0
        self._shape_cache: dict[str, str] = {}
        self._const_cache: dict[tuple[Any, ...], str] = {}
        self.producers: dict[str, str] = {}
        """Emitted tensor name -> op type of the node that made it."""
        self.native_routes: list[dict[str, Any]] = []
        """Backward results a native CPU kernel can compute in one node (see :meth:`native_route`)."""

    # ------------------------------------------------------------------ naming and emission
    def name(self, hint: str) -> str:
        """A fresh tensor or node name derived from ``hint``."""
        while True:
            self._counter += 1
            candidate = f"vjp/{hint}_{self._counter}"
            if candidate not in self._taken:
                self._taken.add(candidate)
                return candidate

    def op(
        self,
        op_type: str,
        inputs: Sequence[str],
        n_out: int = 1,
        *,
        hint: str | None = None,
        **attrs: Any,
    ) -> str | list[str]:
        """Append one node; returns its output name (or the list of names when ``n_out > 1``)."""
        base = hint or op_type
        outputs = [self.name(base) for _ in range(n_out)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(helper.make_node(op_type, list(inputs), outputs, name=self.name(op_type), **attrs))
        self.producers.update((o, op_type) for o in outputs)
        return outputs[0] if n_out == 1 else outputs

    def native_route(self, op_type: str, inputs: Sequence[str], output: str, **attrs: Any) -> None:
        """Record that ``output`` (emitted by the current rule) equals ``vis.native::op_type(*inputs, **attrs)``.

        The graph keeps its standard ONNX nodes; a CPU session may swap them for the native kernel
        (:mod:`vis.exporters._native_routes`). Only float32 fast-variant gradients are recorded.
        """
        if self.variant == "fast" and all(self.elem_type(t) == TensorProto.FLOAT for t in (*inputs, output)):
            self.native_routes.append({"op": op_type, "inputs": list(inputs), "output": output, "attrs": attrs})

    def const(self, value: np.ndarray, hint: str = "const") -> str:
        """An initializer holding ``value`` (small constants are shared)."""
        value = np.asarray(value)
        key: tuple[Any, ...] | None = None
        if value.size <= 16:
            key = (value.dtype.str, value.shape, value.tobytes())
            if key in self._const_cache:
                return self._const_cache[key]
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(value, name))
        if key is not None:
            self._const_cache[key] = name
        return name

    def ints(self, values: Sequence[int]) -> str:
        """A 1-D int64 constant."""
        return self.const(np.asarray(list(values), dtype=np.int64), "ints")

    def scalar(self, value: float, like: str | None = None, shape: tuple[int, ...] = ()) -> str:
        """A float constant with the element type of ``like`` (float32 when unknown)."""
        dtype = self.np_dtype(like) if like is not None else np.dtype(np.float32)
        return self.const(np.full(shape, value, dtype=dtype), "scalar")

    # ------------------------------------------------------------------ static knowledge
    def elem_type(self, tensor: str) -> int:
        """ONNX element type of a forward tensor (FLOAT when unknown)."""
        info = self._types.get(tensor)
        return info[0] if info and info[0] else TensorProto.FLOAT

    def np_dtype(self, tensor: str) -> np.dtype:
        return np.dtype(helper.tensor_dtype_to_np_dtype(self.elem_type(tensor)))

    def static_shape(self, tensor: str) -> list[Dim] | None:
        """Inferred dims of a forward tensor (ints, symbols or None), or None when even the rank is unknown."""
        if tensor in self._constants:
            return list(self._constants[tensor].shape)
        info = self._types.get(tensor)
        return None if info is None or info[1] is None else list(info[1])

    def rank(self, tensor: str) -> int | None:
        shape = self.static_shape(tensor)
        return None if shape is None else len(shape)

    def value(self, tensor: str) -> np.ndarray | None:
        """The constant value of a forward tensor (initializer or Constant output), or None."""
        if not tensor:
            return None
        return self._constants.get(tensor)

    # ------------------------------------------------------------------ shape helpers (runtime)
    def shape(self, tensor: str) -> str:
        """``Shape(tensor)`` (one node per tensor)."""
        if tensor not in self._shape_cache:
            self._shape_cache[tensor] = self.op("Shape", [tensor], hint="shape")  # type: ignore[assignment]
        return self._shape_cache[tensor]

    def dims(self, tensor: str, start: int, end: int | None = None) -> str:
        """Runtime dims ``shape[start:end]`` as a 1-D int64 tensor."""
        static = self.static_shape(tensor)
        if static is not None:
            sel = static[start:end]
            if all(isinstance(d, int) for d in sel):
                return self.ints(sel)  # type: ignore[arg-type]
        ends = [end] if end is not None else [np.iinfo(np.int64).max]
        return self.op("Slice", [self.shape(tensor), self.ints([start]), self.ints(ends)], hint="dims")  # type: ignore[return-value]

    def zeros_like(self, tensor: str) -> str:
        """Zeros with the runtime shape and element type of a forward tensor."""
        value = helper.make_tensor("value", self.elem_type(tensor), [1], [0])
        return self.op("ConstantOfShape", [self.shape(tensor)], hint="zeros", value=value)  # type: ignore[return-value]

    def reduce(self, op_type: str, x: str, axes: Sequence[int] | str | None, keepdims: int = 1) -> str:
        """A Reduce* node with ``axes`` in the form the opset wants (see :func:`reduce_axes_are_an_input`)."""
        axes_as_input = reduce_axes_are_an_input(op_type, self.opset)
        if axes is None:
            return self.op(op_type, [x], keepdims=keepdims)  # type: ignore[return-value]
        if axes_as_input:
            axes_name = axes if isinstance(axes, str) else self.ints(axes)
            return self.op(op_type, [x, axes_name], keepdims=keepdims)  # type: ignore[return-value]
        if isinstance(axes, str):
            raise ValueError(f"{op_type} at opset {self.opset} needs static axes")
        return self.op(op_type, [x], keepdims=keepdims, axes=list(axes))  # type: ignore[return-value]

    def unsqueeze(self, x: str, axes: Sequence[int]) -> str:
        return self.op("Unsqueeze", [x, self.ints(axes)])  # type: ignore[return-value]

    def reshape_like(self, g: str, tensor: str) -> str:
        """Reshape ``g`` to the runtime shape of the forward tensor ``tensor``."""
        return self.op("Reshape", [g, self.shape(tensor)])  # type: ignore[return-value]

    def unbroadcast(self, g: str, x: str, out: str) -> str:
        """Sum ``g`` (shaped like the broadcast result ``out``) down to the shape of operand ``x``.

        Uses static shapes when they decide the reduced axes; otherwise finds the axes at runtime
        (``NonZero(Equal(padded_shape(x), 1))``) so dynamic shapes stay exact.
        """
        sx, so = self.static_shape(x), self.static_shape(out)
        if sx is not None and so is not None and len(so) >= len(sx):
            lead = len(so) - len(sx)
            axes = list(range(lead))
            decided = True
            for i, d in enumerate(sx):
                o = so[lead + i]
                if d == 1:
                    if o != 1:
                        axes.append(lead + i)
                elif (isinstance(d, int) and d > 1) or (d is not None and d == o):
                    continue
                else:
                    decided = False
                    break
            if decided:
                if not axes:
                    return g
                red = self.reduce("ReduceSum", g, axes, keepdims=1)
                return self.reshape_like(red, x) if lead else red
        rx, ro = self.rank(x), self.rank(out)
        if rx is not None and ro is not None:
            padded = self.shape(x)
            if ro > rx:
                padded = self.op("Concat", [self.ints([1] * (ro - rx)), padded], axis=0)  # type: ignore[assignment]
        else:
            diff = self.op("Sub", [self.op("Size", [self.shape(out)]), self.op("Size", [self.shape(x)])])
            one = helper.make_tensor("value", TensorProto.INT64, [1], [1])
            ones = self.op("ConstantOfShape", [self.op("Reshape", [diff, self.ints([1])])], value=one)
            padded = self.op("Concat", [ones, self.shape(x)], axis=0)  # type: ignore[assignment]
        is_one = self.op("Equal", [padded, self.ints([1])])
        axes_t = self.op("Reshape", [self.op("NonZero", [is_one]), self.ints([-1])])
        red = self.op("ReduceSum", [g, axes_t], keepdims=1, noop_with_empty_axes=1)
        return self.reshape_like(red, x)  # type: ignore[arg-type]

    def fit_spatial(
        self, g: str, x: str, first_axis: int, pad_end: Sequence[int], start: Sequence[int] | str | None = None
    ) -> str:
        """Make the trailing spatial dims of ``g`` equal those of ``x``.

        ``g`` (from offset ``start``, default 0; static, or a 1-D int64 tensor computed at run time) is at most
        ``pad_end[i]`` short at the end of spatial axis ``i`` and may be longer; it is padded with zeros by the
        static ``pad_end`` amounts and sliced to ``x``'s runtime size.
        """
        n = len(pad_end)
        if any(pad_end):
            rank = first_axis + n
            pads = [0] * rank + [0] * first_axis + list(pad_end)
            g = self.op("Pad", [g, self.ints(pads)], mode="constant")  # type: ignore[assignment]
        axes = list(range(first_axis, first_axis + n))
        size = self.dims(x, first_axis, first_axis + n)
        if isinstance(start, str):
            return self.op("Slice", [g, start, self.op("Add", [size, start]), self.ints(axes)])  # type: ignore[return-value]
        start = list(start) if start is not None else [0] * n
        end = self.op("Add", [size, self.ints(start)]) if any(start) else size
        return self.op("Slice", [g, self.ints(start), end, self.ints(axes)])  # type: ignore[return-value]

    def forward_output(self, node: onnx.NodeProto, index: int, hint: str = "aux") -> str:
        """Make the forward ``node`` produce its optional output ``index`` and return that output's name."""
        while len(node.output) <= index:
            node.output.append("")
        if not node.output[index]:
            node.output[index] = self.name(hint)
        return node.output[index]


def attr(node: onnx.NodeProto, name: str, default: Any = None) -> Any:
    """The value of attribute ``name`` of ``node`` (strings decoded), or ``default``."""
    for a in node.attribute:
        if a.name == name:
            value = helper.get_attribute_value(a)
            return value.decode() if isinstance(value, bytes) else value
    return default


def optional_input(node: onnx.NodeProto, index: int) -> str:
    """The name of input ``index`` or ``""`` when it is absent."""
    return node.input[index] if len(node.input) > index else ""
