"""Per-step time of the fused DeepDream step on each engine, the image resident on the device between steps.

Engines: ``torch`` (eager autograd), ``ort`` (the fast float32 step graph), ``ort-graph`` (the same, one fixed
size, replayed as a CUDA graph), ``ort-fp16`` (the same graph in float16
with a float32 interface) and ``tensorrt`` (the index-free graph on TensorRT with its fp16 mode). ORT runs go
through IOBinding with two preallocated image OrtValues used in turn as input and output (ping-pong), so a step
copies nothing between host and device; torch keeps its tensor on the device the same way. All engines run in
one process, taking turns step by step, on the same inputs and the same jitter shifts.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from vis._text import comma_list
from vis.engine._bench import BenchError, check_input_sizes

ENGINES = ("torch", "ort", "ort-graph", "ort-fp16", "tensorrt")
STEP_SIZE = 1.5 / 255.0
# Gradient-graph variant per engine: float16 uses the index-free one because ORT's CPU provider has no float16
# ScatterElements(add) (the indexed max-pool backward); TensorRT has no scatter reductions at all.
_VARIANT = {"ort": "fast", "ort-graph": "fast", "ort-fp16": "tensorrt_safe", "tensorrt": "tensorrt_safe"}


class StepBenchError(BenchError):
    """An engine or device that this machine cannot run was asked for."""


@dataclass(frozen=True)
class StepTiming:
    """One engine at one size. ``update_error`` is the relative L2 distance of this engine's first update
    (image_out - image) from ORT float32's on the same input and shift (``None`` when not measured)."""

    engine: str
    device: str
    size: tuple[int, int]
    median_ms: float
    min_ms: float
    runs: int
    build_s: float
    update_error: float | None = None


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """``"224,512,720x1280"`` -> ``[(224, 224), (512, 512), (720, 1280)]`` (height x width)."""
    sizes = []
    for part in comma_list(text, "--sizes"):
        try:
            h, w = (int(v) for v in part.lower().split("x")) if "x" in part.lower() else (int(part), int(part))
        except ValueError:
            raise StepBenchError(f"bad size {part!r}: use N or HxW, comma separated (e.g. 224,512,720x1280)") from None
        if h < 1 or w < 1:
            raise StepBenchError(f"size {part!r} has no pixels: sides are at least 1")
        if (h, w) in sizes:
            raise StepBenchError(f"size {part!r} is given twice: each size is timed once, its engines side by side")
        sizes.append((h, w))
    if not sizes:
        raise StepBenchError("no sizes given")
    return sizes


def available_engines(device: str) -> list[str]:
    """Engines this machine can run on ``device`` (``cpu`` or ``cuda``)."""
    from vis.engine._session import available_providers

    if device == "cpu":
        return ["torch", "ort", "ort-fp16"]
    have = available_providers()
    engines = []
    import torch

    if torch.cuda.is_available():
        engines.append("torch")
    if "cuda" in have:
        engines += ["ort", "ort-graph", "ort-fp16"]
    if "tensorrt" in have:
        engines.append("tensorrt")
    return engines


def resolve_device(device: str) -> str:
    if device == "auto":
        from vis.engine._session import resolve_provider

        return resolve_provider("auto")  # cuda where this onnxruntime has it, else cpu
    if device not in ("cpu", "cuda"):
        raise StepBenchError(f"unknown device {device!r}: use auto, cpu or cuda")
    return device


def check_engines(engines: Sequence[str], device: str) -> list[str]:
    """Validate an explicit engine list against what ``device`` offers on this machine."""
    for name in engines:
        if name not in ENGINES:
            from vis.errors import UnknownNameError

            raise UnknownNameError("engine", name, list(ENGINES))
    twice = [name for i, name in enumerate(engines) if name in engines[:i]]
    if twice:
        raise StepBenchError(f"engine {twice[0]} is given twice: each engine is timed once, side by side")
    have = available_engines(device)
    missing = [e for e in engines if e not in have]
    if missing:
        raise StepBenchError(f"not available on {device} here: {', '.join(missing)} (available: {', '.join(have) or 'none'}); "
                             "`vis info` lists the providers")
    return list(engines)


