"""`vis bench ...`: side-by-side timings (ORT against torch in one run) and `vis info`."""

from __future__ import annotations

from typing import Optional

import typer

from vis._text import comma_list, counted
from vis.cli._app import MAX_THREADS, VisTyper, format_table, given_options
from vis.errors import VisError
from vis.engine._bench import MAX_BENCH_SIDE
from vis.engine._dream import VideoDreamConfig  # its defaults are the options' defaults

bench_app = VisTyper(help="Benchmarks: ORT against torch, measured side by side in one run.", no_args_is_help=True)


def register(app: VisTyper) -> None:
    app.add_typer(bench_app, name="bench")

    @app.command("info")
    def info_cmd() -> None:
        """Print versions, available execution providers and the GPU."""
        import onnx
        import onnxruntime as ort
        import torch

        import vis
        from vis.engine import available_providers

        typer.echo(f"vis {vis.__version__}")
        typer.echo(f"torch {torch.__version__} (CUDA {'yes: ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no'})")
        typer.echo(f"onnx {onnx.__version__}, onnxruntime {ort.__version__}")
        typer.echo(f"providers: {', '.join(available_providers())} (onnxruntime: {', '.join(ort.get_available_providers())})")
        typer.echo(f"torch threads: {torch.get_num_threads()}")
        from vis.engine._native import describe

        typer.echo(f"native CPU kernels: {describe()}")


@bench_app.command("grad")
def bench_grad_cmd(
    model: str = typer.Argument("googlenet", help="Model name."),
    objective: str = typer.Option(None, "--objective", help="Objective (default: the model's dream layer)."),
    size: tuple[int, int] = typer.Option((512, 512), "--size", help="Input height and width."),
    threads: int = typer.Option(2, "--threads", min=0, max=MAX_THREADS,
                                help="Threads for every backend (0: each library's default)."),
    runs: int = typer.Option(10, "--runs", min=3, help="Timed runs (median reported)."),
    weights: str = typer.Option("random", "--weights", "-w", help="Weights (speed does not depend on them)."),
    tensorrt_safe: bool = typer.Option(False, "--tensorrt-safe", help="Time the index-free gradient variant."),
) -> None:
    """Forward+backward to the input: ORT gradient graph against torch autograd."""
    from vis.engine._bench import GRAD_BACKENDS, bench_grad, check_grad_bench, machine_summary
    from vis.models import model_spec

    spec = objective or model_spec(model).default_layer
    check_grad_bench(model, spec, size, weights, GRAD_BACKENDS)  # what can fail here fails before any child starts
    typer.echo(f"{model} {spec} at {size[0]}x{size[1]}; {machine_summary(threads)}")
    results = bench_grad(model, spec, size, threads, runs, weights=weights,
                         variant="tensorrt_safe" if tensorrt_safe else "fast", checked=True)
    ms = lambda v: f"{v:.2f}" if v < 10 else f"{v:.1f}"  # noqa: E731 - LeNet-5's gradients take a fraction of one
    rows = [[r.backend, ms(r.median_ms), ms(r.min_ms), f"{r.peak_rss_mib:.0f}",
             "-" if r.export_peak_rss_mib is None else f"{r.export_peak_rss_mib:.0f}", f"{r.setup_s:.1f}"] for r in results]
    typer.echo(format_table(["backend", "median ms", "min ms", "peak RSS MiB", "export peak MiB", "setup s"], rows))
    typer.echo("(ORT times and peak: a process that loads only the exported graph file; the export runs before, in its own process)")
    by = {r.backend: r for r in results}
    from vis.engine._native import describe

    typer.echo(f"ORT speed-up over torch: {by['torch'].median_ms / by['ort'].median_ms:.2f}x (native CPU kernels: "
               f"{describe()}); standard ONNX ops only (ort-onnx): {by['torch'].median_ms / by['ort-onnx'].median_ms:.2f}x")


