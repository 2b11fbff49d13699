"""`vis bench ...`: side-by-side timings (ORT against torch in one run) and `vis info`."""

from __future__ import annotations

import typer

from vis.cli._app import VisTyper, format_table

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
        threads: int = typer.Option(2, "--threads", min=0,
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
        rows = [[r.backend, f"{r.median_ms:.1f}", f"{r.min_ms:.1f}", f"{r.peak_rss_mib:.0f}",
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
    threads: int = typer.Option(0, "--threads", min=0, help="CPU threads (0: each library's default, all cores)."),
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
    chosen = check_engines([e.strip() for e in engines.split(",") if e.strip()], dev) if engines else available_engines(dev)
    size_list = parse_sizes(sizes)
    typer.echo(f"{model} {spec}; {machine_summary(threads)}")
    results = bench_steps(model, spec, size_list, chosen, dev, runs=runs, threads=threads,
                           progress=lambda text: typer.echo(f"timing {text}", err=True))
    typer.echo(format_table(STEP_HEADERS, format_steps(results)))
    for line in notes(results):
        typer.echo(line)


def _register_loop_benches() -> None:
    from vis.cli._dream_cmd import bench_dream

    bench_app.command("dream")(bench_dream)

    @bench_app.command("atlas")
    def bench_atlas_cmd(
        model: str = typer.Argument("googlenet", help="Model name."),
        layer: str = typer.Option("inception4a", "--layer", help="Layer whose channels are drawn."),
        channels: int = typer.Option(64, "--channels", min=1, help="How many channels (0..N-1)."),
        size: int = typer.Option(128, "--size", min=1, help="Image side (at least the model's smallest input)."),
        iterations: int = typer.Option(8, "--iterations", min=1, help="Ascent steps per channel."),
        batch: int = typer.Option(16, "--batch", min=1, help="Channels per ORT run."),
        threads: int = typer.Option(2, "--threads", min=0,
                                    help="Threads for both backends (0: each library's default)."),
    ) -> None:
        """Layer atlas: batched ORT runs against torch eager one channel at a time."""
        from vis.engine._bench import format_seconds, machine_summary
        from vis.engine._maximize_bench import bench_atlas

        typer.echo(f"{model} {layer}, {channels} channels at {size}x{size}, {iterations} steps; {machine_summary(threads)}")
        r = bench_atlas(model, layer, channels, size, iterations, batch, threads)
        typer.echo(f"ORT (batch {r.batch}): {format_seconds(r.ort_seconds)}   torch (one channel per run): "
                   f"{format_seconds(r.torch_seconds)}   speed-up {r.speedup:.2f}x")


_register_loop_benches()
