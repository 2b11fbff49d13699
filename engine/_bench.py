"""Side-by-side benchmarks: each backend runs in its own child process (so its peak memory is its own), the same
thread count, warm-up then the median of repeated runs. Results are ratios measured in one invocation."""

from __future__ import annotations

import multiprocessing as mp
import os
import platform
import resource
import statistics
import time
from dataclasses import asdict, dataclass
from datetime import date


@dataclass(frozen=True)
class Timing:
    backend: str
    median_ms: float
    min_ms: float
    runs: int
    peak_rss_mib: float
    setup_s: float


def machine_summary(threads: int) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {threads} threads, {platform.system()}, {date.today().isoformat()}"


def _grad_worker(backend: str, model: str, spec: str, size: tuple[int, int], threads: int, runs: int, warmup: int,
                 weights: str, variant: str, queue: mp.Queue) -> None:
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    from vis.engine._backend import make_backend
    from vis.exporters import parse_objective
    from vis.models import get_model

    t0 = time.perf_counter()
    net = get_model(model, weights=weights)
    objective = parse_objective(spec, model)
    runner = make_backend(backend, model, net, objective, provider="cpu", threads=threads, variant=variant)
    x = np.random.default_rng(0).random((1, net.input_mean.shape[1], *size), dtype=np.float32)
    if backend == "ort":
        # The ORT backend needs neither the torch model nor the graph protobuf once its session exists.
        import gc

        runner.gradient(x)
        del net
        runner.grad_proto = None
        gc.collect()
    runner.gradient(x)
    setup = time.perf_counter() - t0
    for _ in range(warmup):
        runner.gradient(x)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        runner.gradient(x)
        times.append((time.perf_counter() - t) * 1000)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put(Timing(backend, statistics.median(times), min(times), runs, peak, setup))


def bench_grad(model: str, spec: str, size: tuple[int, int], threads: int = 2, runs: int = 10, warmup: int = 3,
               weights: str = "random", variant: str = "fast", backends: tuple[str, ...] = ("torch", "ort")) -> list[Timing]:
    """Forward + backward to the input, per backend, each in a fresh child process."""
    ctx = mp.get_context("spawn")
    results = []
    for backend in backends:
        queue = ctx.Queue()
        proc = ctx.Process(target=_grad_worker, args=(backend, model, spec, size, threads, runs, warmup, weights, variant, queue))
        proc.start()
        results.append(queue.get())
        proc.join()
    return results


def as_dict(t: Timing) -> dict[str, object]:
    return asdict(t)
