"""From a model and an objective to ONNX graphs: objective, input gradient, and the fused DeepDream ascent step."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from vis._step import STEP_EPS
from vis.errors import VisError
from vis.exporters._fold import fold_static_shapes
from vis.exporters._graph import GraphBuilder, rename_uses
from vis.exporters._layouts import channel_axes
from vis.exporters._objectives import GUIDE_INPUT, Objective
from vis.exporters._onnx_export import INPUT_NAME, ExportConfig, check, export_onnx, set_metadata
from vis.models import StagedNet, layer_table, model_spec

OBJECTIVE = "objective"
GRAD = "grad"


def objective_graph(model_name: str, model: StagedNet, objective: Objective, opset: int = 17, weights: str = "") -> onnx.ModelProto:
    """``image [, guide] -> objective`` (a scalar, summed over the batch) as one ONNX graph."""
    layers = objective.layers()
    if not layers:
        raise VisError(f"objective {objective} reads no layer of {model_name}: add a layer, channel or class term")
    proto = export_onnx(model_name, model, ExportConfig(layers=layers, opset=opset, weights=weights))
    shapes = {r.name: r.shape for r in layer_table(model_name)}
    return attach_objective(proto, objective, shapes)


def attach_objective(proto: onnx.ModelProto, objective: Objective, shapes: dict[str, tuple[int, ...]],
                     channels_last: frozenset[str] = frozenset()) -> onnx.ModelProto:
    """Append ``objective``'s nodes to a graph whose tensors include its layers; the only output becomes ``objective``.

    ``channels_last``: tensors (layers or the image) that are N, H, W, C; the objective reads them transposed to
    N, C, H, W, as it reads every other map. Forward work the objective does not need is left in place here and
    pruned by the autodiff.
    """
    g = GraphBuilder.joining(proto, "objective")

    def channels_first(tensor: str) -> str:
        return g.op("Transpose", [tensor], perm=[0, 3, 1, 2]) if tensor in channels_last else tensor

    value = objective.emit(g, {n: channels_first(n) for n in objective.layers()}, channels_first(INPUT_NAME))
    g.rename_output(value, OBJECTIVE)
    graph = proto.graph
    graph.node.extend(g.nodes)
    graph.initializer.extend(g.initializers)
    guide_layer = objective.needs_guide()
    if guide_layer:
        graph.input.append(helper.make_tensor_value_info(
            GUIDE_INPUT, TensorProto.FLOAT, [shapes[guide_layer][0], "guide_positions"], doc_string=(
                f"the guide image's activations at {guide_layer}, channels by positions: its (1, C, H, W) output "
                f"for the guide, reshaped to (C, H*W); each position of the image is scored by its best match")))
    # a file's outputs may be typed only where declared (a Reshape of computed sizes): keep what they say
    described = {info.name for info in graph.value_info}
    graph.value_info.extend(info for info in graph.output if info.name not in described)
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(OBJECTIVE, TensorProto.FLOAT, []))
    set_metadata(proto, {"vis.objective": str(objective)})
    return proto


def onnx_tensor_shapes(proto: onnx.ModelProto) -> dict[str, tuple[int, ...]]:
    """Per-sample shapes (without the batch axis) of every float tensor of a graph, by shape inference.

    Dimensions that are symbolic come out as 0. Where inference leaves a map's channels open (a ShuffleNet's channel
    shuffle, an op onnx infers no type for), one run of the graph on a blank image fills them in, and they are
    written into ``proto``'s value_info for the inference that follows.
    """
    inferred = onnx.shape_inference.infer_shapes(proto)
    weights = {i.name for i in proto.graph.initializer}  # dynamo files type them too: no image moves a weight
    shapes, not_float = {}, set()
    for info in [*inferred.graph.value_info, *inferred.graph.output]:
        t = info.type.tensor_type
        if t.elem_type not in (0, TensorProto.FLOAT):
            not_float.add(info.name)
        elif info.name not in weights and t.elem_type and t.HasField("shape") and len(t.shape.dim) >= 2:
            shapes[info.name] = tuple(d.dim_value for d in t.shape.dim[1:])
    # open: a float (or untyped) tensor without a shape, or one whose channels are 0 (TorchScript's opset 13 files
    # lose every shape after a Reshape of computed sizes)
    open_ = [t for n in proto.graph.node for t in n.output
             if t and t not in not_float and (t not in shapes or (len(shapes[t]) >= 2 and not shapes[t][0]))]
    if open_:
        found = _probed_shapes(proto, open_)
        shapes.update(found)
        _record_shapes(proto, found)
    return shapes


@dataclass(frozen=True)
class UserGraphShapes:
    """What an objective on a user's graph is parsed against.

    ``shapes``: per-sample shapes of the float tensors (:func:`onnx_tensor_shapes`), those of ``channels_last``
    tensors given as C, H, W (the objective reads them transposed). ``unknown_layout``: the 4-D tensors of an
    N, H, W, C graph whose channel axis could not be followed; they are read as N, C, H, W.
    """

    shapes: dict[str, tuple[int, ...]]
    channels_last: frozenset[str] = frozenset()
    unknown_layout: frozenset[str] = frozenset()


def user_graph_shapes(proto: onnx.ModelProto) -> UserGraphShapes:
    """:class:`UserGraphShapes` of a prepared user graph (its image input named ``image``)."""
    shapes = onnx_tensor_shapes(proto)
    if not is_channels_last(proto):
        return UserGraphShapes(shapes)
    axes = channel_axes(proto, INPUT_NAME, shapes)
    last = frozenset(t for t, axis in axes.items() if axis == 3)
    view = {t: (s[2], s[0], s[1]) if t in last else s for t, s in shapes.items()}
    unknown = frozenset(t for t, s in shapes.items() if len(s) == 3 and t not in axes)
    return UserGraphShapes(view, last, unknown)


def _record_shapes(proto: onnx.ModelProto, shapes: dict[str, tuple[int, ...]]) -> None:
    """Write probed per-sample shapes into the graph's value_info (0: open), so that the shape inference of the
    gradient's construction knows these tensors' ranks too, and from them those of the tensors after them."""
    replaced = [info for info in proto.graph.value_info if info.name not in shapes]
    del proto.graph.value_info[:]
    proto.graph.value_info.extend(replaced)
    proto.graph.value_info.extend(
        helper.make_tensor_value_info(name, TensorProto.FLOAT, [None, *(d or None for d in shape)])
        for name, shape in shapes.items())


_PROBE_SIDES = (64, 224)  # a blank image's sides where the input's are open: small first, then a classifier's own


def _probed_shapes(proto: onnx.ModelProto, tensors: list[str]) -> dict[str, tuple[int, ...]]:
    """The per-sample shapes of ``tensors`` found by running the graph on blank images (0: open). A dimension counts
    only where it stays the same for batches of 1 and 2 (where the batch is open) and, where the input's sides are
    open, for two sizes: a graph may move the batch off axis 0 (tf2onnx's dilated convolutions) or take N, H, W, C
    images. Nothing where the graph has other inputs or does not run."""
    import onnxruntime as ort

    initializers = {i.name for i in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in initializers]
    if len(inputs) != 1 or len(inputs[0].type.tensor_type.shape.dim) != 4:
        return {}
    dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 0 for d in inputs[0].type.tensor_type.shape.dim]
    static = all(dims[1:])
    channels_last = _channels_last(dims)
    batches = [dims[0]] if dims[0] else [1, 2]
    probe = onnx.ModelProto.FromString(proto.SerializeToString())
    del probe.graph.output[:]
    probe.graph.output.extend(onnx.helper.make_empty_tensor_value_info(t) for t in tensors)

    def blank(batch: int, side: int) -> np.ndarray:
        if channels_last:
            return np.zeros([batch, dims[1] or side, dims[2] or side, dims[3]], np.float32)
        return np.zeros([batch, dims[1] or 3, dims[2] or side, dims[3] or side], np.float32)

    for side in _PROBE_SIDES:
        runs = [(n, side) for n in batches] + ([] if static else [(batches[0], side + 16)])
        try:
            session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
            results = [session.run(None, {inputs[0].name: blank(*run)}) for run in runs]
        except Exception:  # noqa: BLE001 - ORT's own errors: a graph that does not run leaves its shapes open
            if static:
                return {}
            continue
        found = {}
        for k, name in enumerate(tensors):
            values = [np.asarray(r[k]) for r in results]
            if values[0].dtype != np.float32 or values[0].ndim < 2 or len({v.ndim for v in values}) != 1:
                continue
            found[name] = tuple(d if all(v.shape[a] == d for v in values) else 0
                                for a, d in enumerate(values[0].shape))[1:]
        return found
    return {}


def read_user_graph(path: Path) -> onnx.ModelProto:
    """A user's ONNX file, read and prepared (:func:`prepare_user_graph`).

    Raises:
        VisError: a missing file, one that is not ONNX, or a graph without a float image input.
    """
    if not path.exists():
        raise VisError(f"ONNX file not found: {path}")
    if path.is_file() and path.stat().st_size == 0:  # protobuf reads 0 bytes as an empty model
        raise VisError(f"not a readable ONNX file: {path} is empty (0 bytes)")
    try:
        proto = prepare_user_graph(onnx.load(str(path)))
    except VisError:
        raise
    except Exception as e:  # protobuf raises DecodeError and others for a foreign file
        raise VisError(f"not a readable ONNX file: {path} ({e})") from e
    outputs = {o.name for o in proto.graph.output}
    if {OBJECTIVE, GRAD} <= outputs:
        raise VisError(f"{path} is already a gradient graph (it outputs {OBJECTIVE} and {GRAD}): give the model file "
                       "it came from (vis export MODEL --layers ... writes one)")
    taken = sorted({OBJECTIVE, GRAD} & ({t for n in proto.graph.node for t in n.output} | outputs))
    if taken:
        raise VisError(f"{path} has a tensor named {taken[0]!r}, a name the gradient graph gives its own output: "
                       "rename it in the file")
    return proto


def user_gradient_graph(user: onnx.ModelProto, objective: Objective, shapes: dict[str, tuple[int, ...]],
                        variant: str = "fast", channels_last: frozenset[str] = frozenset()) -> onnx.ModelProto:
    """``image -> objective, grad`` for a prepared user graph, ``objective`` parsed on its ``shapes``
    (:func:`vis.exporters._objective_spec.parse_objective_for_graph`; those of ``channels_last`` tensors as C, H, W:
    :func:`user_graph_shapes`)."""
    from vis.exporters._autodiff import add_input_gradient

    proto = add_input_gradient(attach_objective(user, objective, shapes, channels_last), objective=OBJECTIVE,
                               grad_name=GRAD, variant=variant)
    set_metadata(proto, {"vis.variant": variant})  # as a vis model's gradient graph says which it is
    check(proto)
    return proto


def prepare_user_graph(proto: onnx.ModelProto) -> onnx.ModelProto:
    """A user's ONNX file with its image input renamed ``image``, as every vis graph has it: its one input, or of
    several the one float32 input of rank 4 (the others stay inputs of the gradient graph)."""
    proto = onnx.ModelProto.FromString(proto.SerializeToString())
    graph = proto.graph
    initializers = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    if not inputs:
        raise VisError("the ONNX graph has no input to differentiate with respect to")
    chosen = inputs[0]
    if len(inputs) > 1:  # the image is the one float input of N, C, H, W: another may be a scale or a mask
        images = [i for i in inputs if i.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
                  and len(i.type.tensor_type.shape.dim) == 4]
        if len(images) != 1:
            names = ", ".join(repr(i.name) for i in inputs)
            raise VisError(f"the graph has {len(inputs)} inputs ({names}) and {len(images) or 'none'} of them "
                           f"{'is' if len(images) == 1 else 'are'} a float32 image of rank 4 (N, C, H, W): vis "
                           "differentiates with respect to one image; export the model with that one input")
        chosen = images[0]
    old = chosen.name
    elem_type = chosen.type.tensor_type.elem_type
    if elem_type != onnx.TensorProto.FLOAT:
        kind = onnx.TensorProto.DataType.Name(elem_type).lower() if elem_type else "not a tensor"
        raise VisError(f"the graph's input {old!r} is {kind}: vis differentiates with respect to a float32 image "
                       "input; export the model with the float image as its input (before any Cast)")
    if old != INPUT_NAME:
        chosen.name = INPUT_NAME
        rename_uses(graph.node, old, INPUT_NAME)
    if graph.input[0].name != INPUT_NAME:  # first, where vis's graphs have it (and code that takes input 0 looks)
        ordered = sorted(graph.input, key=lambda i: i.name != INPUT_NAME)  # stable: the others keep their order
        copies = [onnx.ValueInfoProto.FromString(i.SerializeToString()) for i in ordered]
        del graph.input[:]
        graph.input.extend(copies)
    return proto


def gradient_graph(model_name: str, model: StagedNet, objective: Objective, variant: str = "fast", opset: int = 17, weights: str = "") -> onnx.ModelProto:
    """``image [, guide] -> objective, grad`` with ``grad`` = d objective / d image, built by ONNX autodiff.

    Args:
        variant: ``"fast"`` (fastest on ORT's CPU/CUDA providers) or ``"tensorrt_safe"`` (no MaxPool indices, no
            scatter reductions).
    """
    from vis.exporters._autodiff import add_input_gradient

    proto = add_input_gradient(objective_graph(model_name, model, objective, opset, weights), wrt=INPUT_NAME,
                               objective=OBJECTIVE, grad_name=GRAD, variant=variant)
    set_metadata(proto, {"vis.objective": str(objective), "vis.variant": variant})
    return proto


def is_channels_last(proto: onnx.ModelProto) -> bool:
    """Whether a graph's image input is N, H, W, C (tf2onnx's files): its last side is 1, 3 or 4 and its second not."""
    return _channels_last([d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim])


def _channels_last(dims: list[int]) -> bool:
    return len(dims) == 4 and dims[3] in (1, 3, 4) and dims[1] not in (1, 3, 4)


def step_graph(grad_proto: onnx.ModelProto, value_range: tuple[float, float] = (0.0, 1.0),
               size: tuple[int, int] | None = None, channels_last: bool = False) -> onnx.ModelProto:
    """The fused ascent step of google/deepdream's ``make_step`` around a gradient graph.

    Inputs ``image`` (N, C, H, W), ``shift`` (int64 [dy, dx]) and ``step_size`` (float scalar) [, ``guide``];
    outputs ``image_out`` and ``objective``:
    roll the image by the shift, take the gradient, roll the gradient back, divide by mean |g| (+``STEP_EPS``), add
    step_size times that, clip to the model's valid pixel range.

    Args:
        size: ``None`` for any H, W (the roll slices at offsets computed from the shift on the host side of the
            runtime), or a fixed (H, W): the graph then takes one image of that size, its shape arithmetic is
            folded into constants (:func:`vis.exporters._fold.fold_static_shapes`) and the roll is a Gather with
            indices computed on the device from the shift, so no value goes back to the host and nothing in the
            run depends on the shift's value but data. CUDA graph replay needs that form.
        channels_last: the image is (N, H, W, C), as a user's file may take it: H and W are axes 1 and 2 (any size).
    """
    spatial = (1, 2) if channels_last else (2, 3)
    if channels_last and size is not None:
        raise VisError("a fixed-size step graph is made for vis's own N, C, H, W graphs")
    proto = onnx.ModelProto()
    proto.CopyFrom(grad_proto)
    graph = proto.graph
    rolled = "step/rolled_image"
    rename_uses(graph.node, INPUT_NAME, rolled)  # the gradient graph now reads the rolled image
    g = GraphBuilder.joining(proto, "step")
    pre: list[onnx.NodeProto] = []
    shift = "shift"

    def roll(x: str, sign: int) -> str:
        """np.roll over H and W by ``sign * shift`` (dynamic shift, dynamic size)."""
        if size is not None:
            return gather_roll(x, sign)
        shape = g.op("Shape", [x])
        for k, axis in enumerate(spatial):
            n = g.op("Gather", [shape, g.const(axis)], axis=0)
            s = g.op("Gather", [shift, g.const(k)], axis=0)
            if sign < 0:
                s = g.op("Neg", [s])
            s = g.op("Mod", [g.op("Add", [g.op("Mod", [s, n], fmod=0), n]), n], fmod=0)
            cut = g.op("Unsqueeze", [g.op("Sub", [n, s]), g.const([0])])
            ax = g.const([axis])
            tail = g.op("Slice", [x, cut, g.const([2**62]), ax])
            head = g.op("Slice", [x, g.const([0]), cut, ax])
            x = g.op("Concat", [tail, head], axis=axis)
        return x

    def gather_roll(x: str, sign: int) -> str:
        """np.roll for a fixed (H, W): out[i] = x[(i - s) mod n] along each axis, the indices computed on the device."""
        for axis, n in zip((2, 3), size):
            s = g.op("Gather", [shift, g.const(axis - 2)], axis=0)
            at = g.op("Sub" if sign > 0 else "Add", [g.const(np.arange(n), dtype=np.int64), s])
            x = g.op("Gather", [x, g.op("Mod", [at, g.const(n)], fmod=0)], axis=axis)
        return x

    if size is not None and (len(size) != 2 or min(size) < 1):
        raise VisError(f"a fixed-size step graph needs a size (H, W) >= 1, got {size}")
    roll(INPUT_NAME, +1)
    g.nodes[-1].output[0] = rolled  # the roll's last node writes the tensor the gradient graph reads
    pre.extend(g.nodes)
    g.nodes.clear()
    grad = roll(GRAD, -1)
    mean_abs = g.op("ReduceMean", [g.op("Abs", [grad])], keepdims=0)
    scale = g.op("Div", ["step_size", g.op("Add", [mean_abs, g.const(np.float32(STEP_EPS))])])
    moved = g.op("Add", [INPUT_NAME, g.op("Mul", [grad, scale])])
    g.op("Clip", [moved, g.const(np.float32(value_range[0])), g.const(np.float32(value_range[1]))])
    g.nodes[-1].output[0] = "image_out"
    nodes = pre + list(graph.node) + g.nodes
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(g.initializers)
    lo, hi = value_range
    graph.input.append(helper.make_tensor_value_info("shift", TensorProto.INT64, [2], doc_string=(
        "the jitter: [dy, dx] pixels the image is rolled by before the gradient (and the gradient back after)")))
    graph.input.append(helper.make_tensor_value_info("step_size", TensorProto.FLOAT, [], doc_string=(
        f"mean pixel change per step in the image's own units ({lo:g}..{hi:g}): vis dream's --step is in 8-bit units, "
        f"so its default 1.5 is {1.5 * (hi - lo) / 255:.4g} here; the mean is over the whole batch, which shares one "
        f"step size")))
    image_type = graph.input[0].type
    if size is not None:
        dims = image_type.tensor_type.shape.dim
        for d, n in zip(dims[2:], size):
            d.dim_value = n
    del graph.output[:]
    out = graph.output.add()
    out.name = "image_out"
    out.type.CopyFrom(image_type)
    graph.output.append(helper.make_tensor_value_info(OBJECTIVE, TensorProto.FLOAT, []))
    if size is not None:
        # one image of a fixed size: every shape value is a constant, so nothing is left for a GPU provider to run on
        # the CPU (one such node would stop CUDA graph capture)
        channels = image_type.tensor_type.shape.dim[1].dim_value
        proto = fold_static_shapes(proto, {INPUT_NAME: (1, channels, *size)})
    check(proto)
    return proto


def model_value_range(model_name: str) -> tuple[float, float]:
    return model_spec(model_name).preprocessing.value_range