Stepper = Callable[[], None]


def _ort_stepper(engine: str, device: str, grad_proto, value_range, image: np.ndarray, shifts: list[tuple[int, int]],
                 threads: int) -> tuple[Stepper, Callable[[], np.ndarray]]:
    """A closure running one ping-pong step per call, and one that fetches the current image.

    Each direction of the ping-pong has its own binding, bound once; ``ort-graph`` runs the fixed-size step graph
    with ORT's CUDA graph capture, one captured graph per direction (the device dream loop's form).
    """
    import onnxruntime as ort

    from vis.engine._session import SessionConfig, create_session, ping_pong_bindings
    from vis.exporters import to_float16
    from vis.exporters._gradient import step_graph

    captured = engine == "ort-graph"
    grad = to_float16(grad_proto) if engine == "ort-fp16" else grad_proto
    proto = step_graph(grad, value_range, size=image.shape[2:] if captured else None)
    config = SessionConfig("tensorrt" if engine == "tensorrt" else device, threads, cuda_graph=captured)
    session = create_session(proto, config)
    ort_device, device_id = config.device()
    # On CPU an OrtValue made from a numpy array shares its memory: copy, or the steps would overwrite ``image``.
    buffers = [ort.OrtValue.ortvalue_from_numpy(image.copy(), ort_device, device_id),
               ort.OrtValue.ortvalue_from_shape_and_type(image.shape, np.float32, ort_device, device_id)]
    shift = ort.OrtValue.ortvalue_from_numpy(np.zeros(2, np.int64), ort_device, device_id)
    step = ort.OrtValue.ortvalue_from_numpy(np.asarray(STEP_SIZE, np.float32), ort_device, device_id)
    value = ort.OrtValue.ortvalue_from_shape_and_type((), np.float32, ort_device, device_id)
    bindings, options = ping_pong_bindings(session, (buffers[0], buffers[1]), {"shift": shift, "step_size": step},
                                           value, (1, 2) if captured else None)
    state = {"i": 0}

    def run() -> None:
        i = state["i"]
        shift.update_inplace(np.asarray(shifts[i % len(shifts)], np.int64))
        bindings[i % 2].synchronize_inputs()  # the copy above may still be in flight (see DeviceDreamer)
        session.run_with_iobinding(bindings[i % 2], options[i % 2])
        bindings[i % 2].synchronize_outputs()
        state["i"] = i + 1

    return run, lambda: buffers[state["i"] % 2].numpy()


def _torch_stepper(device: str, net, objective, value_range, image: np.ndarray,
                   shifts: list[tuple[int, int]]) -> tuple[Stepper, Callable[[], np.ndarray]]:
    import torch

    from vis.engine._torch_backend import TorchBackend

    backend = TorchBackend(net, objective, value_range, device=device)
    state = {"i": 0, "x": torch.as_tensor(image, device=device)}
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def run() -> None:
        i = state["i"]
        state["x"], _ = backend.step_tensor(state["x"], shifts[i % len(shifts)], STEP_SIZE)
        sync()
        state["i"] = i + 1

    return run, lambda: state["x"].cpu().numpy()


