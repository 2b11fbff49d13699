"""Side-by-side benchmarks: each backend runs in its own child process (so its peak memory is its own), the same
thread count, warm-up then the median of repeated runs taken in alternation. Results are ratios measured in one
invocation."""

from __future__ import annotations

import multiprocessing as mp
import os
import platform
import resource
import statistics
import time
from dataclasses import asdict, dataclass, replace
from datetime import date


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
    return f"{cpu}, {os.cpu_count()} cores, {threads} threads, {platform.system()}, {date.today().isoformat()}"


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _export_worker(model: str, spec: str, weights: str, variant: str, path: str, queue: mp.Queue) -> None:
    import onnx

    from vis.exporters import parse_objective
    from vis.exporters._gradient import gradient_graph
    from vis.models import get_model

    t0 = time.perf_counter()
    proto = gradient_graph(model, get_model(model, weights=weights), parse_objective(spec, model), variant=variant,
                           weights=weights)
    onnx.save(proto, path)
    queue.put((time.perf_counter() - t0, _peak_rss_mib()))


def _grad_worker(backend: str, model: str, spec: str, size: tuple[int, int], threads: int, weights: str,
                 graph_path: str, conn) -> None:
    """Set up one backend, then time one gradient per ``"run"`` message; ``"stop"`` returns the peak RSS."""
    import numpy as np
    import torch

    torch.set_num_threads(threads)
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
    while conn.recv() == "run":
        t = time.perf_counter()
        step()
        conn.send((time.perf_counter() - t) * 1000)
    conn.send(_peak_rss_mib())


def _child(ctx, target, args: tuple):
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def bench_grad(model: str, spec: str, size: tuple[int, int], threads: int = 2, runs: int = 10, warmup: int = 3,
               weights: str = "random", variant: str = "fast", backends: tuple[str, ...] = ("torch", "ort", "ort-onnx"),
               pause_s: float = 0.3) -> list[Timing]:
    """Forward + backward to the input, per backend, each in a child process of its own, timed in alternation.

    ORT's gradient graph is exported first in a child of its own and written to a temporary file; the ORT timing
    process loads only that file, as a deployed graph would be run (no torch model in memory). The timing processes
    then take turns, one gradient each, with a short pause between turns so that neither's idle threads still spin
    during the other's run: a slow spell of the machine falls on both backends alike, which keeps the ratio honest
    on a shared host whose speed drifts by 10-20% over minutes. ``ort`` runs the graph as a vis CPU session does
    (on vis's native kernels where they build), ``ort-onnx`` the same file with standard ONNX ops only.
    """
    import tempfile

    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="vis-bench-") as tmp:
        graph_path = os.path.join(tmp, "grad.onnx")
        export = (_child(ctx, _export_worker, (model, spec, weights, variant, graph_path))
                  if any(b.startswith("ort") for b in backends) else None)
        workers = {}
        for backend in backends:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_grad_worker, args=(backend, model, spec, size, threads, weights, graph_path, child))
            proc.start()
            workers[backend] = (proc, parent, parent.recv())
        times: dict[str, list[float]] = {b: [] for b in backends}
        for i in range(warmup + runs):
            for backend, (_, conn, _) in workers.items():
                time.sleep(pause_s)
                conn.send("run")
                elapsed = conn.recv()
                if i >= warmup:
                    times[backend].append(elapsed)
        results = []
        for backend, (proc, conn, setup) in workers.items():
            conn.send("stop")
            peak = conn.recv()
            proc.join()
            timing = Timing(backend, statistics.median(times[backend]), min(times[backend]), runs, peak, setup)
            if backend.startswith("ort") and export is not None:
                timing = replace(timing, setup_s=setup + export[0], export_peak_rss_mib=export[1])
            results.append(timing)
    return results


def as_dict(t: Timing) -> dict[str, object]:
    return asdict(t)
