"""`vis export --objective/--step/--onnx/--tensorrt-safe` and `vis bench grad`, `vis info`."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from typer.testing import CliRunner

from vis.cli import app
from vis.models import get_model

runner = CliRunner()


def ops(path) -> set[str]:
    return {n.op_type for n in onnx.load(str(path)).graph.node}


def test_gradient_export_matches_torch(tmp_path) -> None:
    out = tmp_path / "grad.onnx"
    result = runner.invoke(app, ["export", "lenet5", "--weights", "random", "--objective", "fc4:3", "-o", str(out)])
    assert result.exit_code == 0, result.output
    proto = onnx.load(str(out))
    onnx.checker.check_model(proto, full_check=True)
    assert [o.name for o in proto.graph.output] == ["objective", "grad"]
    x = np.random.default_rng(0).random((1, 1, 28, 28), dtype=np.float32)
    value, grad = ort.InferenceSession(str(out)).run(None, {"image": x})
    model = get_model("lenet5", weights="random")
    t = torch.from_numpy(x).requires_grad_(True)
    model(t)[:, 3].sum().backward()
    assert np.linalg.norm(grad - t.grad.numpy()) / np.linalg.norm(t.grad.numpy()) < 1e-5


def test_tensorrt_safe_has_no_indices_or_scatter(tmp_path) -> None:
    fast, safe = tmp_path / "fast.onnx", tmp_path / "safe.onnx"
    base = ["export", "googlenet", "--weights", "random", "--objective", "inception3b"]
    assert runner.invoke(app, [*base, "-o", str(fast)]).exit_code == 0
    assert runner.invoke(app, [*base, "--tensorrt-safe", "-o", str(safe)]).exit_code == 0
    safe_proto = onnx.load(str(safe))
    assert not any(n.op_type == "MaxPool" and len(n.output) > 1 and n.output[1] for n in safe_proto.graph.node)
    assert not any(n.op_type in ("ScatterElements", "ScatterND") for n in safe_proto.graph.node)
    assert "MaxPool" in ops(fast)


def test_a_guide_graph_says_what_its_guide_input_holds(tmp_path) -> None:
    out = tmp_path / "guide.onnx"
    result = runner.invoke(app, ["export", "lenet5", "--weights", "random", "--objective", "guide:tanh1", "-o", str(out)])
    assert result.exit_code == 0, result.output
    guide = next(i for i in onnx.load(str(out)).graph.input if i.name == "guide")
    assert [d.dim_value or d.dim_param for d in guide.type.tensor_type.shape.dim] == [6, "guide_positions"]
    assert "activations at tanh1, channels by positions" in guide.doc_string and "(C, H*W)" in guide.doc_string


def test_step_export_inputs(tmp_path) -> None:
    out = tmp_path / "step.onnx"
    result = runner.invoke(app, ["export", "googlenet", "--weights", "random", "--objective", "inception3a", "--step", "-o", str(out)])
    assert result.exit_code == 0, result.output
    proto = onnx.load(str(out))
    assert [i.name for i in proto.graph.input] == ["image", "shift", "step_size"]
    step_doc = proto.graph.input[2].doc_string  # a reader of the file learns the unit from the file
    assert "image's own units (0..1)" in step_doc and "default 1.5 is 0.005882 here" in step_doc, step_doc
    session = ort.InferenceSession(str(out))
    x = np.random.default_rng(1).random((1, 3, 45, 61), dtype=np.float32)
    new, value = session.run(None, {"image": x, "shift": np.array([3, -4], np.int64), "step_size": np.array(0.01, np.float32)})
    assert new.shape == x.shape and 0 <= new.min() and new.max() <= 1
    pair = 0.2 + 0.6 * np.random.default_rng(2).random((2, 3, 45, 61), dtype=np.float32)  # no pixel near a clip
    moved, _ = session.run(None, {"image": pair, "shift": np.array([0, 0], np.int64),
                                  "step_size": np.array(1e-4, np.float32)})
    assert np.abs(moved - pair).mean() == pytest.approx(1e-4, rel=1e-2)  # as documented: one step size per batch
    assert np.abs(new - x).mean() == pytest.approx(0.01, rel=0.05)  # step/mean|g| * g moves by step on average


def export_layers(path, layers: str) -> None:
    """An inference file of EfficientNet-Lite0's ``layers`` (random weights), as a user's own --onnx input."""
    exported = runner.invoke(app, ["export", "efficientnet_lite0", "--layers", layers, "-o", str(path), "-w", "random"])
    assert exported.exit_code == 0, exported.output


def test_user_onnx_file(tmp_path) -> None:
    inference = tmp_path / "b5.onnx"
    export_layers(inference, "block5")
    out = tmp_path / "user_grad.onnx"
    result = runner.invoke(app, ["export", "--onnx", str(inference), "--objective", "block5:3", "-o", str(out)])
    assert result.exit_code == 0, result.output
    x = np.random.default_rng(2).random((1, 3, 50, 70), dtype=np.float32)
    value, grad = ort.InferenceSession(str(out)).run(None, {"image": x})
    model = get_model("efficientnet_lite0", weights="random")
    t = torch.from_numpy(x).requires_grad_(True)
    (acts,) = model.forward_layers(t, ["block5"])
    acts[:, 3].mean().backward()
    assert np.isclose(value, acts[:, 3].mean().item(), rtol=1e-4)
    assert np.linalg.norm(grad - t.grad.numpy()) / np.linalg.norm(t.grad.numpy()) < 1e-4
    again = runner.invoke(app, ["export", "--onnx", str(out), "--objective", "grad", "-o", str(tmp_path / "g2.onnx")])
    assert again.exit_code == 2 and "user_grad.onnx is already a gradient graph (it outputs objective and grad)" in again.output
    before = inference.read_bytes()
    same = runner.invoke(app, ["export", "--onnx", str(inference), "--objective", "block5:3", "-o", str(inference),
                               "--overwrite"])
    assert same.exit_code == 2 and "is the --onnx input" in same.output, same.output
    assert inference.read_bytes() == before


def test_a_vis_export_keeps_its_models_class_names(tmp_path) -> None:
    # The file's vis.model metadata lends it the model's classes and logits layer: class:NAME works as on the model
    inference, headless = tmp_path / "e.onnx", tmp_path / "b5.onnx"
    for path, layers in ((inference, "block5,fc"), (headless, "block5")):
        export_layers(path, layers)
    out = tmp_path / "g.onnx"
    result = runner.invoke(app, ["export", "--onnx", str(inference), "--objective", "class:Dragonfly", "-o", str(out)])
    assert result.exit_code == 0, result.output
    x = np.random.default_rng(3).random((1, 3, 64, 64), dtype=np.float32)
    value, _ = ort.InferenceSession(str(out)).run(None, {"image": x})
    with torch.no_grad():
        logits = get_model("efficientnet_lite0", weights="random")(torch.from_numpy(x))
    assert np.isclose(value, logits[0, 319].item(), rtol=1e-4)  # 319: dragonfly
    refused = runner.invoke(app, ["export", "--onnx", str(headless), "--objective", "class:3", "-o", str(out), "--overwrite"])
    assert refused.exit_code == 2, refused.output
    assert "does not output efficientnet_lite0's logits layer fc" in refused.output


def test_a_neuron_position_a_dynamic_map_may_not_hold_is_noted(tmp_path) -> None:
    # The file's H and W are dynamic, so (20, 20) cannot be refused at export; at 224 px block5's map is 14x14 and the
    # neuron reads nothing there: a note says so. Inside that map no note; a file without vis metadata always notes.
    inference = tmp_path / "b5.onnx"
    export_layers(inference, "block5")
    out = tmp_path / "g.onnx"
    far = runner.invoke(app, ["export", "--onnx", str(inference), "--objective", "block5:3@20,20", "-o", str(out)])
    assert far.exit_code == 0, far.output
    assert "note: block5's map size is set by the input (it is 14x14 at a 224x224 input)" in far.output
    value, grad = ort.InferenceSession(str(out)).run(None, {"image": np.full((1, 3, 224, 224), 0.5, np.float32)})
    assert value == 0 and not grad.any()  # what the note warns of
    near = runner.invoke(app, ["export", "--onnx", str(inference), "--objective", "block5:3@2,2", "-o", str(out), "--overwrite"])
    assert near.exit_code == 0 and "note:" not in near.output, near.output
    registry = runner.invoke(app, ["export", "efficientnet_lite0", "--objective", "block5:3@20,20", "-o", str(out),
                                   "-w", "random", "--overwrite"])
    assert registry.exit_code == 0 and "(it is 14x14 at a 224x224 input)" in registry.output, registry.output
    plain = onnx.load(str(inference))
    del plain.metadata_props[:]
    onnx.save(plain, str(inference))
    unknown = runner.invoke(app, ["export", "--onnx", str(inference), "--objective", "block5:3@2,2", "-o", str(out), "--overwrite"])
    assert unknown.exit_code == 0 and "note: block5's map size is set by the input, so the position (2, 2)" in unknown.output


@pytest.mark.parametrize("args,message", [
    (["export", "googlenet", "--objective", "inception4c:999"], "out of range"),
    (["export", "googlenet", "--objective", "incepton4c"], "inception4c"),
    (["export", "googlenet", "--step"], "--step needs --objective"),
    (["export", "googlenet", "--tensorrt-safe"], "--tensorrt-safe picks a gradient graph variant: it needs --objective"),
    (["export", "--objective", "x"], "either a MODEL"),
    (["export", "--onnx", "missing.onnx", "--objective", "x"], "not found"),
    (["export", "googlenet", "--layers", "conv1", "--objective", "conv1"], "do not go together"),
    (["export", "googlenet", "--objective", " "], "--objective is empty"),
    (["export", "googlenet", "--layers", ","], "--layers is empty"),
    (["export", "googlenet", "--layers", "inception4c,,inception4d"], "has an empty entry between commas"),
])
def test_bad_export_arguments(args, message, tmp_path) -> None:
    result = runner.invoke(app, [*args, "--weights", "random", "-o", str(tmp_path / "x.onnx")] if args[1] != "--objective" and "--onnx" not in args else [*args, "-o", str(tmp_path / "x.onnx")])
    assert result.exit_code == 2, result.output
    assert message in result.output


def _user_graph(path, input_type, shape, nodes, initializers) -> None:
    from onnx import TensorProto, helper

    graph = helper.make_graph(nodes, "user", [helper.make_tensor_value_info("x", input_type, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializers)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_user_graph_with_a_flat_input(tmp_path) -> None:
    """A 2-D (batch, features) input is differentiated too: the gradient of one output unit is a row of W."""
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(0).standard_normal((10, 4)).astype(np.float32)
    _user_graph(tmp_path / "mlp.onnx", TensorProto.FLOAT, [1, 10], [helper.make_node("MatMul", ["x", "W"], ["y"])],
                [numpy_helper.from_array(w, "W")])
    out = tmp_path / "g.onnx"
    result = runner.invoke(app, ["export", "--onnx", str(tmp_path / "mlp.onnx"), "--objective", "y:2", "-o", str(out)])
    assert result.exit_code == 0, result.output
    x = np.random.default_rng(1).standard_normal((1, 10)).astype(np.float32)
    value, grad = ort.InferenceSession(str(out)).run(None, {"image": x})
    assert np.isclose(value, (x @ w)[0, 2], rtol=1e-5) and np.allclose(grad[0], w[:, 2], rtol=1e-5)


def test_a_user_step_clips_to_the_range_its_model_takes(tmp_path) -> None:
    """The step clips its image: to 0..1 by default, which it says, since a user's model may take 0..255 (an image
    there came out clipped to 0..1 without a word); --value-range names the model's own range."""
    from onnx import TensorProto, helper, numpy_helper

    kernel = numpy_helper.from_array(np.random.default_rng(0).standard_normal((2, 3, 3, 3)).astype(np.float32), "K")
    _user_graph(tmp_path / "u.onnx", TensorProto.FLOAT, [1, 3, 8, 8], [helper.make_node("Conv", ["x", "K"], ["y"])],
                [kernel])
    x = np.linspace(0, 255, 192, dtype=np.float32).reshape(1, 3, 8, 8)
    feeds = {"image": x, "shift": np.zeros(2, np.int64), "step_size": np.array(0, np.float32)}
    default = runner.invoke(app, ["export", "--onnx", str(tmp_path / "u.onnx"), "--objective", "y", "--step", "-o",
                                  str(tmp_path / "s01.onnx")])
    assert default.exit_code == 0 and "note: the step clips the image to 0..1" in default.output, default.output
    assert ort.InferenceSession(str(tmp_path / "s01.onnx")).run(None, feeds)[0].max() == 1.0
    ranged = runner.invoke(app, ["export", "--onnx", str(tmp_path / "u.onnx"), "--objective", "y", "--step",
                                 "--value-range", "0,255", "-o", str(tmp_path / "s255.onnx")])
    assert ranged.exit_code == 0 and "note" not in ranged.output, ranged.output
    assert np.array_equal(ort.InferenceSession(str(tmp_path / "s255.onnx")).run(None, feeds)[0], x)
    for extra, message in [(["--value-range", "1,0"], "LO below HI"), (["--value-range", "0"], "two numbers LO,HI"),
                           (["--value-range", "0,nan"], "finite numbers")]:
        bad = runner.invoke(app, ["export", "--onnx", str(tmp_path / "u.onnx"), "--objective", "y", "--step", *extra,
                                  "-o", str(tmp_path / "bad.onnx")])
        assert bad.exit_code == 2 and message in bad.output, bad.output
    no_step = runner.invoke(app, ["export", "--onnx", str(tmp_path / "u.onnx"), "--objective", "y", "--value-range",
                                  "0,255", "-o", str(tmp_path / "bad.onnx")])
    assert no_step.exit_code == 2 and "--value-range needs --step" in no_step.output
    model = runner.invoke(app, ["export", "lenet5", "-w", "random", "--objective", "logits:1", "--step",
                                "--value-range", "0,255", "-o", str(tmp_path / "bad.onnx")])
    assert model.exit_code == 2 and "a vis model has its own" in model.output
    assert not (tmp_path / "bad.onnx").exists()


