"""Side-by-side benchmarks: each backend runs in its own child process (so its peak memory is its own), the same
thread count, warm-up then the median of repeated runs. Results are ratios measured in one invocation."""

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


def _time(fn, runs: int, warmup: int) -> tuple[float, float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), min(times)


def _grad_worker(backend: str, model: str, spec: str, size: tuple[int, int], threads: int, runs: int, warmup: int,
                 weights: str, graph_path: str, queue: mp.Queue) -> None:
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    if backend == "ort":
        import onnx

        from vis.engine._session import BoundRunner, SessionConfig, create_session
        from vis.models import model_spec

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
    setup = time.perf_counter() - t0
    median, fastest = _time(step, runs, warmup)
    queue.put(Timing(backend, median, fastest, runs, _peak_rss_mib(), setup))


def _child(ctx, target, args: tuple):
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def bench_grad(model: str, spec: str, size: tuple[int, int], threads: int = 2, runs: int = 10, warmup: int = 3,
               weights: str = "random", variant: str = "fast", backends: tuple[str, ...] = ("torch", "ort")) -> list[Timing]:
    """Forward + backward to the input, per backend, each timed in a fresh child process.

    ORT's gradient graph is exported first in a child of its own and written to a temporary file; the ORT timing
    process loads only that file, as a deployed graph would be run (no torch model in memory).
    """
    import tempfile

    ctx = mp.get_context("spawn")
    results = []
    with tempfile.TemporaryDirectory(prefix="vis-bench-") as tmp:
        graph_path = os.path.join(tmp, "grad.onnx")
        for backend in backends:
            export = None
            if backend == "ort":
                export = _child(ctx, _export_worker, (model, spec, weights, variant, graph_path))
            timing = _child(ctx, _grad_worker, (backend, model, spec, size, threads, runs, warmup, weights, graph_path))
            if export is not None:
                timing = replace(timing, setup_s=timing.setup_s + export[0], export_peak_rss_mib=export[1])
            results.append(timing)
    return results


def as_dict(t: Timing) -> dict[str, object]:
    return asdict(t)
