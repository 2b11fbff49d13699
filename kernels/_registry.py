"""The registry of gradient rules: ``(variant, op_type) -> rule``.

A rule computes the vector-Jacobian product of one forward node::

    rule(ctx: Emitter, node: NodeProto, grads: list[str | None], needs: list[bool]) -> list[str | None]

``grads[i]`` names the gradient of ``node.output[i]`` (None: that output gets no gradient, i.e. zero), ``needs[j]``
says whether input ``j`` depends on the differentiated input. The rule returns one entry per input: the name of
its gradient (same shape as the input) or None where none is needed. Rules emit nodes through ``ctx``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence

import onnx

from vis.kernels._emitter import Emitter

Rule = Callable[[Emitter, onnx.NodeProto, Sequence["str | None"], Sequence[bool]], Sequence["str | None"]]

VARIANTS: tuple[str, ...] = ("fast", "tensorrt_safe")
"""``fast``: quickest on the ORT CPU provider. ``tensorrt_safe``: no MaxPool ``Indices``, no scatter reductions."""

NON_DIFFERENTIABLE_OPS: frozenset[str] = frozenset(
    {
        "Shape", "Size", "Constant", "ConstantOfShape", "Range", "EyeLike", "RandomNormalLike",
        "Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "Not", "And", "Or", "Xor",
        "ArgMax", "ArgMin", "NonZero", "Floor", "Ceil", "Round", "Sign", "IsNaN", "IsInf", "OneHot",
    }
)
"""Ops whose outputs carry no gradient (integer/boolean results or piecewise-constant functions)."""

_RULE_MODULES = (
    "_elementwise", "_shape", "_conv", "_pool", "_reduce", "_linear", "_einsum", "_indexed", "_norm", "_softmax",
)

GRADIENT_RULES: dict[str, dict[str, Rule]] = {v: {} for v in VARIANTS}
"""variant -> op_type -> rule. Filled on first use (see :func:`get_rule`); prefer the functions below."""

_loaded = False


def register_rule(op_type: str, variants: Sequence[str] = VARIANTS) -> Callable[[Rule], Rule]:
    """Decorator registering ``rule`` for ``op_type`` in each of ``variants`` (a later registration wins)."""

    def deco(rule: Rule) -> Rule:
        for v in variants:
            if v not in GRADIENT_RULES:
                raise ValueError(f"unknown variant {v!r}; valid: {', '.join(VARIANTS)}")
            GRADIENT_RULES[v][op_type] = rule
        return rule

    return deco


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for mod in _RULE_MODULES:
            importlib.import_module(f"vis.kernels.{mod}")


def _check_variant(variant: str) -> None:
    if variant not in GRADIENT_RULES:
        raise ValueError(f"unknown gradient variant {variant!r}; valid: {', '.join(VARIANTS)}")


def get_rule(op_type: str, variant: str = "fast") -> Rule | None:
    """The rule for ``op_type`` in ``variant``, or None when there is none (or the op has no gradient)."""
    _check_variant(variant)
    _load()
    return GRADIENT_RULES[variant].get(op_type)


def supported_ops(variant: str = "fast") -> list[str]:
    """Sorted op types the differentiator handles in ``variant`` (with rules or without gradient)."""
    _check_variant(variant)
    _load()
    return sorted(set(GRADIENT_RULES[variant]) | NON_DIFFERENTIABLE_OPS)

