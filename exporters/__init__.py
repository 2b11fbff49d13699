"""torch -> ONNX export, objectives, the gradient-graph builder (ONNX autodiff), graph validation."""

from vis.exporters._autodiff import AutodiffError, UnsupportedOperatorError, add_input_gradient
from vis.exporters._fp16 import to_float16
from vis.exporters._frame_graphs import (
    FrameGraphError,
    blend_graph,
    detail_carry_graph,
    postprocess_graph,
    preprocess_graph,
    resize_graph,
    warp_graph,
)
from vis.exporters._gradient import GRAD, OBJECTIVE, gradient_graph, objective_graph, step_graph
from vis.exporters._objective_spec import parse_objective
from vis.exporters._objectives import (
    GUIDE_INPUT,
    ChannelObjective,
    ClassObjective,
    GuideObjective,
    L2Penalty,
    LayerObjective,
    NeuronObjective,
    Objective,
    ObjectiveError,
    TVPenalty,
    guide_features,
)
from vis.exporters._onnx_export import ExportConfig, ExportError, export_onnx, resolve_layers, save_onnx

__all__ = [
    "AutodiffError",
    "UnsupportedOperatorError",
    "add_input_gradient",
    "to_float16",
    "FrameGraphError",
    "blend_graph",
    "detail_carry_graph",
    "postprocess_graph",
    "preprocess_graph",
    "resize_graph",
    "warp_graph",
    "GRAD",
    "GUIDE_INPUT",
    "OBJECTIVE",
    "ChannelObjective",
    "ClassObjective",
    "ExportConfig",
    "ExportError",
    "GuideObjective",
    "L2Penalty",
    "LayerObjective",
    "NeuronObjective",
    "Objective",
    "ObjectiveError",
    "TVPenalty",
    "export_onnx",
    "gradient_graph",
    "guide_features",
    "objective_graph",
    "step_graph",
    "parse_objective",
    "resolve_layers",
    "save_onnx",
]
