"""Model registry, architectures, weight sources, layer tables and preprocessing."""

from vis.models._base import Stage, StagedNet
from vis.models._preprocess import (Preprocessing, classification_input, evaluation_resize, shrunk_for_evaluation,
                                     to_channels)
from vis.models._registry import LayerInfo, ModelSpec, check_model, get_model, layer_table, list_models, model_spec

__all__ = [
    "LayerInfo",
    "ModelSpec",
    "Preprocessing",
    "Stage",
    "StagedNet",
    "check_model",
    "classification_input",
    "evaluation_resize",
    "get_model",
    "layer_table",
    "list_models",
    "model_spec",
    "shrunk_for_evaluation",
    "to_channels",
]
