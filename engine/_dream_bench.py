"""Frames per second of video DeepDream on a synthetic clip, each backend in the same run with the same threads."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vis.engine._dream import DreamConfig, VideoDreamConfig, dream_frames
from vis.errors import UnknownNameError, VisError


class DreamBenchError(VisError):
    """A dream benchmark that cannot run as asked."""


@dataclass(frozen=True)
class DreamBenchResult:
    """One backend's timing: ``fps`` over all frames; ``first_s`` is the first frame (full octaves), build excluded."""

    backend: str
    frames: int
    seconds: float
    first_s: float
    build_s: float

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def later_fps(self) -> float:
        """Frames per second after the first, whose full octaves also create the sessions (and capture CUDA graphs)."""
        rest = self.seconds - self.first_s
        return (self.frames - 1) / rest if self.frames > 1 and rest > 0 else 0.0


def synthetic_clip(frames: int = 48, size: tuple[int, int] = (640, 360), seed: int = 0) -> list[np.ndarray]:
    """A smooth textured scene with a disc moving across it: ``frames`` HxWx3 float32 images of ``size`` = (w, h)."""
    import cv2

    w, h = size
    rng = np.random.default_rng(seed)
    background = cv2.GaussianBlur(rng.random((h, w, 3)).astype(np.float32), (0, 0), 6)
    background = (background - background.min()) / (np.ptp(background) + 1e-6)
    clip = []
    for i in range(frames):
        frame = background.copy()
        cx = int(w * (0.2 + 0.6 * i / max(1, frames - 1)))
        cv2.circle(frame, (cx, h // 2), h // 6, (0.9, 0.3, 0.2), -1, cv2.LINE_AA)
        clip.append(frame)
    return clip


def bench_dream(model: str = "googlenet", weights: str = "random", frames: int = 48,
                size: tuple[int, int] = (640, 360), backends: Sequence[str] = ("ort", "torch"), threads: int = 2,
                provider: str = "auto", config: DreamConfig = DreamConfig(),
                video: VideoDreamConfig = VideoDreamConfig(), seed: int = 0, pause_s: float = 0.05,
                cuda_graph: bool = False, checked: bool = False) -> list[DreamBenchResult]:
    """Dream the same synthetic clip on each backend (default settings) and time it.

    Timing does not depend on the weights' values, so random GoogLeNet weights stand in for ImageNet's.
    ``cuda_graph`` applies to the ort backend only (torch stays the eager reference). ``checked``: the caller has
    run :func:`check_dream_bench` (which loads named weights once to check them), so it is not run again.
    """
    from vis.engine._backend import make_backend
    from vis.exporters import parse_objective
    from vis.models import get_model, model_spec

    if not checked:
        check_dream_bench(model, backends, provider, cuda_graph, weights)
    clip = synthetic_clip(frames, size, seed)
    runs = []
    for kind in backends:
        t0 = time.perf_counter()
        net = get_model(model, weights)
        objective = parse_objective(model_spec(model).default_layer, model)
        ort_only = {"cuda_graph": cuda_graph} if kind == "ort" else {}
        backend = make_backend(kind, model, net, objective, provider=provider, threads=threads, weights=weights,
                               **ort_only)
        frames_out = dream_frames(backend, clip, config, video, rng=np.random.default_rng(seed))
        runs.append((kind, frames_out, time.perf_counter() - t0, []))
    # On a CPU, backends take turns frame by frame (a short pause between turns lets idle worker threads stop
    # spinning), so a slow spell of a shared machine falls on all of them alike. ``pause_s=0`` (GPU runs) times each
    # backend's clip in one go instead: the device loop reads the next frame's flow ahead while a frame is dreamed,
    # and another backend's turn or a pause would hide that work from the time.
    def timed(frames_out, times) -> None:
        t = time.perf_counter()
        next(frames_out)
        times.append(time.perf_counter() - t)

    if pause_s > 0:
        for _ in clip:
            for _, frames_out, _, times in runs:
                time.sleep(pause_s)
                timed(frames_out, times)
    else:
        for _, frames_out, _, times in runs:
            for _ in clip:
                timed(frames_out, times)
    return [DreamBenchResult(kind, len(times), sum(times), times[0], build) for kind, _, build, times in runs]


def check_dream_bench(model: str, backends: Sequence[str], provider: str, cuda_graph: bool,
                      weights: str = "random") -> None:
    """Refuse what :func:`bench_dream` cannot run (an unknown or grey model, weights that do not load, a backend or
    provider this machine lacks, CUDA graphs without the ort backend on the cuda provider) before any clip is made."""
    from vis.engine._backend import check_backend
    from vis.engine._bench import check_weights
    from vis.engine._dream import check_dreamable
    from vis.engine._session import provider_list, resolve_provider

    check_backends(backends)
    for kind in backends:  # a provider this machine lacks fails here, not in the middle of the run
        check_backend(kind, provider)
    check_dreamable(model)
    if cuda_graph:
        if "ort" not in backends:
            raise DreamBenchError("--cuda-graph is the ort backend's (torch stays eager): add ort to --backends")
        provider_list(resolve_provider(provider), cuda_graph=True)  # CUDA graphs exist on the cuda provider only
    check_weights(model, weights)


def check_backends(backends: Sequence[str]) -> None:
    """Refuse an empty list, an unknown name or a name given twice before any clip or model is made."""
    from vis.engine._backend import BACKENDS

    if not backends:
        raise DreamBenchError(f"no backend to time: give --backends, comma-separated, from {', '.join(BACKENDS)}")
    for name in backends:
        if name not in BACKENDS:
            raise UnknownNameError("backend", name, BACKENDS)
    twice = [b for i, b in enumerate(backends) if b in backends[:i]]
    if twice:
        raise DreamBenchError(f"backend {twice[0]} is given twice")


BENCH_HEADERS = ("backend", "frames", "seconds", "fps", "first frame s", "fps after first", "build s", "x ref")


def format_bench(results: Sequence[DreamBenchResult]) -> str:
    """Plain-text table, with each backend's speed relative to the last (torch, by default). Two spaces between
    columns, so that headers of several words stay apart; numbers right-aligned under theirs."""
    ref = results[-1].fps if results else 0.0
    rows = [[r.backend, f"{r.frames:d}", f"{r.seconds:.1f}", f"{r.fps:.3f}", f"{r.first_s:.2f}",
             f"{r.later_fps:.3f}" if r.frames > 1 else "-",
             f"{r.build_s:.1f}", f"{r.fps / ref if ref else 0.0:.2f}"] for r in results]
    widths = [max(len(cell) for cell in column) for column in zip(BENCH_HEADERS, *rows)]

    def line(cells) -> str:
        first, *numbers = cells
        return "  ".join([first.ljust(widths[0]), *(c.rjust(w) for c, w in zip(numbers, widths[1:]))])

    return "\n".join(line(cells) for cells in [BENCH_HEADERS, *rows])
