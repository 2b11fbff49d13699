"""Per-operator gradient rules (VJPs) as ONNX node emitters.

``get_rule(op_type, variant)`` returns the rule that :func:`vis.exporters._autodiff.add_input_gradient` calls for one
forward node; ``supported_ops(variant)`` lists what can be differentiated; ``register_rule`` adds a rule.
Rule modules load on first use, so importing this package does no work.
"""

from vis.kernels._emitter import Emitter
from vis.kernels._registry import (
    GRADIENT_RULES,
    NON_DIFFERENTIABLE_OPS,
    VARIANTS,
    Rule,
    get_rule,
    register_rule,
    supported_ops,
)

__all__ = [
    "GRADIENT_RULES",
    "NON_DIFFERENTIABLE_OPS",
    "VARIANTS",
    "Emitter",
    "Rule",
    "get_rule",
    "register_rule",
    "supported_ops",
]
