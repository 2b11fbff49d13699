"""`vis export --onnx` on graphs whose image is N, H, W, C (tf2onnx's files): channels are read where the graph
keeps them, and shapes probed on images of that layout."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import torch
from typer.testing import CliRunner

from vis.cli import app
from vis.exporters._layouts import channel_axes

runner = CliRunner()
H, W, C = 12, 11, 6  # no side (12, 11; 8, 7 after the first conv) equals the channels: a wrong axis shows


class _KerasLike(torch.nn.Module):
    """Convolutions on N, C, H, W between transposes, each layer's output N, H, W, C, as tf2onnx writes Keras."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, C, 5)  # runs on no image of fewer than 5 rows
        self.conv2 = torch.nn.Conv2d(C, 5, 3, padding=1)

    def layers(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        act = torch.relu(self.conv1(x.permute(0, 3, 1, 2))).permute(0, 2, 3, 1)
        scaled = act * 2.0 + 0.5  # elementwise on N, H, W, C
        out = torch.tanh(self.conv2(scaled.permute(0, 3, 1, 2))).permute(0, 2, 3, 1)
        return {"Add": scaled, "Tanh": out}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)["Tanh"]


def _export(tmp_path, net, sides_open: bool = False) -> tuple[str, dict[str, str]]:
    """The ONNX file of ``net`` and the name of the last output of each op type in it."""
    dynamic = {1: "h", 2: "w"} if sides_open else {}
    model = tmp_path / "nhwc.onnx"
    torch.onnx.export(net, (torch.rand(1, H, W, 3),), str(model), input_names=["x"], dynamo=False, opset_version=17,
                      dynamic_axes={"x": {0: "n", **dynamic}})
    return str(model), {n.op_type: n.output[0] for n in onnx.load(str(model)).graph.node}


def _gradient(tmp_path, model: str, spec: str, x: np.ndarray):
    out = tmp_path / "grad.onnx"
    result = runner.invoke(app, ["export", "--onnx", model, "--objective", spec, "-o", str(out), "--overwrite"])
    assert result.exit_code == 0, result.output
    value, grad = ort.InferenceSession(str(out)).run(None, {"image": x})
    return value, grad, result


def _check_against_torch(value, grad: np.ndarray, objective: torch.Tensor, t: torch.Tensor, what: str = "") -> None:
    """vis's objective and gradient equal torch's ``objective`` of the image ``t`` and its autograd gradient."""
    objective.backward()
    expected = t.grad.numpy()
    assert np.isclose(value, objective.item(), rtol=1e-5), what
    assert np.linalg.norm(grad - expected) / np.linalg.norm(expected) < 1e-5, what


def test_a_channel_of_a_channels_last_tensor_is_its_last_axis(tmp_path) -> None:
    """vis sliced axis 1 of every map, a row of an N, H, W, C tensor: the wrong objective, with no word said."""
    torch.manual_seed(0)
    net = _KerasLike().eval()
    model, names = _export(tmp_path, net)
    x = np.random.default_rng(1).random((2, H, W, 3), dtype=np.float32)
    for op, channel in (("Add", 4), ("Tanh", 2)):
        value, grad, _ = _gradient(tmp_path, model, f"[{names[op]}]:{channel}", x)
        t = torch.from_numpy(x).requires_grad_(True)
        objective = net.layers(t)[op][..., channel].mean(dim=(1, 2)).sum()
        _check_against_torch(value, grad, objective, t, op)


def test_a_neuron_of_a_channels_last_tensor(tmp_path) -> None:
    torch.manual_seed(1)
    net = _KerasLike().eval()
    model, names = _export(tmp_path, net)
    x = np.random.default_rng(2).random((2, H, W, 3), dtype=np.float32)
    value, grad, _ = _gradient(tmp_path, model, f"[{names['Add']}]:3@7,2", x)
    t = torch.from_numpy(x).requires_grad_(True)
    objective = net.layers(t)["Add"][:, 7, 2, 3].sum()
    _check_against_torch(value, grad, objective, t)


def test_a_channel_past_the_last_is_refused_by_the_channel_count(tmp_path) -> None:
    """Channel 7 was accepted as the eighth of twelve rows."""
    model, names = _export(tmp_path, _KerasLike().eval())
    result = runner.invoke(app, ["export", "--onnx", model, "--objective", f"[{names['Add']}]:7", "-o",
                                 str(tmp_path / "g.onnx")])
    assert result.exit_code == 2
    assert f"has {C} channels (0..{C - 1})" in result.output


