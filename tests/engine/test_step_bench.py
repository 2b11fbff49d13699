"""`vis bench step`: device-resident step timing per engine; the numbers it reports are checked, not the speed."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from vis.cli import app
from vis.engine._step_bench import (CPU_FP16_NOTE, StepBenchError, bench_steps, check_engines, format_steps, notes,
                                    parse_sizes, resolve_device)
from vis.errors import UnknownNameError

runner = CliRunner()


def test_parse_sizes() -> None:
    assert parse_sizes("224, 512,720x1280") == [(224, 224), (512, 512), (720, 1280)]
    for bad in ("", "0", "axb", "224x"):
        with pytest.raises(StepBenchError):
            parse_sizes(bad)


def test_engine_and_device_checks() -> None:
    assert check_engines(["torch", "ort"], "cpu") == ["torch", "ort"]
    with pytest.raises(UnknownNameError):
        check_engines(["onnx"], "cpu")
    with pytest.raises(StepBenchError, match="tensorrt"):
        check_engines(["tensorrt"], "cpu")
    with pytest.raises(StepBenchError):
        resolve_device("tpu")


def test_engines_agree_on_the_first_update() -> None:
    results = bench_steps("googlenet", "inception3b", [(64, 80)], ["torch", "ort", "ort-fp16"], "cpu", runs=3,
                          warmup=1, threads=2)
    by = {r.engine: r for r in results}
    assert set(by) == {"torch", "ort", "ort-fp16"}
    assert all(r.size == (64, 80) and r.runs == 3 and r.median_ms > 0 for r in results)
    # torch and ORT float32 take the same step (same input and shift); float16 is near but not equal.
    assert by["torch"].update_error is not None and by["torch"].update_error < 1e-4
    assert by["ort-fp16"].update_error is not None and 1e-5 < by["ort-fp16"].update_error < 0.2
    assert by["ort"].update_error is None
    rows = format_steps(results)
    assert rows[0][5] == "1.00x" and rows[1][0] == "ort"


def test_cli_rejects_unavailable_engine_and_bad_size() -> None:
    result = runner.invoke(app, ["bench", "step", "--engines", "tensorrt", "--device", "cpu"])
    assert result.exit_code == 2 and "tensorrt" in result.output
    result = runner.invoke(app, ["bench", "step", "--sizes", "16"])
    assert result.exit_code == 2 and "at least 32 pixels" in result.output
    result = runner.invoke(app, ["bench", "step", "lenet5", "--objective", "class:3", "--sizes", "64"])
    assert result.exit_code == 2 and "takes only 28x28 where the objective reads fc4" in result.output


def test_cli_prints_a_table() -> None:
    result = runner.invoke(app, ["bench", "step", "lenet5", "--objective", "class:3", "--sizes", "28", "--runs", "3",
                                 "--engines", "torch,ort", "--device", "cpu", "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert "update vs ort fp32" in result.output and np.char.count(result.output, "lenet5") >= 1
    assert "not float16 arithmetic" not in result.output  # no ort-fp16 row, no note


def test_cli_notes_that_cpu_float16_is_not_float16() -> None:
    result = runner.invoke(app, ["bench", "step", "lenet5", "--objective", "class:3", "--sizes", "28", "--runs", "3",
                                 "--engines", "ort,ort-fp16", "--device", "cpu", "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert "ort-fp16" in result.output and "not float16 arithmetic" in result.output


def test_cpu_provider_runs_float16_convolutions_in_float32(tmp_path) -> None:
    """The fact behind CPU_FP16_NOTE: ORT's CPU provider wraps float16 Conv/Relu/MaxPool in casts to float32. If a
    future ORT computes them in float16, this fails and the note must go."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float16), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("MaxPool", ["r"], ["y"], kernel_shape=[2, 2], strides=[2, 2])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT16, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT16, [1, 4, 4, 4])], initializer=[w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.optimized_model_filepath = str(tmp_path / "placed.onnx")
    ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    placed = onnx.shape_inference.infer_shapes(onnx.load(str(tmp_path / "placed.onnx")))
    types = {v.name: v.type.tensor_type.elem_type for v in [*placed.graph.value_info, *placed.graph.output]}
    kinds = {n.op_type: types.get(n.output[0]) for n in placed.graph.node if n.op_type in ("Conv", "Relu", "MaxPool")}
    assert kinds == {"Conv": TensorProto.FLOAT, "Relu": TensorProto.FLOAT, "MaxPool": TensorProto.FLOAT}
    assert any(n.op_type == "Cast" for n in placed.graph.node)


def test_notes_only_for_cpu_float16() -> None:
    rows = bench_steps("lenet5", "class:3", [(28, 28)], ["ort", "ort-fp16"], "cpu", runs=3, warmup=1, threads=1)
    assert notes(rows) == [CPU_FP16_NOTE]
    assert notes([r for r in rows if r.engine == "ort"]) == []
