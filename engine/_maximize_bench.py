"""Benchmark of layer atlases: batched ORT graphs against torch eager one channel at a time."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from vis.engine._bench import check_input_sizes
from vis.engine._atlas import batch_objective
from vis.engine._maximize import MaximizeConfig, MaximizeError, maximize_batch
from vis.exporters._objectives import BatchChannelObjective


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
    from vis.engine._backend import make_backend
    from vis.engine._torch_device import limit_torch_threads
    from vis.models import get_model

    objective = check_atlas_bench(model_name, layer, channels, size)
    config = MaximizeConfig.for_model(model_name, objective, scales=(size,), iterations=iterations)
    model = get_model(model_name, weights=weights)
    units = list(range(channels))
    # The warm-up batch and its channel selection must have as many images as selected channels (the graph's
    # objective multiplies them), so an atlas smaller than a batch runs as one batch of its own size.
    batch = min(batch, channels)
    limit_torch_threads(threads)

    ort = make_backend("ort", model_name, model, objective, threads=threads, guide=objective.selection(units[:batch]))
    ort.gradient(_grey(batch, config))  # builds the session: not timed
    start = time.perf_counter()
    for i in range(0, channels, batch):
        chunk = units[i : i + batch]
        ort.set_guide(objective.selection(chunk))
        maximize_batch(ort, config, len(chunk))
    ort_seconds = time.perf_counter() - start

    tch = make_backend("torch", model_name, model, objective, threads=threads, guide=objective.selection(units[:1]))
    tch.gradient(_grey(1, config))  # warm-up
    start = time.perf_counter()
    for c in units:
        tch.set_guide(objective.selection([c]))
        maximize_batch(tch, config, 1)
    torch_seconds = time.perf_counter() - start
    return AtlasBench(model_name, layer, channels, size, config.steps, batch, threads, ort_seconds, torch_seconds)


def check_atlas_bench(model_name: str, layer: str, channels: int, size: int) -> BatchChannelObjective:
    """Refuse an unknown model or layer, too many channels or a size the layer cannot see, before any model is built;
    returns the layer's batch objective."""
    objective = batch_objective(model_name, layer)
    check_channels(objective, channels)
    check_input_sizes(model_name, [layer], [(size, size)])
    return objective


def check_channels(objective: BatchChannelObjective, channels: int) -> None:
    """Refuse an atlas of more channels than the layer has (before any model is built)."""
    if not 1 <= channels <= objective.channels:
        raise MaximizeError(f"--channels {channels}: {objective.layer} has {objective.channels} channels "
                            f"(1..{objective.channels})")


def _grey(batch: int, config: MaximizeConfig) -> np.ndarray:
    """A mid-grey input batch at the atlas size, with the model's own number of input channels."""
    return np.full((batch, config.channels, config.size, config.size), 0.5, np.float32)


__all__ = ["AtlasBench", "bench_atlas", "check_atlas_bench"]