def test_total_variation_runs_over_height_and_width_of_a_channels_last_image(tmp_path) -> None:
    """The penalty differenced axes 2 and 3 of the image, its W and C."""
    torch.manual_seed(2)
    net = _KerasLike().eval()
    model, names = _export(tmp_path, net)
    x = np.random.default_rng(3).random((2, H, W, 3), dtype=np.float32)
    value, grad, _ = _gradient(tmp_path, model, f"[{names['Tanh']}] + 0.5*tv", x)
    t = torch.from_numpy(x).requires_grad_(True)
    out = net(t)
    dy, dx = t[:, 1:] - t[:, :-1], t[:, :, 1:] - t[:, :, :-1]
    tv = (dy * dy).flatten(1).mean(1) + (dx * dx).flatten(1).mean(1)
    objective = (out * out).flatten(1).mean(1).sum() - 0.5 * tv.sum()
    _check_against_torch(value, grad, objective, t)


class _Reshaped(_KerasLike):
    """A map through Reshapes of computed sizes (as tf2onnx writes a Keras Reshape): ONNX shape inference leaves its
    channels open for the probe, and the walk from the image loses its layout (here N, C, H, W)."""

    def layers(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        act = torch.relu(self.conv1(x.permute(0, 3, 1, 2)))
        n, c, h, w = act.shape
        flat = torch.nn.functional.silu(act.reshape(n, c, h * w) - 0.5)
        return {"Tanh": torch.tanh(flat.reshape(n, c, h, w))}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)["Tanh"] * 2.0  # the file's output declares its shape; the map before it does not


def test_a_reshaped_map_is_probed_on_a_channels_last_image(tmp_path) -> None:
    """The probe fed N, H, W, C graphs an image of 3 rows, on which this one does not run: the map's channels stayed
    unknown, and a channel objective on it was refused."""
    torch.manual_seed(3)
    net = _Reshaped().eval()
    model, names = _export(tmp_path, net, sides_open=True)
    x = np.random.default_rng(4).random((2, 9, 13, 3), dtype=np.float32)
    value, grad, _ = _gradient(tmp_path, model, f"[{names['Tanh']}]:4", x)
    t = torch.from_numpy(x).requires_grad_(True)
    objective = net.layers(t)["Tanh"][:, 4].mean(dim=(1, 2)).sum()
    _check_against_torch(value, grad, objective, t)


def test_a_channel_of_a_map_whose_layout_is_lost_comes_with_a_note(tmp_path) -> None:
    model, names = _export(tmp_path, _Reshaped().eval())
    x = np.random.default_rng(5).random((1, H, W, 3), dtype=np.float32)
    _, _, result = _gradient(tmp_path, model, f"[{names['Tanh']}]:1", x)
    assert f"cannot follow which axis of {names['Tanh']} holds the channels" in result.stderr
    assert "reads the channel on axis 1" in result.stderr
    _, _, result = _gradient(tmp_path, model, f"[{names['Tanh']}]", x)  # the whole map: no layout involved
    assert "note:" not in result.stderr


def test_channel_axes_follow_transposes_and_stop_where_inputs_disagree() -> None:
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Transpose", ["image"], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Relu", ["nchw"], ["relu"]),
        helper.make_node("Transpose", ["relu"], ["nhwc"], perm=[0, 2, 3, 1]),
        helper.make_node("Add", ["nhwc", "image"], ["both_last"]),
        helper.make_node("Add", ["nhwc", "relu"], ["mixed"]),  # a square map: broadcasting cannot tell
        helper.make_node("Conv", ["mixed", "w"], ["conv"]),
    ]
    four = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 3, 3])
    graph = helper.make_graph(nodes, "g", [four], [helper.make_tensor_value_info("conv", TensorProto.FLOAT, None)])
    shapes = {name: (3, 3, 3) for name in ("nchw", "relu", "nhwc", "both_last", "mixed", "conv")}
    axes = channel_axes(helper.make_model(graph), "image", shapes)
    assert axes == {"image": 3, "nchw": 1, "relu": 1, "nhwc": 3, "both_last": 3, "conv": 1}