def test_of_several_inputs_the_image_is_the_one_differentiated(tmp_path) -> None:
    """A scale input of shape [1] listed first was taken for the image (renamed so, grad of shape [1])."""
    from onnx import TensorProto, helper, numpy_helper

    kernel = numpy_helper.from_array(np.random.default_rng(0).standard_normal((2, 3, 3, 3)).astype(np.float32), "K")
    nodes = [helper.make_node("Conv", ["x", "K"], ["c"]), helper.make_node("Mul", ["c", "s"], ["y"])]
    for second, refused in [([1], False), ([1, 3, 8, 8], True)]:
        graph = helper.make_graph(nodes, "two", [helper.make_tensor_value_info("s", TensorProto.FLOAT, second),
                                                 helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [kernel])
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(tmp_path / "two.onnx"))
        out = tmp_path / "g.onnx"
        result = runner.invoke(app, ["export", "--onnx", str(tmp_path / "two.onnx"), "--objective", "y", "-o", str(out),
                                     "--overwrite"])
        if refused:
            assert result.exit_code == 2 and "the graph has 2 inputs ('s', 'x') and 2 of them are" in result.output
            continue
        assert result.exit_code == 0 and "image, s -> objective, grad" in result.output, result.output
        x = np.random.default_rng(1).random((1, 3, 8, 8), dtype=np.float32)
        value, grad = ort.InferenceSession(str(out)).run(None, {"image": x, "s": np.array([2.0], np.float32)})
        t = torch.from_numpy(x).requires_grad_(True)
        (2.0 * torch.nn.functional.conv2d(t, torch.tensor(onnx.numpy_helper.to_array(kernel)))).pow(2).mean().backward()
        assert grad.shape == x.shape and np.allclose(grad, t.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_a_tensor_name_with_the_grammars_characters_goes_in_brackets(tmp_path) -> None:
    """tf2onnx names tensors "conv-1:0", torch's exporter "onnx::Relu_5": such a name was read as two terms and
    could not be typed at all."""
    from onnx import TensorProto, helper, numpy_helper

    kernel = np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32)
    _user_graph(tmp_path / "tf.onnx", TensorProto.FLOAT, [1, 3, 9, 9],
                [helper.make_node("Conv", ["x", "K"], ["conv-1:0"]), helper.make_node("Relu", ["conv-1:0"], ["y"])],
                [numpy_helper.from_array(kernel, "K")])
    typed = runner.invoke(app, ["export", "--onnx", str(tmp_path / "tf.onnx"), "--objective", "conv-1:0:2",
                                "-o", str(tmp_path / "g.onnx")])
    assert typed.exit_code == 2 and "goes in brackets, as [conv-1:0] or [conv-1:0]:CHANNEL" in typed.output
    result = runner.invoke(app, ["export", "--onnx", str(tmp_path / "tf.onnx"), "--objective", "[conv-1:0]:2 - 0.5*y",
                                 "-o", str(tmp_path / "g.onnx")])
    assert result.exit_code == 0, result.output
    x = np.random.default_rng(1).random((1, 3, 9, 9), dtype=np.float32)
    value, grad = ort.InferenceSession(str(tmp_path / "g.onnx")).run(None, {"image": x})
    t = torch.from_numpy(x).requires_grad_(True)
    conv = torch.nn.functional.conv2d(t, torch.tensor(kernel))
    want = conv[:, 2].mean() - 0.5 * conv.relu().pow(2).mean()
    want.backward()
    assert np.isclose(value, want.item(), rtol=1e-5) and np.allclose(grad, t.grad.numpy(), rtol=1e-4, atol=1e-7)
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "g.onnx")).metadata_props}
    assert "[conv-1:0]:2" in meta["vis.objective"] and meta["vis.variant"] == "fast"


