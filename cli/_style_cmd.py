"""`vis style`: neural style transfer (Gatys et al.) with VGG-19 in PyTorch."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import typer

from vis._text import comma_list
from vis.cli._app import (
    VisTyper, given_options, note_grey_only, quiet_option, seed_option, staged_progress, torch_threads_option,
)
from vis.cli._stills import read_still
from vis.engine._style_config import INITS, OPTIMIZERS, StyleConfig
from vis.errors import Interrupted, VisError

_D = StyleConfig()  # the defaults live in the dataclass only


def _floats(text: Optional[str], what: str) -> tuple[float, ...] | None:
    if not text:
        return None
    try:
        values = tuple(float(v) for v in comma_list(text, what))
    except ValueError as e:
        raise VisError(f"{what} must be comma-separated numbers, got {text!r}") from e
    if not all(math.isfinite(v) for v in values):  # nan and inf parse as floats
        raise VisError(f"{what} must be finite numbers, got {text!r}")
    return values


def _ints(text: Optional[str], what: str) -> tuple[int, ...]:
    values = _floats(text, what) or ()
    if any(v != int(v) or v <= 0 for v in values):
        raise VisError(f"{what} must be positive whole numbers, got {text!r}")
    return tuple(int(v) for v in values)


def register(app: VisTyper) -> None:
    @app.command("style")
    def style_cmd(
        ctx: typer.Context,
        content: Path = typer.Argument(..., help="The content image."),
        styles: list[Path] = typer.Argument(..., help="One or more style images."),
        output: Path = typer.Option(..., "--output", "-o", help="The image to write (.png, .jpg)."),
        size: int = typer.Option(_D.size, "--size", min=16, help="Long side of the output in pixels."),
        scales: Optional[str] = typer.Option(None, "--scales", help="Coarse-to-fine long sides, e.g. 256,512 (overrides --size)."),
        iterations: int = typer.Option(_D.iterations, "--iterations", "-n", min=1, help="Iterations per scale."),
        optimizer: str = typer.Option(_D.optimizer, "--optimizer", help=f"One of {', '.join(OPTIMIZERS)}."),
        lr: float = typer.Option(_D.lr, "--lr", help="Adam learning rate (pixels in [0, 1])."),
        init: str = typer.Option(_D.init, "--init", help=f"Start image: one of {', '.join(INITS)}."),
        content_weight: float = typer.Option(_D.content_weight, "--content-weight", min=0.0, help="alpha."),
        style_weight: float = typer.Option(_D.style_weight, "--style-weight", min=0.0, help="beta."),
        tv_weight: float = typer.Option(_D.tv_weight, "--tv-weight", min=0.0, help="Total variation weight."),
        content_layer: str = typer.Option(_D.content_layer, "--content-layer", help="VGG-19 layer of the content loss."),
        style_layers: str = typer.Option(",".join(_D.style_layers), "--style-layers", help="VGG-19 layers of the style loss."),
        layer_weights: Optional[str] = typer.Option(None, "--layer-weights", help="Weight per style layer, e.g. 1,1,1,1,1 (default: equal, sum 1)."),
        style_weights: Optional[str] = typer.Option(None, "--style-weights", help="Blend weight per style image, e.g. 0.7,0.3 (default: equal)."),
        style_scale: float = typer.Option(_D.style_scale, "--style-scale", min=0.01, help="Style image size relative to the output."),
        preserve_colors: bool = typer.Option(False, "--preserve-colors", help="Transfer luminance only; keep the content's colours."),
        weights: str = typer.Option(_D.weights, "--weights", "-w", help="VGG-19 weights: imagenet, random or a file."),
        seed: int = seed_option(_D.seed, help="Seed of the noise start."),
        device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, ... (default: cuda when available)."),
        threads: int = torch_threads_option(),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
        quiet: bool = quiet_option(),
    ) -> None:
        """Paint CONTENT in the style of STYLE images (Gatys et al., VGG-19)."""
        from vis.engine._images import check_image_output, write_image
        from vis.engine._style import (
            StyleInterrupted, StyleProgress, check_config, check_layers, style_transfer,
        )
        from vis.engine._torch_device import limit_torch_threads
        from vis.models._registry import check_weights_fit

        limit_torch_threads(threads)
        config = StyleConfig(
            size=size, scales=_ints(scales, "--scales"), iterations=iterations, optimizer=optimizer, lr=lr, init=init,
            content_layer=content_layer, style_layers=comma_list(style_layers, "--style-layers"),
            layer_weights=_floats(layer_weights, "--layer-weights"), content_weight=content_weight,
            style_weight=style_weight, tv_weight=tv_weight, style_blend=_floats(style_weights, "--style-weights"),
            style_scale=style_scale, preserve_colors=preserve_colors, weights=weights, seed=seed, device=device,
        )
        # Fail on settings, names and files before the slow parts, and before "OUTPUT exists".
        check_config(config, len(styles))
        _refuse_idle_options(given_options(ctx), config, len(styles))
        check_layers(config)
        check_weights_fit("vgg19", config.weights)
        content_img = read_still(content)
        style_imgs = [read_still(p) for p in styles]
        check_image_output(output, overwrite, [content, *styles])  # after the inputs: a missing image is reported before an existing file
        note_grey_only(output, "vgg19")

        # the bar opens at the first step (see StagedProgress)
        with staged_progress("content", "style", "tv", enabled=not quiet) as bar:

            def on_progress(p: StyleProgress) -> None:
                label = f"{p.size[1]}x{p.size[0]}" + (f" ({p.scale}/{p.scales})" if p.scales > 1 else "")
                bar.update(p.scale, label, p.iterations, p.iteration, content=f"{p.content:.4g}",
                           style=f"{p.style:.4g}", tv=f"{p.tv:.3g}")

            try:
                result = style_transfer(content_img, style_imgs, config, progress=on_progress)
            except StyleInterrupted as stop:  # keep what the minutes so far made
                path = write_image(output, stop.image, overwrite)
                raise Interrupted(f"interrupted at {stop.where}; wrote the image so far to {path}") from None
        path = write_image(output, result, overwrite)
        typer.echo(f"wrote {path} ({result.shape[1]}x{result.shape[0]})")


def _refuse_idle_options(given: set[str], config: StyleConfig, n_styles: int) -> None:
    """Refuse options the user typed that the other settings make do nothing (they would be silently ignored)."""
    if "lr" in given and config.optimizer != "adam":
        raise VisError(f"--lr is Adam's learning rate; {config.optimizer} sets its own steps (add --optimizer adam)")
    if "size" in given and config.scales:
        raise VisError("--size does nothing with --scales: the last scale is the output's long side")
    if "seed" in given and config.init != "noise":
        raise VisError("--seed seeds the noise start and does nothing with --init content (add --init noise)")
    if "content_layer" in given and config.content_weight == 0:
        raise VisError("--content-layer does nothing with --content-weight 0")
    if config.style_weight == 0:
        for name, flag in (("style_layers", "--style-layers"), ("layer_weights", "--layer-weights"),
                           ("style_weights", "--style-weights"), ("style_scale", "--style-scale"),
                           ("preserve_colors", "--preserve-colors")):
            if name in given:
                raise VisError(f"{flag} does nothing with --style-weight 0")
    if "style_weights" in given and n_styles == 1:
        raise VisError("--style-weights blends several style images and does nothing with one")
