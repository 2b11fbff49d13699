"""Small ONNX graphs for the frame loop, so a frame can stay on the device between the ascent steps.

Each graph does one job of the host loop in :mod:`vis.engine._dream`: convert a camera frame to the model's image
(``preprocess``), build the octave pyramid (``resize``), carry the dreamed detail to the next octave
(``detail_carry``), warp the previous dream by the optical flow (``warp``), blend it into the new frame (``blend``)
and convert the result back to a frame (``postprocess``). Sizes are dynamic; target sizes are int64 ``[h, w]``
inputs, which ORT reads on the host side even on CUDA, so no image data leaves the device.

Resizing is ONNX ``Resize`` linear with ``half_pixel`` coordinates: it equals OpenCV's ``INTER_LINEAR`` and torch's
bilinear (align_corners=False). When shrinking, plain linear interpolation reads only the two nearest pixels per
axis and aliases; ``antialias=1`` (opset 18) widens the linear (tent) filter by the shrink factor, as torch's
``interpolate(..., antialias=True)`` and PIL's bilinear do. ORT's antialiased filter equals torch's away from the
borders; at a border ORT gives the taps that fall outside to the edge pixel where torch renormalises over the taps
inside (measured on ORT 1.32). The host loop shrinks with OpenCV's ``INTER_AREA`` (a box filter); no ONNX op has that,
so device and host pyramids differ slightly (the tent is a little smoother; both keep the mean). ``antialias`` does
nothing when growing.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from vis.errors import VisError
from vis.exporters._graph import GraphBuilder

FRAME_OPSET = 18  # Resize's antialias and axes attributes
FRAME_SOURCES = ("bgr_uint8", "rgb_float")  # OpenCV's camera/video frames, or vis' HxWx3 float RGB images


class FrameGraphError(VisError):
    """An unknown frame layout or an impossible setting of a frame graph."""


def _model(g: GraphBuilder, name: str, inputs: list[onnx.ValueInfoProto], outputs: list[onnx.ValueInfoProto]) -> onnx.ModelProto:
    graph = helper.make_graph(g.nodes, name, inputs, outputs, initializer=g.initializers)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", FRAME_OPSET)], producer_name="vis")
    proto.ir_version = 8  # ORT 1.32 reads IR 8 to 10; 8 keeps older runtimes working
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _image(name: str, h: str | int = "h", w: str | int = "w") -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, 3, h, w])


def _size_input() -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info("size", TensorProto.INT64, [2])


def _resize(g: GraphBuilder, x: str, sizes: str, antialias: bool) -> str:
    """Resize H and W (axes 2, 3) of an NCHW tensor to ``sizes`` = [h, w]."""
    return g.op("Resize", [x, "", "", sizes], mode="linear", coordinate_transformation_mode="half_pixel",
                antialias=int(antialias), axes=[2, 3])


def _check_layout(layout: str) -> None:
    if layout not in FRAME_SOURCES:
        raise FrameGraphError(f"unknown frame layout {layout!r}; valid: {', '.join(FRAME_SOURCES)}")


def resize_graph(antialias: bool = True) -> onnx.ModelProto:
    """``image`` (1, 3, h, w), ``size`` int64 [H, W] -> ``resized`` (1, 3, H, W); builds the octave pyramid."""
    g = GraphBuilder("resize")
    g.rename_output(_resize(g, "image", "size", antialias), "resized")
    return _model(g, "vis_resize", [_image("image"), _size_input()], [_image("resized", "H", "W")])


def preprocess_graph(source: str = "bgr_uint8", antialias: bool = True) -> onnx.ModelProto:
    """A frame to the model's image at a chosen size.

    Inputs ``frame`` (H, W, 3): uint8 BGR (``bgr_uint8``, as OpenCV reads it) or float32 RGB in [0, 1]
    (``rgb_float``), and ``size`` int64 [h, w]. Output ``image`` (1, 3, h, w) float32 RGB in [0, 1]. The uint8
    scaling is the host's (``x * float32(1/255)``), so at the frame's own size the result is bit-exact.
    """
    _check_layout(source)
    g = GraphBuilder("preprocess")
    x = "frame"
    if source == "bgr_uint8":
        x = g.op("Mul", [g.op("Cast", [x], to=TensorProto.FLOAT), g.const(np.float32(1.0 / 255.0))])
        x = g.op("Gather", [x, g.const([2, 1, 0])], axis=2)  # BGR -> RGB
    x = g.op("Unsqueeze", [g.op("Transpose", [x], perm=[2, 0, 1]), g.const([0])])
    g.rename_output(_resize(g, x, "size", antialias), "image")
    dtype = TensorProto.UINT8 if source == "bgr_uint8" else TensorProto.FLOAT
    frame = helper.make_tensor_value_info("frame", dtype, ["H", "W", 3])
    return _model(g, f"vis_preprocess_{source}", [frame, _size_input()], [_image("image")])


def postprocess_graph(target: str = "bgr_uint8", antialias: bool = True) -> onnx.ModelProto:
    """The model's image back to a frame at a chosen size.

    Inputs ``image`` (1, 3, h, w) float32 RGB and ``size`` int64 [H, W]; output ``frame`` (H, W, 3): uint8 BGR
    (``bgr_uint8``: clip to [0, 1], x 255, round half up, as :func:`vis.engine._images.to_uint8`) or float32 RGB
    (``rgb_float``, not clipped).
    """
    _check_layout(target)
    g = GraphBuilder("postprocess")
    x = g.op("Transpose", [g.op("Squeeze", [_resize(g, "image", "size", antialias), g.const([0])])], perm=[1, 2, 0])
    if target == "bgr_uint8":
        x = g.op("Gather", [x, g.const([2, 1, 0])], axis=2)
        x = g.op("Clip", [x, g.const(np.float32(0.0)), g.const(np.float32(1.0))])
        x = g.op("Floor", [g.op("Add", [g.op("Mul", [x, g.const(np.float32(255.0))]), g.const(np.float32(0.5))])])
        x = g.op("Cast", [x], to=TensorProto.UINT8)
    g.rename_output(x, "frame")
    dtype = TensorProto.UINT8 if target == "bgr_uint8" else TensorProto.FLOAT
    frame = helper.make_tensor_value_info("frame", dtype, ["H", "W", 3])
    return _model(g, f"vis_postprocess_{target}", [_image("image"), _size_input()], [frame])


def detail_carry_graph() -> onnx.ModelProto:
    """The next octave's start: ``next_base + resize(dreamed - base)`` to ``next_base``'s size.

    Inputs ``dreamed`` and ``base`` (1, 3, h, w), ``next_base`` (1, 3, H, W); output ``start`` (1, 3, H, W). The
    detail only ever grows here, so the resize is plain linear (equal to OpenCV's ``INTER_LINEAR``).
    """
    g = GraphBuilder("carry")
    detail = g.op("Sub", ["dreamed", "base"])
    size = g.op("Slice", [g.op("Shape", ["next_base"]), g.const([2]), g.const([4])])
    g.rename_output(g.op("Add", ["next_base", _resize(g, detail, size, antialias=False)]), "start")
    return _model(g, "vis_detail_carry", [_image("dreamed"), _image("base"), _image("next_base", "H", "W")],
                  [_image("start", "H", "W")])


def blend_graph() -> onnx.ModelProto:
    """``start = blend * warped + (1 - blend) * frame`` for (1, 3, h, w) images and a float scalar ``blend``."""
    g = GraphBuilder("blend")
    a = g.op("Mul", ["blend", "warped"])
    b = g.op("Mul", [g.op("Sub", [g.const(np.float32(1.0)), "blend"]), "frame"])
    g.rename_output(g.op("Add", [a, b]), "start")
    scalar = helper.make_tensor_value_info("blend", TensorProto.FLOAT, [])
    return _model(g, "vis_blend", [_image("warped"), _image("frame"), scalar], [_image("start")])


def warp_graph() -> onnx.ModelProto:
    """Sample ``image`` (1, 3, h, w) at each pixel moved by ``flow`` (h', w', 2) float32 [dx, dy] -> ``warped``.

    The device version of :func:`vis.engine._flow.warp` (OpenCV ``remap``, ``INTER_LINEAR``, ``BORDER_REFLECT``):
    bilinear ``GridSample`` with ``reflection`` padding and ``align_corners=0`` reflects about the outer pixel edges,
    as ``BORDER_REFLECT`` does. Positions go through GridSample's normalised [-1, 1] coordinates. A flow smaller than
    the image is in its own pixels (computed on a small copy of the frame): it is resized to (h, w) as OpenCV's
    ``INTER_LINEAR`` would and scaled by w / w' and h / h', so only the small field has to go up to the device.
    """
    g = GraphBuilder("warp")
    image_hw = g.op("Shape", ["image"], start=2)
    flow_hw = g.op("Shape", ["flow"], end=2)
    field = g.op("Unsqueeze", [g.op("Transpose", ["flow"], perm=[2, 0, 1]), g.const([0])])  # (1, 2, h', w')
    # the sizes of all four axes: with ``axes`` and [h, w] from a Shape, ORT 1.32's shape inference rejects the node
    sizes = g.op("Concat", [g.const([1, 2]), image_hw], axis=0)
    field = g.op("Resize", [field, "", "", sizes], mode="linear", coordinate_transformation_mode="half_pixel")
    image_hw = g.op("Cast", [image_hw], to=TensorProto.FLOAT)
    flow_hw = g.op("Cast", [flow_hw], to=TensorProto.FLOAT)
    positions = []
    # channel 0 is x: its field scaled by w / w', plus the column index (1, w); channel 1 is y, from the rows (h, 1)
    for channel, dim, spread in ((0, 1, [0, 1, 2]), (1, 0, [0, 1, 3])):
        n = g.op("Gather", [image_hw, g.const(dim)], axis=0)
        scale = g.op("Div", [n, g.op("Gather", [flow_hw, g.const(dim)], axis=0)])
        at = g.op("Range", [g.const(np.float32(0.0)), n, g.const(np.float32(1.0))])
        at = g.op("Unsqueeze", [at, g.const(spread)])  # (1, 1, 1, w) or (1, 1, h, 1): broadcasts over the other axis
        f = g.op("Slice", [field, g.const([channel]), g.const([channel + 1]), g.const([1])])
        pos = g.op("Add", [g.op("Mul", [f, scale]), at])
        # pixel centre p -> normalised (2p + 1) / n - 1, align_corners=0's convention
        positions.append(g.op("Sub", [g.op("Div", [g.op("Add", [g.op("Mul", [pos, g.const(np.float32(2.0))]),
                                                                g.const(np.float32(1.0))]), n]), g.const(np.float32(1.0))]))
    grid = g.op("Transpose", [g.op("Concat", positions, axis=1)], perm=[0, 2, 3, 1])  # (1, h, w, 2)
    g.rename_output(g.op("GridSample", ["image", grid], mode="bilinear", padding_mode="reflection",
                         align_corners=0), "warped")
    flow = helper.make_tensor_value_info("flow", TensorProto.FLOAT, ["fh", "fw", 2])
    return _model(g, "vis_warp", [_image("image"), flow], [_image("warped")])


def copy_graph() -> onnx.ModelProto:
    """``image`` -> ``copy``: a device-side copy into a bound buffer (ORT's Python API has no device-to-device copy)."""
    g = GraphBuilder("copy")
    g.rename_output("image", "copy")
    return _model(g, "vis_copy", [_image("image")], [_image("copy")])