@bench_app.command("step")
def bench_step_cmd(
    model: str = typer.Argument("googlenet", help="Model name."),
    objective: str = typer.Option(None, "--objective", help="Objective (default: the model's dream layer)."),
    sizes: str = typer.Option("224,512,720x1280", "--sizes", help="Comma-separated sizes: N or HxW."),
    engines: str = typer.Option(None, "--engines", help="Comma-separated: torch, ort, ort-graph (cuda), ort-fp16, "
                                "tensorrt (default: all this device has)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    runs: int = typer.Option(10, "--runs", min=3, help="Timed steps per engine and size (median reported)."),
    threads: int = typer.Option(0, "--threads", min=0, max=MAX_THREADS, help="CPU threads (0: each library's default, all cores)."),
) -> None:
    """Fused DeepDream step per engine, image resident on the device (ping-pong OrtValues; torch tensors)."""
    from vis.engine._bench import machine_summary
    from vis.engine._step_bench import (STEP_HEADERS, available_engines, bench_steps, check_engines, format_steps,
                                        notes, parse_sizes, resolve_device)
    from vis.exporters import parse_objective
    from vis.models import model_spec

    spec = objective or model_spec(model).default_layer
    parse_objective(spec, model)
    dev = resolve_device(device)
    chosen = check_engines(list(comma_list(engines, "--engines")), dev) if engines else available_engines(dev)
    if not chosen:
        raise VisError(f"no engine can run on {dev} here (is onnxruntime-gpu or a CUDA build of torch installed? "
                       "`vis info` lists the providers)")
    size_list = parse_sizes(sizes)
    typer.echo(f"{model} {spec}; {machine_summary(threads)}")
    results = bench_steps(model, spec, size_list, chosen, dev, runs=runs, threads=threads,
                           progress=lambda text: typer.echo(f"timing {text}", err=True))
    typer.echo(format_table(STEP_HEADERS, format_steps(results)))
    for line in notes(results):
        typer.echo(line)


@bench_app.command("dream")
def bench_dream_cmd(
    ctx: typer.Context,
    model: str = typer.Option("googlenet", "--model", help="Model (timing does not depend on weight values)."),
    weights: str = typer.Option("random", "--weights", "-w", help="random (seeded; speed does not depend on weight values), "
                                "imagenet (published weights) or a state_dict file."),
    frames: int = typer.Option(48, "--frames", min=1, help="Frames of the synthetic clip."),
    width: int = typer.Option(640, "--width", min=32, max=MAX_BENCH_SIDE, help="Frame width of the synthetic clip."),
    height: int = typer.Option(360, "--height", min=32, max=MAX_BENCH_SIDE, help="Frame height of the synthetic clip."),
    backends: str = typer.Option("ort,torch", "--backends", help="Comma-separated backends, timed in this order."),
    threads: int = typer.Option(2, "--threads", min=0, max=MAX_THREADS, help="Intra-op threads, the same for every backend."),
    provider: str = typer.Option("auto", "--provider", help="auto, cpu, cuda or tensorrt (the ort backend's; "
                                 "torch runs on CUDA for cuda/tensorrt)."),
    flow: str = typer.Option(VideoDreamConfig.flow, "--flow", help="Optical flow: dis, farneback or none."),
    flow_size: int = typer.Option(VideoDreamConfig.flow_size, "--flow-size", min=0, help="Long side the optical flow is computed at "
                                  "(0 = the dream's size)."),
    cuda_graph: bool = typer.Option(False, "--cuda-graph", help="ort backend: capture the device loop's steps as CUDA "
                                    "graphs (--provider cuda)."),
) -> None:
    """Frames per second of video DeepDream (default settings) on a synthetic clip: on a CPU the backends take turns
    frame by frame, on a GPU each dreams the whole clip in turn."""
    from vis.engine._bench import describe_threads
    from vis.engine._dream import GPU_TILE, DreamConfig, runs_on_gpu
    from vis.engine._dream_bench import bench_dream as run, check_dream_bench, format_bench

    chosen = comma_list(backends, "--backends")
    if flow == "none" and "flow_size" in given_options(ctx):
        raise VisError("--flow-size sizes the optical flow, and --flow none computes none")
    check_dream_bench(model, chosen, provider, cuda_graph, weights)  # before the header, so a bad name is all that is printed
    on_gpu = any(runs_on_gpu(provider, kind) for kind in chosen)
    config = DreamConfig(tile=GPU_TILE if on_gpu else DreamConfig().tile)  # one tile for all: the same work each
    video = VideoDreamConfig(flow=flow, flow_size=flow_size or None)
    typer.echo(f"{model} ({weights}) {width}x{height}, {counted(frames, 'frame')}, default dream settings (tile {config.tile}, "
               f"flow {flow} at {flow_size or 'full'} px), {describe_threads(threads)}, provider {provider}"
               + (", CUDA graphs" if cuda_graph else ""))
    results = run(model=model, weights=weights, frames=frames, size=(width, height),
                  backends=chosen, threads=threads, provider=provider,
                  config=config, video=video, cuda_graph=cuda_graph, checked=True,
                  # No pause between frames on a GPU: the device loop computes the next flow during a pause, which
                  # would leave it out of the time (and spinning CPU threads are a CPU provider's matter).
                  pause_s=0.0 if on_gpu else 0.05)
    typer.echo(format_bench(results))


@bench_app.command("atlas")
def bench_atlas_cmd(
    model: str = typer.Argument("googlenet", help="Model name."),
    layer: Optional[str] = typer.Option(None, "--layer", help="Layer whose channels are drawn (default: "
                                        "inception4a for googlenet, else the model's dream layer)."),
    channels: int = typer.Option(64, "--channels", min=1, help="How many channels (0..N-1)."),
    size: int = typer.Option(128, "--size", min=1, help="Image side (at least the model's smallest input)."),
    iterations: int = typer.Option(8, "--iterations", min=1, help="Ascent steps per channel."),
    batch: int = typer.Option(16, "--batch", min=1, help="Channels per ORT run."),
    threads: int = typer.Option(2, "--threads", min=0, max=MAX_THREADS,
                                help="Threads for both backends (0: each library's default)."),
) -> None:
    """Layer atlas: batched ORT runs against torch eager one channel at a time."""
    from vis.engine._bench import format_seconds, machine_summary
    from vis.engine._maximize_bench import bench_atlas, check_atlas_bench
    from vis.models import model_spec

    layer = layer or ("inception4a" if model == "googlenet" else model_spec(model).default_layer)
    check_atlas_bench(model, layer, channels, size)  # before the header, so a bad name is all that is printed
    typer.echo(f"{model} {layer}, {channels} channels at {size}x{size}, {counted(iterations, 'step')}; {machine_summary(threads)}")
    r = bench_atlas(model, layer, channels, size, iterations, batch, threads)
    typer.echo(f"ORT (batch {r.batch}): {format_seconds(r.ort_seconds)}   torch (one channel per run): "
               f"{format_seconds(r.torch_seconds)}   speed-up {r.speedup:.2f}x")