def test_a_slice_with_computed_steps_is_named_so(tmp_path) -> None:
    """The steps were 1, made by an Unsqueeze of a Constant: the message said "steps other than 1"."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("Constant", [], ["one"], value=numpy_helper.from_array(np.array(1, np.int64))),
             helper.make_node("Unsqueeze", ["one", "axis0"], ["steps"]),
             helper.make_node("Slice", ["x", "starts", "ends", "axes", "steps"], ["y"])]
    consts = [numpy_helper.from_array(np.array(v, np.int64), n)
              for n, v in [("axis0", [0]), ("starts", [1]), ("ends", [7]), ("axes", [3])]]
    _user_graph(tmp_path / "s.onnx", TensorProto.FLOAT, [1, 3, 8, 8], nodes, consts)
    result = runner.invoke(app, ["export", "--onnx", str(tmp_path / "s.onnx"), "--objective", "y", "-o",
                                 str(tmp_path / "g.onnx")])
    assert result.exit_code == 2 and "Slice whose steps are computed, not constant" in result.output, result.output


def test_user_graph_with_an_integer_input_is_refused_by_its_type(tmp_path) -> None:
    from onnx import TensorProto, helper, numpy_helper

    kernel = numpy_helper.from_array(np.ones((2, 3, 3, 3), np.float32), "K")
    _user_graph(tmp_path / "u8.onnx", TensorProto.UINT8, [1, 3, 8, 8],
                [helper.make_node("Cast", ["x"], ["f"], to=TensorProto.FLOAT), helper.make_node("Conv", ["f", "K"], ["y"])],
                [kernel])
    result = runner.invoke(app, ["export", "--onnx", str(tmp_path / "u8.onnx"), "--objective", "y", "-o", str(tmp_path / "g.onnx")])
    assert result.exit_code == 2 and "input 'x' is uint8" in result.output and "float32 image" in result.output, result.output
    assert not (tmp_path / "g.onnx").exists()


@pytest.mark.parametrize("extra, flags", [(["-w", "random"], "-w/--weights"), (["--opset", "18"], "--opset"),
                                          (["--weights", "imagenet", "--opset", "17"], "-w/--weights and --opset")])
def test_user_graph_refuses_settings_it_keeps_its_own_of(tmp_path, extra, flags) -> None:
    """Even a value equal to the default is refused when typed: the user meant it to matter."""
    inference = tmp_path / "l.onnx"
    assert runner.invoke(app, ["export", "lenet5", "--weights", "random", "-o", str(inference)]).exit_code == 0
    result = runner.invoke(app, ["export", "--onnx", str(inference), "--objective", "logits:1", *extra, "-o", str(tmp_path / "g.onnx")])
    assert result.exit_code == 2 and f"{flags} cannot apply to --onnx" in result.output, result.output


def test_an_empty_onnx_file_and_a_nameless_output_are_named(tmp_path) -> None:
    (tmp_path / "empty.onnx").write_bytes(b"")
    empty = runner.invoke(app, ["export", "--onnx", str(tmp_path / "empty.onnx"), "--objective", "x", "-o",
                                str(tmp_path / "o.onnx")])
    assert empty.exit_code == 2 and "empty.onnx is empty (0 bytes)" in empty.output, empty.output
    dot = runner.invoke(app, ["export", "lenet5", "-w", "random", "-o", "."])
    assert dot.exit_code == 2 and "name the file .onnx, not ." in dot.output, dot.output


def test_not_an_onnx_file(tmp_path) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00\x01 not protobuf")
    result = runner.invoke(app, ["export", "--onnx", str(junk), "--objective", "x", "-o", str(tmp_path / "o.onnx")])
    assert result.exit_code == 2 and "junk.onnx" in result.output


def test_info() -> None:
    result = runner.invoke(app, ["info"])
    assert result.exit_code == 0 and "onnxruntime" in result.output and "cpu" in result.output
    assert "native CPU kernels:" in result.output


def test_info_says_when_the_native_kernels_are_off(monkeypatch) -> None:
    monkeypatch.setenv("VIS_NATIVE", "0")
    result = runner.invoke(app, ["info"])
    assert result.exit_code == 0 and "native CPU kernels: off (VIS_NATIVE=0)" in result.output


@pytest.mark.slow
def test_bench_grad_subprocess() -> None:
    out = subprocess.run([sys.executable, "-m", "vis", "bench", "grad", "lenet5", "--size", "28", "28", "--runs", "3", "--threads", "1"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "torch" in out.stdout and "ort" in out.stdout and "speed-up" in out.stdout


def test_export_writes_only_onnx_files(tmp_path) -> None:
    result = runner.invoke(app, ["export", "lenet5", "--weights", "random", "-o", str(tmp_path / "model.txt")])
    assert result.exit_code == 2 and "name the file .onnx" in result.output, result.output
    assert list(tmp_path.iterdir()) == []


class _ChannelShuffle(torch.nn.Module):
    """ShuffleNet's channel shuffle: exported with open sides, onnx's inference leaves the shuffled map's channels
    open (its Reshape takes computed sizes)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 6, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        n, c, h, w = y.shape
        y = y.reshape(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w)
        return torch.relu(y).mean(dim=(2, 3))