def bench_steps(model: str, spec: str, sizes: Sequence[tuple[int, int]], engines: Sequence[str], device: str = "cpu",
                runs: int = 10, warmup: int = 3, threads: int = 0, weights: str = "random",
                progress: Callable[[str], None] | None = None, pause_s: float | None = None) -> list[StepTiming]:
    """Median step time per engine and size (warm-up runs first; TensorRT builds its engine in the warm-up).

    ``pause_s``: idle time before each timed step (default 0.2 s on the CPU, where the previous engine's threads
    spin on; none on a GPU, where it would time every step cold). The captured engine warms up for at least 6 runs:
    ORT captures each of its two graph ids on that id's third run."""
    if pause_s is None:
        pause_s = 0.0 if device == "cuda" else 0.2
    from vis.engine._torch_device import limit_torch_threads
    from vis.exporters import parse_objective
    from vis.exporters._gradient import gradient_graph, model_value_range
    from vis.models import get_model

    limit_torch_threads(threads)
    objective = parse_objective(spec, model)
    check_input_sizes(model, objective.layers(), sizes)
    net = get_model(model, weights=weights)
    value_range = model_value_range(model)
    graphs = {}
    for variant in {_VARIANT[e] for e in engines if e != "torch"}:
        graphs[variant] = gradient_graph(model, net, objective, variant=variant, weights=weights)
    results = []
    for size in sizes:
        rng = np.random.default_rng(0)
        image = rng.random((1, net.input_mean.shape[1], *size), dtype=np.float32)
        shifts = [tuple(int(v) for v in rng.integers(-32, 33, size=2)) for _ in range(8)]
        first_update: dict[str, np.ndarray] = {}
        steppers, builds = {}, {}
        for engine in engines:
            if progress:
                progress(f"{engine} on {device} at {size[0]}x{size[1]}")
            t0 = time.perf_counter()
            if engine == "torch":
                run, fetch = _torch_stepper(device, net, objective, value_range, image, shifts)
            else:
                graph = graphs[_VARIANT[engine]]
                run, fetch = _ort_stepper(engine, device, graph, value_range, image, shifts, threads)
            run()
            first_update[engine] = fetch() - image
            for _ in range(max(0, (max(warmup, 6) if engine == "ort-graph" else warmup) - 1)):
                run()
            steppers[engine], builds[engine] = run, time.perf_counter() - t0
        # Engines take turns step by step, so a slow spell of a shared machine falls on all of them alike; the pause
        # lets the previous engine's idle threads stop spinning (on 2 cores they would otherwise slow the next one).
        times: dict[str, list[float]] = {e: [] for e in engines}
        for _ in range(runs):
            for engine, run in steppers.items():
                time.sleep(pause_s)
                t = time.perf_counter()
                run()
                times[engine].append((time.perf_counter() - t) * 1000)
        timings = {e: (statistics.median(times[e]), min(times[e]), builds[e]) for e in engines}
        ref = first_update.get("ort")
        for engine in engines:
            median, fastest, build = timings[engine]
            error = None
            if ref is not None and engine != "ort":
                error = float(np.linalg.norm(first_update[engine] - ref) / (np.linalg.norm(ref) + 1e-30))
            results.append(StepTiming(engine, device, tuple(size), median, fastest, runs, build, error))  # type: ignore[arg-type]
    return results


def format_steps(results: Sequence[StepTiming]) -> list[list[str]]:
    """Table rows: engine, device, size, median, min, speed-up over torch at that size, update error, build time."""
    torch_ms = {r.size: r.median_ms for r in results if r.engine == "torch"}
    rows = []
    for r in results:
        ratio = f"{torch_ms[r.size] / r.median_ms:.2f}x" if r.size in torch_ms else "-"
        error = "-" if r.update_error is None else f"{r.update_error:.1e}"
        rows.append([r.engine, r.device, f"{r.size[0]}x{r.size[1]}", f"{r.median_ms:.2f}", f"{r.min_ms:.2f}", ratio,
                     error, f"{r.build_s:.1f}"])
    return rows


STEP_HEADERS = ["engine", "device", "size", "median ms", "min ms", "vs torch", "update vs ort fp32", "build s"]

CPU_FP16_NOTE = ("note: ort-fp16 on the CPU is not float16 arithmetic. ORT's CPU provider has no float16 Conv, "
                 "ConvTranspose, Relu, MaxPool, Mul or Sum: it runs them in float32 between inserted casts, so that row "
                 "times the casts and its update error comes from the few tensors rounded at cast boundaries. float16 is "
                 "meant for the cuda and tensorrt providers.")


def notes(results: Sequence[StepTiming]) -> list[str]:
    """What a reader of the table must know to read it right (one line per caveat)."""
    return [CPU_FP16_NOTE] if any(r.engine == "ort-fp16" and r.device == "cpu" for r in results) else []
