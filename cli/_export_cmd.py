"""`vis export`: inference graphs now; gradient and step graphs join when the autodiff lands."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from vis.cli._app import VisTyper
from vis.cli._model_cmds import WEIGHTS_HELP


def split_names(text: Optional[str]) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip()) if text else ()


def register(app: VisTyper) -> None:
    @app.command("export")
    def export_cmd(
        model: str = typer.Argument(..., help="Model name (see `vis models`)."),
        output: Path = typer.Option(..., "--output", "-o", help="The .onnx file to write."),
        weights: str = typer.Option("imagenet", "--weights", "-w", help=WEIGHTS_HELP),
        layers: Optional[str] = typer.Option(None, "--layers", help="Comma-separated layer names to output (default: logits)."),
        opset: int = typer.Option(17, "--opset", min=13, max=21, help="ONNX opset version."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
    ) -> None:
        """Export a model to ONNX: images in [0, 1] in, the chosen layers out."""
        from vis.engine._images import check_output
        from vis.exporters import ExportConfig, export_onnx, resolve_layers, save_onnx
        from vis.models import get_model

        names = resolve_layers(model, split_names(layers))  # fail on names before the slow part
        check_output(output, overwrite)
        net = get_model(model, weights=weights)
        proto = export_onnx(model, net, ExportConfig(layers=tuple(names), opset=opset, weights=weights))
        path = save_onnx(proto, output, overwrite=overwrite)
        size_mb = path.stat().st_size / 2**20
        typer.echo(f"wrote {path} ({size_mb:.1f} MiB): image -> {', '.join(names)}")