@pytest.mark.parametrize("opset", [13, 17])
def test_channels_inference_leaves_open_are_found_by_running_the_graph(tmp_path, opset) -> None:
    """At opset 17 the shuffled map's channels are open; at 13 (TorchScript) its whole shape and those of every
    tensor after it, so the tensor was called an unknown layer."""
    torch.manual_seed(0)
    net = _ChannelShuffle().eval()
    model = tmp_path / "shuffle.onnx"
    torch.onnx.export(net, (torch.rand(1, 3, 16, 16),), str(model), input_names=["x"], dynamo=False,
                      opset_version=opset, dynamic_axes={"x": {0: "n", 2: "h", 3: "w"}})
    proto = onnx.load(str(model))
    shuffled = [n.output[0] for n in proto.graph.node if n.op_type == "Reshape"][-1]
    inferred = onnx.shape_inference.infer_shapes(proto)
    dims = [i.type.tensor_type.shape.dim for i in inferred.graph.value_info if i.name == shuffled]
    assert not dims or not dims[0] or not dims[0][1].HasField("dim_value")  # what the probe is for
    out = tmp_path / "grad.onnx"
    result = runner.invoke(app, ["export", "--onnx", str(model), "--objective", f"[{shuffled}]:4", "-o", str(out)])
    assert result.exit_code == 0, result.output
    refused = runner.invoke(app, ["export", "--onnx", str(model), "--objective", f"[{shuffled}]:6", "-o",
                                  str(tmp_path / "g6.onnx")])
    assert refused.exit_code == 2 and "has 6 channels (0..5)" in refused.output, refused.output
    x = np.random.default_rng(3).random((1, 3, 12, 20), dtype=np.float32)
    value, grad = ort.InferenceSession(str(out)).run(None, {"image": x})
    t = torch.from_numpy(x).requires_grad_(True)
    y = net.conv(t)
    shuffled_map = y.reshape(1, 2, 3, 12, 20).transpose(1, 2).reshape(1, 6, 12, 20)
    shuffled_map[:, 4].mean().backward()
    assert np.isclose(value, shuffled_map[:, 4].mean().item(), rtol=1e-4)
    assert np.linalg.norm(grad - t.grad.numpy()) / np.linalg.norm(t.grad.numpy()) < 1e-4


