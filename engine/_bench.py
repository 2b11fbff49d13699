"""Side-by-side benchmarks: each backend runs in its own child process (so its peak memory is its own), the same
thread count, warm-up then the median of repeated runs taken in alternation. Results are ratios measured in one
invocation."""

from __future__ import annotations

import multiprocessing as mp
import os
import platform
import resource
import signal
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import NoReturn

from vis.errors import VisError

# How often a parent waiting on a child checks that the child still lives (a dead child never answers).
POLL_S = 0.5


class BenchError(VisError):
    """A benchmark that cannot run as asked, or one of its child processes that failed."""


@dataclass(frozen=True)
class Timing:
    """One backend's gradient timing. ``peak_rss_mib`` is the timing process's lifetime peak; for ORT that process
    only loads the exported graph file (what a deployment runs), and ``export_peak_rss_mib`` is the one-time export's
    own process (torch model + graph building)."""

    backend: str
    median_ms: float
    min_ms: float
    runs: int
    peak_rss_mib: float
    setup_s: float
    export_peak_rss_mib: float | None = None


def machine_summary(threads: int) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    today = date.today().isoformat()
    return f"{cpu}, {os.cpu_count()} cores, {describe_threads(threads)}, {platform.system()}, {today}"


def describe_threads(threads: int) -> str:
    """``--threads`` in words: 0 leaves each library (ORT, torch) its own default, all physical cores."""
    return f"{threads} threads" if threads else "library-default threads"


def format_seconds(seconds: float) -> str:
    """A duration with the digits that a ratio of two of them needs: milliseconds below a second."""
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


MAX_BENCH_SIDE = 4096


def check_input_sizes(model: str, layers: Sequence[str], sizes: Sequence[tuple[int, int]]) -> None:
    """Fail before any work on input sizes (H, W) that ``model`` cannot take up to ``layers``: below its minimum
    side, or other than the fixed size of a classifier among them."""
    from vis.models import model_spec

    info = model_spec(model)
    crop, min_size = info.preprocessing.crop, info.preprocessing.min_size
    if not info.dynamic_size(list(layers)):
        odd = [s for s in sizes if s != (crop, crop)]
        if odd:
            raise BenchError(f"{model} takes only {crop}x{crop} where the objective reads {', '.join(layers)}: its "
                             f"classifier has a fixed input size (got {odd[0][0]}x{odd[0][1]})")
    small = [s for s in sizes if min(s) < min_size]
    if small:
        raise BenchError(f"{model} needs at least {min_size} pixels a side; got {small[0][0]}x{small[0][1]}")
    large = [s for s in sizes if max(s) > MAX_BENCH_SIDE]
    if large:
        raise BenchError(f"sides above {MAX_BENCH_SIDE} px are not timed (a 4K frame fits; a gradient's memory grows "
                         f"with the area); got {large[0][0]}x{large[0][1]}")


def check_weights(model: str, weights: str) -> None:
    """Load ``weights`` once here, so that a missing file, a failed download or a file that does not fit fails in
    this process with its own message, before any child process starts. Random weights always exist."""
    if weights == "random":
        return
    from vis.models import get_model

    get_model(model, weights=weights)


def peak_memory_mib() -> float:
    """Peak resident memory of this process (ru_maxrss: KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


GRAD_BACKENDS = ("torch", "ort", "ort-onnx")


@dataclass(frozen=True)
class ChildFailure:
    """What a child process sends back instead of a result when it raises. ``user_error``: the exception was a
    :class:`VisError`, whose message is meant for the user as it stands."""

    message: str
    user_error: bool


def _report_errors(target: Callable[..., None], args: tuple, conn) -> None:
    """A child's entry point: ``target(*args, conn)``, with any exception sent back through ``conn`` as a
    :class:`ChildFailure` rather than printed: the parent reports it as one error (and an exception object need
    not survive pickling)."""
    try:
        target(*args, conn)
    except KeyboardInterrupt:
        pass  # Ctrl+C reached the whole process group: the parent, interrupted too, says so once
    except Exception as e:
        user_error = isinstance(e, VisError)
        conn.send(ChildFailure(str(e) if user_error else f"{type(e).__name__}: {e}", user_error))
    finally:
        conn.close()


@dataclass
class _Child:
    """A child process seen from the parent: its pipe end, and ``what`` it is, for error messages."""

    what: str
    proc: mp.process.BaseProcess
    conn: object

    def send(self, message: object) -> None:
        try:
            self.conn.send(message)  # type: ignore[attr-defined]
        except OSError:  # the child is gone (a broken pipe): say why, from what it left
            self.receive()
            raise BenchError(f"{self.what} stopped answering") from None

    def receive(self) -> object:
        """The child's next message. Raises :class:`BenchError` as soon as the child fails or dies instead."""
        conn = self.conn
        while not conn.poll(POLL_S):  # type: ignore[attr-defined]
            if not self.proc.is_alive() and not conn.poll(0):  # type: ignore[attr-defined]
                self._died()  # dead, and nothing it sent before dying is left to read
        try:
            message = conn.recv()  # type: ignore[attr-defined]
        except EOFError:
            self._died()
        if isinstance(message, ChildFailure):
            raise BenchError(message.message if message.user_error else f"{self.what} failed: {message.message}")
        return message

    def _died(self) -> NoReturn:
        self.proc.join()
        code = self.proc.exitcode or 0
        how = f"exit code {code}" if code >= 0 else f"killed by signal {-code}"
        hint = " (out of memory?)" if code == -signal.SIGKILL else ""
        raise BenchError(f"{self.what} died without a result ({how}){hint}")

    def end(self) -> None:
        """Stop the child whatever its state (a failure elsewhere leaves it waiting for a message)."""
        if self.proc.is_alive():
            self.proc.terminate()
        self.proc.join()
        self.conn.close()  # type: ignore[attr-defined]


