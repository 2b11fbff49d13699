"""torch -> ONNX export, objectives, the gradient-graph builder (ONNX autodiff), graph validation."""

from vis.exporters._onnx_export import ExportConfig, ExportError, export_onnx, resolve_layers, save_onnx

__all__ = ["ExportConfig", "ExportError", "export_onnx", "resolve_layers", "save_onnx"]
