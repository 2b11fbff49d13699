"""`vis bench step`: device-resident step timing per engine; the numbers it reports are checked, not the speed."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from vis.cli import app
from vis.engine._step_bench import StepBenchError, bench_steps, check_engines, format_steps, parse_sizes, resolve_device
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
    assert result.exit_code == 2 and "28x28 only" in result.output


def test_cli_prints_a_table() -> None:
    result = runner.invoke(app, ["bench", "step", "lenet5", "--objective", "class:3", "--sizes", "28", "--runs", "3",
                                 "--engines", "torch,ort", "--device", "cpu", "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert "update vs ort fp32" in result.output and np.char.count(result.output, "lenet5") >= 1