def _start(ctx, what: str, target: Callable[..., None], args: tuple) -> _Child:
    parent_end, child_end = ctx.Pipe()
    proc = ctx.Process(target=_report_errors, args=(target, args, child_end), daemon=True)
    proc.start()
    child_end.close()  # the child now holds the only copy: when it exits, reading here sees the end of the pipe
    return _Child(what, proc, parent_end)


def _export_worker(model: str, spec: str, weights: str, variant: str, path: str, conn) -> None:
    import onnx

    from vis.exporters import parse_objective
    from vis.exporters._gradient import gradient_graph
    from vis.models import get_model

    t0 = time.perf_counter()
    proto = gradient_graph(model, get_model(model, weights=weights), parse_objective(spec, model), variant=variant,
                           weights=weights)
    onnx.save(proto, path)
    conn.send((time.perf_counter() - t0, peak_memory_mib()))


def _grad_worker(backend: str, model: str, spec: str, size: tuple[int, int], threads: int, weights: str,
                 graph_path: str, conn) -> None:
    """Set up one backend, then per message ``n`` run one gradient untimed and answer the mean milliseconds of the
    ``n`` after it; ``"stop"`` returns the peak RSS."""
    import numpy as np

    from vis.engine._torch_device import limit_torch_threads

    limit_torch_threads(threads)
    t0 = time.perf_counter()
    if backend in ("ort", "ort-onnx"):
        import onnx

        from vis.engine._native import DISABLE_ENV
        from vis.engine._session import BoundRunner, SessionConfig, create_session
        from vis.models import model_spec

        if backend == "ort-onnx":
            os.environ[DISABLE_ENV] = "0"  # the graph as exported: standard ONNX ops only
        proto = onnx.load(graph_path)
        runner = BoundRunner(create_session(proto, SessionConfig("cpu", threads)))
        del proto
        channels = model_spec(model).preprocessing.channels
        x = np.random.default_rng(0).random((1, channels, *size), dtype=np.float32)
        step = lambda: runner.run({"image": x})  # noqa: E731
    else:
        from vis.engine._backend import make_backend
        from vis.exporters import parse_objective
        from vis.models import get_model

        net = get_model(model, weights=weights)
        torch_runner = make_backend("torch", model, net, parse_objective(spec, model), provider="cpu", threads=threads)
        x = np.random.default_rng(0).random((1, net.input_mean.shape[1], *size), dtype=np.float32)
        step = lambda: torch_runner.gradient(x)  # noqa: E731
    step()
    conn.send(time.perf_counter() - t0)
    while (repeat := conn.recv()) != "stop":
        step()  # the threads wake from the pause between turns: a cost a loop of steps does not pay
        t = time.perf_counter()
        for _ in range(repeat):
            step()
        conn.send((time.perf_counter() - t) * 1000 / repeat)
    conn.send(peak_memory_mib())


def check_grad_bench(model: str, spec: str, size: tuple[int, int], weights: str, backends: Sequence[str]) -> None:
    """Everything about a ``bench_grad`` request that this process can check before any child starts."""
    from vis.errors import UnknownNameError
    from vis.exporters import parse_objective

    for backend in backends:
        if backend not in GRAD_BACKENDS:
            raise UnknownNameError("backend", backend, GRAD_BACKENDS)
    if not backends:
        raise BenchError(f"no backend to time: choose from {', '.join(GRAD_BACKENDS)}")
    check_input_sizes(model, parse_objective(spec, model).layers(), [size])
    check_weights(model, weights)