def test_a_weight_is_no_layer(tmp_path) -> None:
    """Dynamo's files type their initializers: a weight was taken as an objective (its gradient all 0) and offered
    among the valid layers."""
    torch.manual_seed(0)
    model = tmp_path / "net.onnx"
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).eval()
    torch.onnx.export(net, (torch.rand(1, 3, 16, 16),), str(model), input_names=["x"], dynamo=False, opset_version=17)
    proto = onnx.load(str(model))
    weight = proto.graph.initializer[0]
    proto.graph.value_info.append(onnx.helper.make_tensor_value_info(weight.name, weight.data_type, list(weight.dims)))
    onnx.save(proto, str(model))
    result = runner.invoke(app, ["export", "--onnx", str(model), "--objective", f"[{weight.name}]:0", "-o",
                                 str(tmp_path / "g.onnx")])
    assert result.exit_code == 2 and "unknown layer" in result.output, result.output
    assert weight.name not in result.output.partition("Valid:")[2]


class _ChannelsLast(torch.nn.Module):
    """A model that takes N, H, W, C images, as tf2onnx's files do."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.conv(x.permute(0, 3, 1, 2)))


def test_a_channels_last_step_rolls_height_and_width(tmp_path) -> None:
    """The step rolled axes 2 and 3 of an N, H, W, C image (its W and C): off by up to 0.09 at a shift of (3, 5)."""
    from vis._step import STEP_EPS

    torch.manual_seed(1)
    net = _ChannelsLast().eval()
    model = tmp_path / "nhwc.onnx"
    torch.onnx.export(net, (torch.rand(1, 12, 10, 3),), str(model), input_names=["x"], dynamo=False, opset_version=17,
                      dynamic_axes={"x": {1: "h", 2: "w"}})
    tanh = [n.output[0] for n in onnx.load(str(model)).graph.node if n.op_type == "Tanh"][0]
    out = tmp_path / "step.onnx"
    result = runner.invoke(app, ["export", "--onnx", str(model), "--objective", f"[{tanh}]:1", "--step", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "the graph's image is N, H, W, C (channels last): the step rolls its axes 1 and 2" in result.output
    x = np.random.default_rng(4).random((1, 9, 11, 3), dtype=np.float32)
    shift, step = (3, -4), 0.05
    stepped, value = ort.InferenceSession(str(out)).run(
        None, {"image": x, "shift": np.array(shift, np.int64), "step_size": np.array(step, np.float32)})
    rolled = torch.from_numpy(np.roll(x, shift, axis=(1, 2))).requires_grad_(True)
    objective = net(rolled)[:, 1].mean()
    objective.backward()
    g = np.roll(rolled.grad.numpy(), (-shift[0], -shift[1]), axis=(1, 2))
    expected = np.clip(x + step * g / (np.abs(g).mean() + STEP_EPS), 0.0, 1.0)
    assert np.isclose(value, objective.item(), rtol=1e-5)
    np.testing.assert_allclose(stepped, expected, atol=1e-5)


class _BatchMoved(torch.nn.Module):
    """Moves the batch off axis 0 and back through Reshapes of computed sizes (as tf2onnx's dilated convolutions
    do), so that shape inference leaves the tensors between open."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 6, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        n, c, h, w = y.shape
        moved = torch.relu(y.transpose(0, 1).reshape(c, n, h * w))
        return moved.reshape(c, n, h, w).transpose(0, 1).reshape(n, c, h, w)


