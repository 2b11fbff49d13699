"""Benchmarks that cannot run fail at once with one message: `vis bench grad` children that fail or die (checked in
subprocesses with a deadline, so a regression shows as a failure rather than a hung suite), `vis bench atlas` with
fewer channels than a batch, `vis bench dream` without a backend. No timing is asserted."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from vis.cli import app
from vis.engine._bench import describe_threads, format_seconds, machine_summary
from vis.engine._dream_bench import BENCH_HEADERS, DreamBenchResult, check_backends, format_bench
from vis.engine._maximize import MaximizeError
from vis.engine._maximize_bench import bench_atlas
from vis.errors import UnknownNameError, VisError

DEADLINE_S = 180  # far above a normal run (seconds); only a hang reaches it
runner = CliRunner()


def _run(args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=DEADLINE_S, env=env)


def _run_python(code: str) -> subprocess.CompletedProcess:
    return _run(["-c", textwrap.dedent(code)])


@pytest.mark.parametrize("args, message", [
    (["--weights", "nosuch.pt"], "weights file not found: nosuch.pt"),
    (["--size", "0", "0"], "needs at least 32 pixels a side"),
    (["--size", "5000", "5000"], "sides above 4096 px are not timed"),  # its torch child was killed for memory
])
def test_bench_grad_refuses_what_it_cannot_run_before_spawning(args, message) -> None:
    out = _run(["-m", "vis", "bench", "grad", "efficientnet_lite0", "--size", "64", "64", "--runs", "3", *args])
    assert out.returncode == 2, out.stderr
    assert message in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


def _bench_grad_in_a_subprocess(arguments: str) -> subprocess.CompletedProcess:
    """``bench_grad(lenet5, tanh2, <arguments>, checked=True)`` in a fresh process, printing the BenchError it raises.

    checked=True skips the parent's checks, so the children meet the problem themselves.
    """
    return _run_python(f"""
        from vis.engine._bench import BenchError, bench_grad
        try:
            bench_grad("lenet5", "tanh2", {arguments}, threads=1, runs=3, checked=True)
        except BenchError as e:
            print("caught:", e)
    """)


def test_a_child_that_raises_a_user_error_reports_its_message() -> None:
    out = _bench_grad_in_a_subprocess('(28, 28), weights="nosuch.pt"')
    assert out.returncode == 0, out.stderr
    assert "caught: weights file not found: nosuch.pt" in out.stdout
    assert "Traceback" not in out.stderr


def test_a_child_that_crashes_is_named_with_its_exception() -> None:
    out = _bench_grad_in_a_subprocess('(4, 4), backends=("torch",)')
    assert out.returncode == 0, out.stderr
    assert "caught: the torch timing process failed: RuntimeError" in out.stdout
    assert "Traceback" not in out.stderr


def test_a_child_that_dies_is_reported_not_waited_for() -> None:
    out = _run_python("""
        import multiprocessing as mp
        from vis.engine._bench import BenchError, _export_worker, _start

        child = _start(mp.get_context("spawn"), "the export", _export_worker,
                       ("lenet5", "tanh2", "random", "fast", "/nonexistent/grad.onnx"))
        child.proc.kill()
        try:
            child.receive()
        except BenchError as e:
            print("caught:", e)
        child.end()
    """)
    assert out.returncode == 0, out.stderr
    assert "caught: the export died without a result (killed by signal 9) (out of memory?)" in out.stdout


def test_bench_grad_rejects_unknown_backends() -> None:
    from vis.engine._bench import bench_grad

    with pytest.raises(UnknownNameError):
        bench_grad("lenet5", "tanh2", (28, 28), backends=("onnx",))
    with pytest.raises(VisError, match="no backend"):
        bench_grad("lenet5", "tanh2", (28, 28), backends=())


def test_atlas_of_fewer_channels_than_a_batch_runs_as_one_smaller_batch() -> None:
    # A dense layer (no spatial dims) and a one-channel input model: both used to break the warm-up batch.
    r = bench_atlas("efficientnet_lite0", "fc", channels=2, size=32, iterations=1, batch=16, threads=1)
    assert r.batch == 2 and r.ort_seconds > 0 and r.torch_seconds > 0
    r = bench_atlas("lenet5", "fc3", channels=3, size=28, iterations=1, batch=16, threads=0)
    assert r.batch == 3


def test_atlas_refuses_bad_channels_and_sizes() -> None:
    with pytest.raises(MaximizeError, match="fc has 1000 channels"):
        bench_atlas("efficientnet_lite0", "fc", channels=1001, size=32, iterations=1)
    with pytest.raises(VisError, match="at least 32 pixels"):
        bench_atlas("efficientnet_lite0", "fc", channels=2, size=16, iterations=1)
    with pytest.raises(VisError, match="takes only 28x28 where the objective reads"):
        bench_atlas("lenet5", "fc3", channels=2, size=32, iterations=1)


def test_atlas_cli_prints_milliseconds_for_short_runs() -> None:
    result = runner.invoke(app, ["bench", "atlas", "efficientnet_lite0", "--layer", "fc", "--channels", "2",
                                 "--size", "32", "--iterations", "1", "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert "ORT (batch 2):" in result.output and " ms " in result.output


@pytest.mark.parametrize("backends, message", [(",", "no backend"), ("", "no backend"), ("ort,foo", "unknown backend"),
                                               ("ort,ort", "given twice")])
def test_bench_dream_refuses_empty_or_unknown_backends(backends, message) -> None:
    result = runner.invoke(app, ["bench", "dream", "--model", "efficientnet_lite0", "--frames", "1", "--width", "64",
                                 "--height", "48", "--backends", backends])
    assert result.exit_code == 2
    assert message in result.output


def test_check_backends() -> None:
    check_backends(("ort", "torch"))
    with pytest.raises(UnknownNameError):
        check_backends(["tensorrt"])


def test_dream_table_columns_line_up() -> None:
    lines = format_bench([DreamBenchResult("ort", 48, 12.3, 1.234, 3.2),
                          DreamBenchResult("torch", 48, 140.3, 2.5, 0.2)]).splitlines()
    header = lines[0]
    for label in BENCH_HEADERS[1:]:  # numbers are right-aligned: each ends where its header ends
        end = header.index(label) + len(label)
        for row in lines[1:]:
            assert row[end - 1] != " " and row[end:end + 2] in ("  ", "")
    assert "  first frame s  " in header
    one = format_bench([DreamBenchResult("ort", 1, 2.0, 2.0, 0.5)]).splitlines()[1]
    assert one.split()[5] == "-"  # one frame has no frames after the first, so no rate for them


def test_threads_zero_is_named_and_durations_keep_their_digits() -> None:
    assert describe_threads(0) == "library-default threads" and describe_threads(3) == "3 threads"
    assert "library-default threads" in machine_summary(0)
    assert format_seconds(0.0004) == "0.4 ms" and format_seconds(12.345) == "12.35 s"


def test_step_help_lists_every_engine() -> None:
    from vis.engine._step_bench import ENGINES

    result = runner.invoke(app, ["bench", "step", "--help"], env={"COLUMNS": "200"}, terminal_width=200)
    assert result.exit_code == 0
    assert all(engine in result.output for engine in ENGINES)


def test_bench_dream_refuses_a_grey_model() -> None:
    from vis.engine._dream import DreamError
    from vis.engine._dream_bench import bench_dream

    with pytest.raises(DreamError, match="DeepDream needs a colour model"):
        bench_dream(model="lenet5", frames=2, size=(64, 48), backends=("ort",))


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this torch has CUDA")
def test_bench_dream_refuses_a_provider_this_machine_lacks_before_the_run() -> None:
    from vis.engine._dream_bench import bench_dream

    with pytest.raises(VisError, match="no CUDA device"):
        bench_dream(model="efficientnet_lite0", frames=2, size=(64, 48), backends=("torch",), provider="cuda")


def test_bench_step_refuses_a_size_given_twice_and_a_device_without_engines(monkeypatch) -> None:
    import vis.engine._step_bench as step_bench

    result = runner.invoke(app, ["bench", "step", "lenet5", "--sizes", "28,32,28"])
    assert result.exit_code == 2 and "size '28' is given twice" in result.output, result.output
    monkeypatch.setattr(step_bench, "available_engines", lambda device: [])
    result = runner.invoke(app, ["bench", "step", "lenet5", "--sizes", "28", "--device", "cpu"])
    assert result.exit_code == 2 and "no engine can run on cpu here" in result.output, result.output


def test_bench_atlas_defaults_to_the_models_own_layer() -> None:
    result = runner.invoke(app, ["bench", "atlas", "lenet5", "--channels", "2", "--size", "28", "--iterations", "1"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("lenet5 tanh2, 2 channels") and "speed-up" in result.output


@pytest.mark.parametrize("args, message", [
    (["dream", "--model", "nomodel"], "unknown model 'nomodel'"),
    (["dream", "--model", "lenet5"], "DeepDream needs a colour model"),
    (["dream", "--weights", "nosuch"], "unknown weights 'nosuch'"),
    (["dream", "--backends", "torch", "--cuda-graph"], "--cuda-graph is the ort backend's"),
    (["dream", "--backends", "ort", "--cuda-graph", "--provider", "cpu"], "CUDA graphs need the cuda execution provider"),
    (["atlas", "lenet5", "--layer", "nosuch"], "unknown layer of lenet5 'nosuch'"),
    (["atlas", "lenet5", "--layer", "conv1", "--channels", "99"], "conv1 has 6 channels"),
])
def test_bench_loops_refuse_bad_input_before_their_header(args, message) -> None:
    # The header line names the run; printed before the refusal it read as if the benchmark had started.
    result = runner.invoke(app, ["bench", *args, "--threads", "1"] if args[0] == "atlas" else
                           ["bench", *args, "--frames", "1", "--width", "64", "--height", "48", "--threads", "1"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error:") and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