def _start_and_wait(ctx, children: list[_Child], what: str, target: Callable[..., None],
                    args: tuple) -> tuple[_Child, object]:
    """Start a child (listed in ``children``, for the caller to end) and wait for its first message."""
    child = _start(ctx, what, target, args)
    children.append(child)
    return child, child.receive()


TURN_MS = 50.0  # a timed turn repeats a fast gradient until it lasts about this long


def _time_in_turns(workers: dict[str, _Child], warmup: int, runs: int, pause_s: float) -> dict[str, list[float]]:
    """Milliseconds per gradient, ``runs`` per backend after ``warmup``, one backend's turn after another's.

    A turn times as many gradients in a row as fill :data:`TURN_MS` (one for a slow gradient), after one untimed: a
    2 ms LeNet-5 gradient timed alone measured the wake-up after the pause as much as the gradient, and its median
    moved 3x between runs."""
    times: dict[str, list[float]] = {b: [] for b in workers}
    repeats = dict.fromkeys(workers, 1)
    for i in range(warmup + runs):
        for backend, worker in workers.items():
            time.sleep(pause_s)
            worker.send(repeats[backend])
            elapsed: float = worker.receive()  # type: ignore[assignment]
            if i >= warmup:
                times[backend].append(elapsed)
            else:  # each warm-up turn sets the next turn's repeat
                repeats[backend] = max(1, min(1000, round(TURN_MS / max(elapsed, 1e-3))))
    return times


def _finish(backend: str, worker: _Child, times: list[float], setup_s: float, export: tuple | None) -> Timing:
    """Stop ``worker`` (it answers with its peak RSS) and sum up its timing; ORT's includes the export's."""
    worker.send("stop")
    peak = worker.receive()
    timing = Timing(backend, statistics.median(times), min(times), len(times), peak, setup_s)  # type: ignore[arg-type]
    if backend.startswith("ort") and export is not None:
        timing = replace(timing, setup_s=setup_s + export[0], export_peak_rss_mib=export[1])
    return timing


def bench_grad(model: str, spec: str, size: tuple[int, int], threads: int = 2, runs: int = 10, warmup: int = 3,
               weights: str = "random", variant: str = "fast", backends: tuple[str, ...] = GRAD_BACKENDS,
               pause_s: float = 0.3, checked: bool = False) -> list[Timing]:
    """Forward + backward to the input, per backend, each in a child process of its own, timed in alternation.

    ORT's gradient graph is exported first in a child of its own and written to a temporary file; the ORT timing
    process loads only that file, as a deployed graph would be run (no torch model in memory). The timing processes
    then take turns, one gradient each, with a short pause between turns so that neither's idle threads still spin
    during the other's run: a slow spell of the machine falls on both backends alike, which keeps the ratio honest
    on a shared host whose speed drifts by 10-20% over minutes. ``ort`` runs the graph as a vis CPU session does
    (on vis's native kernels where they build), ``ort-onnx`` the same file with standard ONNX ops only.
    ``threads`` 0 leaves each library its default. ``checked``: the caller has run :func:`check_grad_bench` (which
    loads file or published weights once) and it need not run again.

    Raises:
        BenchError: a size, weights or backend that cannot run (checked here first), or a child process that failed
            or died (with its message).
    """
    import tempfile

    if not checked:
        check_grad_bench(model, spec, size, weights, backends)
    ctx = mp.get_context("spawn")
    children: list[_Child] = []
    with tempfile.TemporaryDirectory(prefix="vis-bench-") as tmp:
        graph_path = os.path.join(tmp, "grad.onnx")
        try:
            export = None
            if any(b.startswith("ort") for b in backends):
                _, export = _start_and_wait(ctx, children, "the gradient graph export", _export_worker,
                                            (model, spec, weights, variant, graph_path))
            workers, setups = {}, {}
            for backend in backends:  # one after another, so that each sets up on a quiet machine
                workers[backend], setups[backend] = _start_and_wait(
                    ctx, children, f"the {backend} timing process", _grad_worker,
                    (backend, model, spec, size, threads, weights, graph_path))
            times = _time_in_turns(workers, warmup, runs, pause_s)
            return [_finish(b, w, times[b], setups[b], export) for b, w in workers.items()]  # type: ignore[arg-type]
        finally:  # before the graph file goes; after a failure the other children still wait for a message
            for child in children:
                child.end()
