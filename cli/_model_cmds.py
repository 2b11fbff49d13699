"""`vis models`, `vis layers`, `vis predict`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from vis._text import dims
from vis.cli._app import VisTyper, format_table, torch_threads_option
from vis.cli._stills import none_read, read_stills, refuse_skipped

WEIGHTS_HELP = "imagenet (published weights, cached), random (seeded, well-scaled) or a state_dict/checkpoint file."


def note_top_past_classes(model: str, top: Optional[int]) -> None:
    """Say, on stderr (stdout may be JSON), that ``--top`` asks for more classes than ``model`` has, as -k and
    --perplexity say when they are more than a folder allows: all of them are shown."""
    from vis.models import model_spec

    classes = len(model_spec(model).categories)
    if top is not None and top > classes:
        typer.echo(f"note: {model} has {classes} classes: --top {top} shows all of them", err=True)


def register(app: VisTyper) -> None:
    @app.command("models")
    def models_cmd() -> None:
        """List the models, whether their pretrained weights are here, and their input sizes."""
        from vis.models import layer_table, list_models, model_spec

        rows = []
        for name in list_models():
            spec = model_spec(name)
            pre = spec.preprocessing
            pretrained = spec.pretrained
            if pretrained.local is not None:
                state = "packaged" if pretrained.available_locally() else "missing package"
            elif pretrained.url is None:
                state = "none (train one)"
            else:
                state = "cached" if pretrained.available_locally() else "not downloaded"
            size = f"{pre.channels}x{pre.crop}x{pre.crop}" + ("" if not spec.fixed_size_from else " (fixed for classifier)")
            rows.append([name, state, size, str(len(layer_table(name))), spec.default_layer, spec.summary])
        typer.echo(format_table(["model", "imagenet weights", "input", "layers", "dream layer", "about"], rows))

    @app.command("layers")
    def layers_cmd(
        model: str = typer.Argument(..., help="Model name (see `vis models`)."),
        size: Optional[tuple[int, int]] = typer.Option(None, "--size", help="Input height and width."),
    ) -> None:
        """Print every addressable layer: name, kind, output shape, channels."""
        from vis.models import layer_table, model_spec

        spec = model_spec(model)
        h, w = size or (spec.preprocessing.crop, spec.preprocessing.crop)
        rows = []
        for row in layer_table(model, (h, w)):
            shape = dims(row.shape) if row.shape else f"(needs {spec.preprocessing.crop}x{spec.preprocessing.crop})"
            rows.append([row.name, row.kind, shape, str(row.channels) if row.shape else "", ",".join(row.tags)])
        typer.echo(f"{model}, input {spec.preprocessing.channels}x{h}x{w}")
        typer.echo(format_table(["layer", "kind", "output", "channels", "tags"], rows))

    @app.command("predict")
    def predict_cmd(
        model: str = typer.Argument(..., help="Model name."),
        images: list[Path] = typer.Argument(..., readable=False, help="Image files (any size; grey and RGBA are converted)."),
        weights: str = typer.Option("imagenet", "--weights", "-w", help=WEIGHTS_HELP),
        top: int = typer.Option(5, "--top", min=1, help="How many classes to show."),
        as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
        threads: int = torch_threads_option(),
    ) -> None:
        """Classify images: top classes with probabilities. A file that cannot be read is skipped and said (exit
        code 2); the others are classified."""
        from vis.engine import predict
        from vis.engine._torch_device import limit_torch_threads
        from vis.models import get_model

        limit_torch_threads(threads)
        note_top_past_classes(model, top)  # an unknown model fails here, before any file is read
        readable, pictures, skipped = read_stills(images, model)  # before loading weights: nothing readable, no wait
        results = predict(model, get_model(model, weights=weights), pictures, top=top) if readable else []
        if as_json:  # even when nothing could be read: a script always gets its JSON, and the exit code
            # probabilities unrounded: a program reads them (and all 1000 sum to 1)
            payload = [
                {"image": str(p), "top": [{"index": i, "class": c, "probability": float(q)} for i, c, q in r.classes]}
                for p, r in zip(readable, results)
            ]
            unread = [{"image": str(p), "error": reason} for p, reason in skipped]
            typer.echo(json.dumps({"model": model, "weights": weights, "results": payload, "skipped": unread},
                                  indent=2))
        if not readable:
            raise none_read(images, skipped)
        if not as_json:
            for path, result in zip(readable, results):
                typer.echo(f"{path}:")
                for i, c, q in result.classes:
                    typer.echo(f"  {q:7.2%}  {c} ({i})")
        if weights == "random":  # a student may take a confident 76% from untrained weights for a finding
            typer.echo(f"note: {model}'s weights are random (untrained): these classes say nothing about the images",
                       err=True)
        refuse_skipped(images, skipped)
