"""Data-movement gradients vs torch: Reshape/Flatten/Squeeze/Unsqueeze/Transpose, Concat, Split, Slice, Pad,
Gather."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _vis_gradcheck import TOL, Lambda, check_graph, check_module
from onnx import helper

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
T = torch.nn
F = torch.nn.functional



CASES = {
    "flatten": lambda m, x: torch.flatten(m.conv(x), 1) * 2,
    "reshape": lambda m, x: m.conv(x).reshape(x.shape[0], 3, -1).tanh(),
    "squeeze_unsqueeze": lambda m, x: m.conv(x).mean(dim=(2, 3), keepdim=True).squeeze(3).unsqueeze(0),
    "transpose": lambda m, x: m.conv(x).permute(0, 2, 3, 1).tanh(),
    "concat": lambda m, x: torch.cat([m.conv(x), x, torch.tanh(m.conv(x))], 1),
    "concat_axis3": lambda m, x: torch.cat([m.conv(x), m.conv(x)[:, :, :, :2]], 3),
    "split": lambda m, x: torch.split(m.conv(x), [2, 4], dim=1)[1] * 3,
    "split_both": lambda m, x: torch.tanh(torch.chunk(m.conv(x), 3, 1)[0]) + torch.chunk(m.conv(x), 3, 1)[2],
    "slice": lambda m, x: m.conv(x)[:, 1:4, 1:-1, 2:],
    "slice_neg": lambda m, x: m.conv(x)[:, -3:, :-2],
    "pad": lambda m, x: F.pad(m.conv(x), (1, 2, 0, 3)),
    "pad_crop": lambda m, x: F.pad(m.conv(x), (-1, 2, 1, -2)),
    "gather_scalar": lambda m, x: m.conv(x)[:, 2] * 2.0 + m.conv(x)[:, 0],
    "gather_index": lambda m, x: m.conv(x)[:, [0, 2, 2, 5]],
    "gather_matrix": lambda m, x: m.conv(x)[:, torch.tensor([[0, 2], [2, 5], [4, 4]])].tanh(),
    "gather_matrix_last_axis": lambda m, x: m.conv(x)[..., torch.tensor([[1, 0], [3, 3]])],
    "slice_steps": lambda m, x: m.conv(x)[:, ::2, 1::2, ::3],
    "flip": lambda m, x: torch.flip(m.conv(x), [2, 3]) * m.conv(x),
    "pixel_shuffle": lambda m, x: F.pixel_shuffle(m.conv(x)[:, :4], 2).tanh(),
    "tile": lambda m, x: m.conv(x).repeat(1, 2, 1, 3).tanh(),
    "transform_input": lambda m, x: torch.cat(
        [torch.unsqueeze(x[:, i], 1) * s + b for i, (s, b) in enumerate([(0.5, 0.1), (0.4, -0.2), (0.3, 0.3)])], 1),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_shape_ops(name: str) -> None:
    torch.manual_seed(0)
    assert check_module(Lambda(CASES[name], channels=6), (2, 3, 7, 6)) < TOL


@pytest.mark.parametrize("name", ["concat", "split_both", "slice_neg", "pad", "gather_index", "flatten", "gather_matrix",
                                  "slice_steps", "flip", "pixel_shuffle", "tile"])
def test_shape_ops_dynamic(name: str) -> None:
    torch.manual_seed(0)
    assert check_module(Lambda(CASES[name], channels=6), (1, 3, 7, 6), run_shapes=[(2, 3, 11, 9)]) < TOL


def test_split_handmade_with_unused_output() -> None:
    nodes = [
        helper.make_node("Split", ["image", "sizes"], ["a", "b", "c"], axis=2),
        helper.make_node("Concat", ["c", "a"], ["y"], axis=2),
    ]
    inits = [("sizes", np.array([1, 2, 3], dtype=np.int64))]
    ref = lambda x: torch.cat([x[:, :, 3:], x[:, :, :1]], 2)  # noqa: E731
    assert check_graph(nodes, (1, 2, 6, 3), "y", ref, initializers=inits) < TOL


@pytest.mark.parametrize("starts,ends,axes,steps", [
    ([0], [6], [2], [2]),
    ([5, -1], [0, -100], [2, 3], [-2, -1]),  # backwards, clamped past the start
    ([1, 0, 2], [100, 3, 5], [3, 1, 2], [2, 1, 3]),  # axes out of order, a step of 1 among others
])
@pytest.mark.parametrize("index_type", [np.int64, np.int32])
def test_slice_with_steps(starts: list[int], ends: list[int], axes: list[int], steps: list[int],
                          index_type: type) -> None:
    nodes = [helper.make_node("Slice", ["image", "s", "e", "a", "st"], ["y"])]
    inits = [(n, np.array(v, dtype=index_type)) for n, v in (("s", starts), ("e", ends), ("a", axes), ("st", steps))]

    def ref(x: torch.Tensor) -> torch.Tensor:
        # torch indexing takes no negative steps: flip, then slice the flipped range forwards
        for start, end, axis, step in zip(starts, ends, axes, steps):
            size = x.shape[axis]
            if step > 0:
                x = x.narrow(axis, 0, size)[(slice(None),) * axis + (slice(start, end, step),)]
                continue
            first = min(start + size if start < 0 else start, size - 1)
            stop = end + size if end < 0 else end
            picked = list(range(first, max(stop, -1), step))
            x = x.index_select(axis, torch.tensor(picked, dtype=torch.long))
        return x

    assert check_graph(nodes, (1, 2, 6, 5), "y", ref, initializers=inits) < TOL


@pytest.mark.parametrize("mode", ["DCR", "CRD"])
def test_depth_to_space_and_back(mode: str) -> None:
    nodes = [helper.make_node("DepthToSpace", ["image"], ["d"], blocksize=2, mode=mode),
             helper.make_node("Tanh", ["d"], ["t"]),
             helper.make_node("SpaceToDepth", ["t"], ["y"], blocksize=2)]

    def ref(x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        if mode == "DCR":
            d = x.reshape(n, 2, 2, c // 4, h, w).permute(0, 3, 4, 1, 5, 2).reshape(n, c // 4, h * 2, w * 2)
        else:
            d = F.pixel_shuffle(x, 2)
        t = torch.tanh(d)
        return t.reshape(n, c // 4, h, 2, w, 2).permute(0, 3, 5, 1, 2, 4).reshape(n, c, h, w)

    for static in (False, True):
        assert check_graph(nodes, (2, 8, 3, 5), "y", ref, static=static) < TOL


RESIZES = {
    "nearest_x2": lambda m, x: F.interpolate(m.conv(x), scale_factor=2, mode="nearest"),
    "nearest_x3_2": lambda m, x: F.interpolate(m.conv(x), scale_factor=(3, 2), mode="nearest"),
    "nearest_to_size": lambda m, x: F.interpolate(m.conv(x), size=(11, 7), mode="nearest"),
    "bilinear_x2": lambda m, x: F.interpolate(m.conv(x), scale_factor=2, mode="bilinear"),
    "bilinear_corners": lambda m, x: F.interpolate(m.conv(x), scale_factor=2, mode="bilinear", align_corners=True),
    "bilinear_down": lambda m, x: F.interpolate(m.conv(x), size=(3, 4), mode="bilinear"),
    "bicubic_x1_5": lambda m, x: F.interpolate(m.conv(x), scale_factor=1.5, mode="bicubic"),
    "upsample_module": lambda m, x: T.Upsample(scale_factor=2, mode="nearest")(m.conv(x)),
}


@pytest.mark.parametrize("dynamic", [True, False])
@pytest.mark.parametrize("name", sorted(RESIZES))
def test_resize(name: str, dynamic: bool) -> None:
    """U-Net and FPN upsampling (F.interpolate: nearest, bilinear with and without aligned corners, bicubic, to a
    scale or a size, shrinking too), with open or fixed sides."""
    torch.manual_seed(5)
    assert check_module(Lambda(RESIZES[name]), (2, 3, 6, 5), dynamic=dynamic) < TOL


def _resize_adjoint_error(node, opset: int, initializers: dict[str, np.ndarray], out_shape: list[int]) -> float:
    """Resize is linear without offset: with objective <Resize(x), w> the gradient is R^T w, so <x, grad> equals the
    objective for every x. How far from it, relative, over two random images."""
    from onnx import TensorProto, numpy_helper

    from _vis_gradcheck import session
    from vis.exporters._autodiff import add_input_gradient

    rng = np.random.default_rng(6)
    w = rng.standard_normal(out_shape).astype(np.float32)
    nodes = [node, helper.make_node("Mul", ["y", "w"], ["prod"]),
             helper.make_node("ReduceSum", ["prod"], ["objective"], keepdims=0)]
    inits = [numpy_helper.from_array(v, k) for k, v in {**initializers, "w": w}.items()]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [2, 3, 6, 5])],
                              [helper.make_tensor_value_info("objective", TensorProto.FLOAT, [])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    run = session(add_input_gradient(model))
    worst = 0.0
    for _ in range(2):
        x = rng.standard_normal((2, 3, 6, 5)).astype(np.float32)
        objective, grad = run.run(None, {"image": x})
        worst = max(worst, abs(float(objective) - float((x * grad).sum())) / max(abs(float(objective)), 1e-6))
    return worst


def test_resize_on_named_axes_with_antialias() -> None:
    """Opset 18: axes given in reverse (W first), H shrunk with antialias, W grown by 1.5."""
    node = helper.make_node("Resize", ["image", "", "scales"], ["y"], mode="linear", antialias=1, axes=[3, 2])
    scales = np.array([1.5, 0.5], np.float32)
    assert _resize_adjoint_error(node, 18, {"scales": scales}, [2, 3, 3, 7]) < 1e-5


def test_resize_to_sizes_beside_empty_scales() -> None:
    """Opset 13 as older exporters write it: an empty scales input beside the sizes; cubic, asymmetric."""
    node = helper.make_node("Resize", ["image", "", "scales", "sizes"], ["y"], mode="cubic",
                            coordinate_transformation_mode="asymmetric")
    inits = {"scales": np.zeros(0, np.float32), "sizes": np.array([2, 3, 9, 4], np.int64)}
    assert _resize_adjoint_error(node, 13, inits, [2, 3, 9, 4]) < 1e-5


MIRRORED_PADS = {
    "reflect": lambda m, x: F.pad(m.conv(x), (2, 1, 1, 3), mode="reflect"),
    "replicate": lambda m, x: F.pad(m.conv(x), (1, 2, 3, 0), mode="replicate"),
    "circular": lambda m, x: F.pad(m.conv(x), (1, 1, 2, 1), mode="circular"),
    "reflection_pad": lambda m, x: T.ReflectionPad2d(1)(m.conv(x)),
}


@pytest.mark.parametrize("name", sorted(MIRRORED_PADS))
def test_reflect_edge_and_wrap_padding(name: str) -> None:
    """Style-transfer and pix2pix generators pad by reflection or by repeating the edge; a border pixel's copies
    sum their gradients back into it. Asymmetric pads, with open sides."""
    torch.manual_seed(8)
    assert check_module(Lambda(MIRRORED_PADS[name]), (2, 3, 6, 5)) < TOL
