"""Benchmark of layer atlases: batched ORT graphs against torch eager one channel at a time."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from vis.engine._maximize import MaximizeConfig, batch_objective, maximize_batch


@dataclass(frozen=True)
class AtlasBench:
    """Seconds for the same atlas (same config, same threads) on both backends."""

    model: str
    layer: str
    channels: int
    size: int
    steps: int
    batch: int
    threads: int
    ort_seconds: float
    torch_seconds: float

    @property
    def speedup(self) -> float:
        return self.torch_seconds / self.ort_seconds if self.ort_seconds else float("nan")


def bench_atlas(model_name: str = "googlenet", layer: str = "inception4a", channels: int = 64, size: int = 128,
                iterations: int = 8, batch: int = 16, threads: int = 2, weights: str = "random") -> AtlasBench:
    """Atlas of ``channels`` channels of ``layer`` at ``size`` x ``size`` (one scale, ``iterations`` steps).

    ORT: one gradient graph, ``batch`` channels per run (graph building excluded, one warm-up run). Torch: the
    reference backend, one channel per run, the way a torch-eager script does it. Same config, same threads.
    """
    import torch

    from vis.engine._backend import make_backend
    from vis.models import get_model

    model = get_model(model_name, weights=weights)
    objective = batch_objective(model_name, layer)
    config = MaximizeConfig.for_model(model_name, objective, scales=(size,), iterations=iterations)
    units = list(range(channels))
    torch.set_num_threads(threads)

    ort = make_backend("ort", model_name, model, objective, threads=threads, guide=objective.selection(units[:batch]))
    ort.gradient(np.full((batch, 3, size, size), 0.5, np.float32))  # builds the session: not timed
    start = time.perf_counter()
    for i in range(0, channels, batch):
        chunk = units[i : i + batch]
        ort.set_guide(objective.selection(chunk))
        maximize_batch(ort, config, len(chunk))
    ort_seconds = time.perf_counter() - start

    tch = make_backend("torch", model_name, model, objective, threads=threads, guide=objective.selection(units[:1]))
    tch.gradient(np.full((1, 3, size, size), 0.5, np.float32))  # warm-up
    start = time.perf_counter()
    for c in units:
        tch.set_guide(objective.selection([c]))
        maximize_batch(tch, config, 1)
    torch_seconds = time.perf_counter() - start
    return AtlasBench(model_name, layer, channels, size, config.steps, batch, threads, ort_seconds, torch_seconds)


__all__ = ["AtlasBench", "bench_atlas"]
