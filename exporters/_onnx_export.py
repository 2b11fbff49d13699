"""torch -> ONNX export of inference graphs whose outputs are named layers."""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import onnx
import torch
from torch import nn

import vis
from vis.errors import VisError
from vis.models import StagedNet, check_model, layer_table, model_spec

INPUT_NAME = "image"


class ExportError(VisError):
    """The exporter or the ONNX checker rejected a graph."""


@dataclass(frozen=True)
class ExportConfig:
    """Options of :func:`export_onnx`.

    Attributes:
        layers: the graph's outputs, by layer name; empty means the model's logits.
        opset: ONNX opset version.
        weights: a label of the weights, recorded in the metadata (default: what get_model built the model with).
    """

    layers: tuple[str, ...] = ()
    opset: int = 17
    weights: str = ""


class LayerOutputs(nn.Module):
    """``image -> (layer outputs...)``; stages past the deepest requested layer are not part of the graph."""

    def __init__(self, model: StagedNet, layers: Sequence[str]):
        super().__init__()
        self.model = model
        self.layers = list(layers)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.model.forward_layers(image, self.layers))


def resolve_layers(model_name: str, layers: Sequence[str]) -> list[str]:
    """Check layer names against the model's table; none means the logits."""
    spec = model_spec(model_name)
    table = [row.name for row in layer_table(model_name)]
    if not layers:
        return [spec.logits_layer()]
    from vis.errors import UnknownNameError

    for name in layers:
        if name not in table:
            raise UnknownNameError(f"layer of {model_name}", name, table)
    if len(set(layers)) != len(layers):
        raise VisError(f"a layer is named twice in {', '.join(layers)}")
    return list(layers)


def export_onnx(model_name: str, model: StagedNet, config: ExportConfig = ExportConfig()) -> onnx.ModelProto:
    """Export ``model`` as an ONNX graph from ``image`` to the layers of ``config``.

    The graph takes float32 NCHW images in [0, 1] (RGB, one grey channel for LeNet) and normalises inside. Batch,
    height and width are dynamic unless a requested layer lies past a fixed-size classifier. The result passes
    ``onnx.checker`` (full check) and records model, weights, preprocessing and layers in ``metadata_props``.

    Raises:
        UnknownNameError: a layer is not in the model's table.
        ExportError: the exporter or checker failed.
    """
    check_model(model_name, model)
    spec = model_spec(model_name)
    layers = resolve_layers(model_name, config.layers)
    pre = spec.preprocessing
    dynamic = spec.dynamic_size(layers)
    wrapper = LayerOutputs(model, layers).eval()  # the legacy exporter flips wrappers back to train mode otherwise
    example = torch.rand(1, pre.channels, pre.crop, pre.crop)
    axes = {0: "batch", 2: "height", 3: "width"} if dynamic else {0: "batch"}
    dynamic_axes = {INPUT_NAME: axes}
    for name in layers:
        rank = len(layer_table(model_name)[[r.name for r in layer_table(model_name)].index(name)].shape) + 1
        # a layer's maps are smaller than the image: their own names, or readers would take them for the input's
        own = {0: "batch", 2: f"{name}_height", 3: f"{name}_width"} if dynamic else axes
        dynamic_axes[name] = {i: a for i, a in own.items() if i < rank}
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice is not the user's business
            torch.onnx.export(
                wrapper, (example,), buf, dynamo=False, opset_version=config.opset, input_names=[INPUT_NAME],
                output_names=layers, dynamic_axes=dynamic_axes, do_constant_folding=True,
            )
    except Exception as e:  # the exporter raises many unrelated types
        raise ExportError(f"exporting {model_name} to ONNX (opset {config.opset}) failed: {e}") from e
    proto = onnx.load_from_string(buf.getvalue())
    if not dynamic:
        _declare_fixed_shapes(proto, model_name)
    set_metadata(proto, {
        "vis.version": vis.__version__,
        "vis.model": model_name,
        "vis.weights": config.weights or getattr(model, "vis_weights", "unknown"),
        "vis.preprocessing": json.dumps(pre.as_dict()),
        "vis.layers": ",".join(layers),
        "vis.input": f"{INPUT_NAME}: float32 NCHW {'grey' if pre.channels == 1 else 'RGB'} in [0, 1]; normalisation is inside the graph",
    })
    check(proto)
    return proto


def _declare_fixed_shapes(proto: onnx.ModelProto, model_name: str) -> None:
    """Declare each output's shape from the layer table where the image size is fixed: the legacy exporter's own
    guess gave LeNet-5's conv1 (batch, 6, batch, ?) and its flattened dropout (batch, batch), which readers of the
    declared shapes (and TensorRT) take at their word."""
    shapes = {row.name: row.shape for row in layer_table(model_name)}
    for output in proto.graph.output:
        if output.name not in shapes:
            continue
        dims = output.type.tensor_type.shape.dim
        del dims[:]
        dims.add().dim_param = "batch"
        for size in shapes[output.name]:
            dims.add().dim_value = size


def exported_model(proto: onnx.ModelProto) -> str | None:
    """The registry model a vis export was made from (its ``vis.model`` metadata), or None for any other graph."""
    from vis.models import list_models

    name = next((p.value for p in proto.metadata_props if p.key == "vis.model"), None)
    return name if name in list_models() else None


def set_metadata(proto: onnx.ModelProto, entries: dict[str, str]) -> None:
    """Set (add or replace) ``metadata_props`` entries."""
    existing = {p.key: p for p in proto.metadata_props}
    for key, value in entries.items():
        if key in existing:
            existing[key].value = value
        else:
            proto.metadata_props.add(key=key, value=value)


def check(proto: onnx.ModelProto) -> None:
    """Full ONNX checker run (with shape inference); failures become :class:`ExportError`."""
    try:
        onnx.checker.check_model(proto, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise ExportError(f"the exported graph fails onnx.checker: {e}") from e


def save_onnx(proto: onnx.ModelProto, path: str | Path, overwrite: bool = False) -> Path:
    """Write ``proto`` to ``path`` (creating folders; refusing to overwrite unless asked)."""
    from vis.engine._images import atomic_write, check_output

    path = check_output(path, overwrite)
    with atomic_write(path, overwrite) as temp:
        onnx.save(proto, str(temp))
    return path