def test_the_probe_keeps_a_moved_batch_open(tmp_path) -> None:
    """A probe on a batch of 1 froze the moved batch axis at 1: the gradient was right for one image and wrong
    (relative error ~1) for two."""
    torch.manual_seed(0)
    net = _BatchMoved().eval()
    model = tmp_path / "moved.onnx"
    torch.onnx.export(net, (torch.rand(1, 3, 16, 16),), str(model), input_names=["x"], dynamo=False,
                      opset_version=13, dynamic_axes={"x": {0: "n"}})
    last = [n.output[0] for n in onnx.load(str(model)).graph.node if n.op_type == "Reshape"][-1]
    out = tmp_path / "grad.onnx"
    result = runner.invoke(app, ["export", "--onnx", str(model), "--objective", f"[{last}]:4", "-o", str(out)])
    assert result.exit_code == 0, result.output
    x = np.random.default_rng(4).random((2, 3, 16, 16), dtype=np.float32)
    value, grad = ort.InferenceSession(str(out)).run(None, {"image": x})
    t = torch.from_numpy(x).requires_grad_(True)
    objective = net(t)[:, 4].mean(dim=(1, 2)).sum()  # vis's channel objective: per image, summed over the batch
    objective.backward()
    assert np.isclose(value, objective.item(), rtol=1e-4)
    assert np.linalg.norm(grad - t.grad.numpy()) / np.linalg.norm(t.grad.numpy()) < 1e-4
