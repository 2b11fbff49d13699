"""`vis export`: inference graphs, gradient graphs (`--objective`) and fused ascent steps (`--step`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from vis.cli._app import VisTyper, given_options
from vis.cli._model_cmds import WEIGHTS_HELP
from vis._text import comma_list
from vis.errors import VisError


def split_names(text: Optional[str]) -> tuple[str, ...]:
    """``--layers a,b`` as its names; none for a blank text (the caller says so)."""
    return comma_list(text, "--layers")


def register(app: VisTyper) -> None:
    @app.command("export")
    def export_cmd(
        ctx: typer.Context,
        model: Optional[str] = typer.Argument(None, help="Model name (see `vis models`); omit with --onnx."),
        output: Path = typer.Option(..., "--output", "-o", help="The .onnx file to write."),
        weights: str = typer.Option("imagenet", "--weights", "-w", help=WEIGHTS_HELP),
        layers: Optional[str] = typer.Option(None, "--layers", help="Comma-separated layer names to output (default: logits)."),
        objective: Optional[str] = typer.Option(None, "--objective", help="Write a gradient graph for this objective, e.g. inception4c or class:dragonfly."),
        step: bool = typer.Option(False, "--step", help="Write the fused DeepDream ascent step (needs --objective)."),
        onnx_file: Optional[Path] = typer.Option(None, "--onnx", help="Differentiate this ONNX file instead of a vis model (objective layers are its tensor names)."),
        tensorrt_safe: bool = typer.Option(False, "--tensorrt-safe", help="Gradient variant without MaxPool indices or scatter reductions."),
        value_range: Optional[str] = typer.Option(None, "--value-range", help="With --onnx and --step: the pixel values the file's model takes, LO,HI (default 0,1; e.g. 0,255 or -1,1); the step clips the image to them."),
        opset: int = typer.Option(17, "--opset", min=13, max=21, help="ONNX opset version."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
    ) -> None:
        """Export to ONNX: a model's layers, or the gradient of an objective (--objective), or an ascent step (--step)."""
        from vis.engine._images import check_output
        from vis.exporters import ExportConfig, export_onnx, resolve_layers, save_onnx

        if (model is None) == (onnx_file is None):
            raise VisError("give either a MODEL name or --onnx FILE")
        if output.suffix.lower() != ".onnx":
            raise VisError(f"vis export writes ONNX: name the file .onnx, not {output.name or output}")
        if objective is not None and not objective.strip():
            raise VisError("--objective is empty: name what the gradient is of (e.g. a layer), or leave it out")
        if layers is not None and not split_names(layers):
            raise VisError("--layers is empty: name layers (see `vis layers MODEL`), or leave it out for the logits")
        if step and not objective:
            raise VisError("--step needs --objective (what the step ascends)")
        if tensorrt_safe and not objective:
            raise VisError("--tensorrt-safe picks a gradient graph variant: it needs --objective (a plain export has "
                           "no gradient)")
        if layers and objective:
            raise VisError("--layers and --objective do not go together: a gradient graph outputs objective and grad")
        if onnx_file is not None and not objective:
            raise VisError("--onnx needs --objective: vis differentiates a user's graph, it does not re-export it")
        ignored = [flag for name, flag in (("weights", "-w/--weights"), ("opset", "--opset")) if name in given_options(ctx)]
        if onnx_file is not None and ignored:
            raise VisError(f"{' and '.join(ignored)} cannot apply to --onnx: the file's own weights and opset are used")
        if value_range is not None and (onnx_file is None or not step):
            raise VisError("--value-range sets the range the --step graph of an --onnx file clips to; a vis model "
                           "has its own" if onnx_file is None else "--value-range needs --step: only the step clips")
        pixel_range = parse_value_range(value_range)
        variant = "tensorrt_safe" if tensorrt_safe else "fast"
        if objective:
            proto = _gradient_export(model, onnx_file, objective, weights, variant, step, opset, output, overwrite,
                                     pixel_range)
            outputs = ", ".join(o.name for o in proto.graph.output)
        else:
            names = resolve_layers(model, split_names(layers))  # fail on names before the slow part
            check_output(output, overwrite)
            from vis.models import get_model

            net = get_model(model, weights=weights)
            proto = export_onnx(model, net, ExportConfig(layers=tuple(names), opset=opset, weights=weights))
            outputs = ", ".join(names)
        path = save_onnx(proto, output, overwrite=overwrite)
        inputs = ", ".join(i.name for i in proto.graph.input if i.name not in {t.name for t in proto.graph.initializer})
        size = path.stat().st_size
        shown = f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size / 2**10:.0f} KiB"  # a LeNet file read 0.0 MiB
        typer.echo(f"wrote {path} ({shown}): {inputs} -> {outputs}")


