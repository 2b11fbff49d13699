"""`vis maximize` (channel, neuron, layer and class images) and `vis atlas` (a labelled grid of channel images)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from vis._text import counted
from vis.cli._app import (
    MAX_THREADS, VisTyper, end_progress, fail, note_grey_only, progress_line, quiet_option, seed_option,
)
from vis.cli._model_cmds import WEIGHTS_HELP, note_top_past_classes

ITERATIONS_HELP = "Steps per scale (default: 16 pixel, 512 fft as lucid; 200 for lenet5)."
SCALES_HELP = "Upscaling stages, e.g. 56,80,112,160,224: optimise at the smallest, upscale, continue (pixel param)."


def _progress(label: str):
    """A one-line progress report on stderr (the library only calls back)."""

    def report(p) -> None:  # noqa: ANN001 - MaximizeProgress
        progress_line(_step_text(label, p))
        if p.stage == p.stages and p.step == p.steps:
            end_progress()

    return report


def _atlas_progress(layer: str, units: list[int], batch: int):
    """The atlas's progress line: which channels the current batch holds (by their numbers in the layer), how far
    through the atlas that is, and its step; ended after the last batch."""

    def report(first: int, total: int, p) -> None:  # noqa: ANN001 - MaximizeProgress
        last = min(first + batch, total)
        if p.step == p.steps or p.step % 4 == 0:
            held = _channel_span(units[first:last])
            progress_line(_step_text(f"{layer}:{held} ({last} of {total} channels):", p))
        if last == total and p.stage == p.stages and p.step == p.steps:
            end_progress()

    return report


def _channel_span(channels: list[int]) -> str:
    """3-6 for a run of consecutive channels, else 3,7,9."""
    if len(channels) > 1 and channels == list(range(channels[0], channels[-1] + 1)):
        return f"{channels[0]}-{channels[-1]}"
    return ",".join(map(str, channels))


def _step_text(label: str, p) -> str:  # noqa: ANN001 - MaximizeProgress
    return f"{label} scale {p.size} ({p.stage}/{p.stages}) step {p.step}/{p.steps} objective {p.value:.4g}"


def register(app: VisTyper) -> None:
    @app.command("maximize")
    def maximize_cmd(
        model: str = typer.Argument(..., help="Model name (see `vis models`)."),
        objective: str = typer.Option(..., "--objective", help="What to maximise: conv4_1:12, class:319, class:dragonfly, inception4a:12@, ... (+ - * combine)."),
        output: Path = typer.Option(..., "--output", "-o", help="Output image (.png, .jpg)."),
        param: str = typer.Option("pixel", "--param", help="pixel (pixels from grey + noise, optimised at growing sizes with normalised steps) or fft (colours in Fourier space, decorrelated, random transforms, Adam: the lucid library's recipe)."),
        scales: Optional[str] = typer.Option(None, "--scales", help=SCALES_HELP),
        size: Optional[int] = typer.Option(None, "--size", min=16, help="Output size (default: the model's input size)."),
        iterations: Optional[int] = typer.Option(None, "--iterations", min=1, help=ITERATIONS_HELP),
        step: Optional[float] = typer.Option(None, "--step", help="Normalised step: the mean pixel change per step, on the 0..1 scale (default 0.02, 0.01 for lenet5; 0.02 is 5 of 255; dream's --step counts 8-bit levels)."),
        lr: Optional[float] = typer.Option(None, "--lr", help="Adam learning rate (default 0.05; at most 1000)."),
        optimizer: Optional[str] = typer.Option(None, "--optimizer", help="normalized (default for pixel) or adam (default for fft)."),
        l2: Optional[float] = typer.Option(None, "--l2", min=0.0, help="L2 decay toward grey per step (pixel); with fft, the weight of the squared distance from grey taken off the objective (default 0.002, 0 for lenet5)."),
        tv: Optional[float] = typer.Option(None, "--tv", min=0.0, help="Total-variation weight (default 0)."),
        blur_every: Optional[int] = typer.Option(None, "--blur-every", min=0, help="Blur every N steps (0: never; default 4, 0 for lenet5)."),
        seed: int = seed_option(0, help="Same seed, same image."),
        backend: str = typer.Option("ort", "--backend", help="ort (default) or torch (the reference)."),
        weights: str = typer.Option("imagenet", "--weights", "-w", help=WEIGHTS_HELP),
        provider: str = typer.Option("auto", "--provider", help="ORT execution provider: auto, cpu, cuda, tensorrt."),
        threads: int = typer.Option(0, "--threads", min=0, max=MAX_THREADS, help="ORT (or torch) CPU threads (0: all cores)."),
        top: Optional[int] = typer.Option(None, "--top", min=1, help="Class images: how many of the model's own classes to print (default 5)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
        quiet: bool = quiet_option(),
    ) -> None:
        """Optimise an image that maximises an objective; class images are classified by the model afterwards."""
        from vis.engine import make_backend
        from vis.engine._backend import check_backend
        from vis.engine._images import check_image_output, load_image, write_image
        from vis.engine._maximize import (
            MaximizeConfig, classify, is_class_objective, maximize, objective_of, parse_scales,
        )
        from vis.exporters import parse_objective
        from vis.models import get_model

        obj = parse_objective(objective, model)
        if top is not None and not is_class_objective(obj):
            raise fail("--top sets how many classes are printed for a class image (class:N or prob:N); "
                       f"{objective} is not one")
        note_top_past_classes(model, top)
        if obj.needs_guide():
            raise fail(f"{objective}: a guide objective pulls an image toward a guide image's features, and "
                       "vis maximize has none; use vis dream IMAGE --guide GUIDE")
        config = MaximizeConfig.for_model(
            model, obj, size, param=param, scales=parse_scales(scales) if scales is not None else None,
            iterations=iterations, step=step, lr=lr, optimizer=optimizer, l2_decay=l2, tv=tv, blur_every=blur_every,
            seed=seed)
        check_image_output(output, overwrite)
        note_grey_only(output, model)
        check_backend(backend, provider)
        net = get_model(model, weights=weights)
        engine = make_backend(backend, model, net, obj, provider=provider, threads=threads,
                              weights=weights)
        image = maximize(engine, config, None if quiet else _progress(str(obj)))
        write_image(output, image, overwrite)
        ran = f"scales {','.join(map(str, config.scales))}, {counted(config.steps, 'step')} per scale" \
            if config.param == "pixel" else counted(config.steps, "step")
        typer.echo(f"wrote {output} ({image.shape[1]}x{image.shape[0]}, {config.param}, {ran}, seed {seed}, {backend})")
        written = load_image(output)  # what a reader of the file gets: 8 bits, and a JPEG's losses
        value, woke = objective_of(engine, written, config.channels)
        typer.echo(f"objective {value:.4g} on the image written")
        if not woke:
            typer.echo(f"note: {obj} gave no gradient from any start tried (grey with noise up to full width): "
                       "none of them excites it, so the image is only its start (a channel that fires on photos may "
                       "still sleep from grey); try another channel, --param fft or --seed", err=True)
        if is_class_objective(obj):
            typer.echo(f"{model} classifies it as:")
            for i, c, q in classify(model, net, written, top or 5).classes:
                typer.echo(f"  {q:7.2%}  {c} ({i})")

    @app.command("atlas")
    def atlas_cmd(
        model: str = typer.Argument(..., help="Model name (see `vis models`)."),
        layer: str = typer.Option(..., "--layer", "-l", help="Layer name (see `vis layers MODEL`)."),
        channels: Optional[str] = typer.Option(None, "--channels", "-c", help="Channels: 0:64, 0:64:2 or 3,7,9 "
                                               "(default: the first 16, or all of a smaller layer)."),
        output: Path = typer.Option(..., "--output", "-o", help="Output grid image (.png, .jpg)."),
        param: str = typer.Option("pixel", "--param", help="pixel or fft."),
        scales: Optional[str] = typer.Option(None, "--scales", help=SCALES_HELP),
        size: Optional[int] = typer.Option(None, "--size", min=16, help="Tile size (default: the model's input size)."),
        iterations: Optional[int] = typer.Option(None, "--iterations", min=1, help=ITERATIONS_HELP),
        batch: int = typer.Option(8, "--batch", min=1, help="Channels optimised per run (one batched graph)."),
        columns: Optional[int] = typer.Option(None, "--columns", min=1, help="Grid columns (default: square)."),
        blur_every: Optional[int] = typer.Option(None, "--blur-every", min=0, help="Blur every N steps (0: never; default 4, 0 for lenet5)."),
        seed: int = seed_option(0, help="Same seed, same grid."),
        backend: str = typer.Option("ort", "--backend", help="ort (default) or torch."),
        weights: str = typer.Option("imagenet", "--weights", "-w", help=WEIGHTS_HELP),
        provider: str = typer.Option("auto", "--provider", help="ORT execution provider."),
        threads: int = typer.Option(0, "--threads", min=0, max=MAX_THREADS, help="ORT (or torch) CPU threads (0: all cores)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
        quiet: bool = quiet_option(),
    ) -> None:
        """A labelled grid of channel images of one layer, one optimised image per channel, batched per run."""
        from vis.engine._backend import check_backend
        from vis.engine._images import check_image_output, write_image
        from vis.engine._channels import parse_channels
        from vis.engine._atlas import atlas, batch_objective
        from vis.engine._maximize import MaximizeConfig, parse_scales
        from vis.models import get_model

        objective = batch_objective(model, layer)
        units = parse_channels(channels, objective.channels, layer)
        if columns is not None and columns > len(units):
            raise fail(f"--columns {columns} is more than the {len(units)} channels drawn")
        config = MaximizeConfig.for_model(
            model, objective, size, param=param, scales=parse_scales(scales) if scales is not None else None,
            iterations=iterations, blur_every=blur_every, seed=seed)
        check_image_output(output, overwrite)
        note_grey_only(output, model)
        check_backend(backend, provider)
        net = get_model(model, weights=weights)
        made = atlas(model, net, layer, units, config, backend=backend, batch=batch, columns=columns,
                     provider=provider, threads=threads, weights=weights,
                     progress=None if quiet else _atlas_progress(layer, units, batch))
        write_image(output, made.grid, overwrite)
        h, w = made.grid.shape[:2]
        typer.echo(f"wrote {output}: {counted(len(units), 'channel')} of {layer} ({w}x{h})")
        if made.asleep:
            one = len(made.asleep) == 1
            typer.echo(f"note: no start woke {counted(len(made.asleep), 'channel')} of {layer} "
                       f"({','.join(map(str, made.asleep))}): none of the starts tried excites {'it' if one else 'them'}"
                       f", so {'its tile shows' if one else 'their tiles show'} only noisy grey; try --param fft or "
                       "--seed", err=True)