def parse_value_range(text: Optional[str]) -> Optional[tuple[float, float]]:
    """``--value-range LO,HI`` as two finite numbers, LO below HI; None when not given."""
    if text is None:
        return None
    import math

    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise VisError(f"--value-range takes two numbers LO,HI like 0,255, got {text!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise VisError(f"--value-range needs finite numbers with LO below HI, got {text!r}")
    return lo, hi


def _gradient_export(model, onnx_file, spec, weights, variant, step, opset, output, overwrite, pixel_range=None):
    from vis.engine._images import check_output
    from vis.exporters._gradient import (
        gradient_graph, is_channels_last, model_value_range, read_user_graph, step_graph, user_gradient_graph,
        user_graph_shapes,
    )
    from vis.exporters._objective_spec import parse_objective, parse_objective_for_graph, unchecked_neurons
    from vis.exporters._onnx_export import exported_model

    if onnx_file is not None:
        if output.exists() and onnx_file.exists() and output.samefile(onnx_file):
            raise VisError(f"{output} is the --onnx input: write the gradient graph to another file, so the model "
                           f"is kept")
        user = read_user_graph(onnx_file)
        graph_shapes = user_graph_shapes(user)
        shapes = graph_shapes.shapes
        exported_from = exported_model(user)  # the vis model a vis export was made of, else None
        objective = parse_objective_for_graph(spec, shapes, name=onnx_file.name, model=exported_from)
        check_output(output, overwrite)  # after the objective: a bad name is reported before an existing file
        proto = user_gradient_graph(user, objective, shapes, variant, graph_shapes.channels_last)
        _note_unchecked_positions(unchecked_neurons(objective, shapes), exported_from)
        _note_unknown_layouts(objective, graph_shapes.unknown_layout)
        if pixel_range is not None:
            value_range = pixel_range
        elif exported_from is not None:  # a vis export takes its model's range
            value_range = model_value_range(exported_from)
        else:
            value_range = (0.0, 1.0)  # vis's own: a user's model may take 0..255 or normalised values
            if step:
                typer.echo("note: the step clips the image to 0..1, as vis's own graphs take it; for a model that "
                           "takes other values give --value-range LO,HI (0,255; -1,1)", err=True)
    else:
        from vis.models import get_model

        objective = parse_objective(spec, model)
        check_output(output, overwrite)
        net = get_model(model, weights=weights)
        proto = gradient_graph(model, net, objective, variant=variant, opset=opset, weights=weights)
        _note_unchecked_positions(unchecked_neurons(objective), model)
        value_range = model_value_range(model)
    if not step:
        return proto
    channels_last = onnx_file is not None and is_channels_last(proto)
    if channels_last:
        typer.echo("note: the graph's image is N, H, W, C (channels last): the step rolls its axes 1 and 2", err=True)
    return step_graph(proto, value_range, channels_last=channels_last)


def _note_unknown_layouts(objective, unknown):
    """A channel of a 4-D tensor whose layout the walk from an N, H, W, C image lost is read on axis 1: say so."""
    from vis.exporters._objectives import ChannelObjective, NeuronObjective, shown_name

    reads_channel = [o.layer for _, o in objective.terms() if isinstance(o, (ChannelObjective, NeuronObjective))]
    for layer in dict.fromkeys(name for name in reads_channel if name in unknown):
        typer.echo(f"note: vis cannot follow which axis of {shown_name(layer)} holds the channels (the image is "
                   f"N, H, W, C); it reads the channel on axis 1, as of N, C, H, W", err=True)


def _note_unchecked_positions(neurons, model):
    """A neuron at a fixed position in a map whose size the input sets reads nothing where the map is smaller: the
    graph's objective and gradient are then 0. Say so, unless the graph is a vis model's (``model``) and the position
    lies inside the map at that model's usual input size."""
    for neuron in neurons:
        size = ""
        if model is not None:
            from vis.models import layer_table, model_spec

            crop = model_spec(model).preprocessing.crop
            found = [row.shape for row in layer_table(model, (crop, crop)) if row.name == neuron.layer]
            if found and len(found[0]) == 3:
                _, h, w = found[0]
                if neuron.y < h and neuron.x < w:
                    continue
                size = f" (it is {h}x{w} at a {crop}x{crop} input)"
        typer.echo(f"note: {neuron.layer}'s map size is set by the input{size}, so the position ({neuron.y}, "
                   f"{neuron.x}) of {neuron} is not checked here: where the map is smaller, the objective and "
                   f"gradient are 0", err=True)
