"""Gradient rule of Einsum (Keras attention layers through tf2onnx, torch.einsum).

For ``out = einsum(t_1, ..., t_n)`` the gradient of operand ``i`` is itself an einsum: of the output gradient with
the other operands, onto ``t_i``'s indices. An index of ``t_i`` that no other term has was summed away: the gradient
is constant along it (Unsqueeze and Expand). Ellipsis dims (leading ones only) broadcast as numpy's do, so where
they may have been broadcast the gradient is summed back to the operand's shape.
"""

from __future__ import annotations

from collections.abc import Sequence

import onnx

from vis.kernels._emitter import Emitter, attr
from vis.kernels._registry import register_rule

Grads = Sequence["str | None"]
ELLIPSIS = "..."


def parse_equation(equation: str, operands: int) -> tuple[list[str], str]:
    """``(input terms, output term)`` of an einsum equation without spaces, the implicit output made explicit
    (an ellipsis first, then the indices that occur once, in alphabetical order)."""
    lhs, arrow, rhs = equation.replace(" ", "").partition("->")
    terms = lhs.split(",")
    if len(terms) != operands:
        raise NotImplementedError(f"Einsum equation {equation!r} names {len(terms)} operands, the node has {operands}")
    if not arrow:
        letters = "".join(t.replace(ELLIPSIS, "") for t in terms)
        rhs = (ELLIPSIS if any(ELLIPSIS in t for t in terms) else "") + "".join(
            sorted(c for c in set(letters) if letters.count(c) == 1))
    for term in [*terms, rhs]:
        letters = term.replace(ELLIPSIS, "")
        if len(set(letters)) != len(letters):
            raise NotImplementedError(f"Einsum with an index repeated in one term ({term!r}: a diagonal or trace)")
        if ELLIPSIS in term and not term.startswith(ELLIPSIS):
            raise NotImplementedError(f"Einsum with an ellipsis after an index ({term!r})")
    if ELLIPSIS not in rhs and any(ELLIPSIS in t for t in terms):  # ONNX Runtime does not run these either
        raise NotImplementedError(f"Einsum summing the dims of an ellipsis ({equation!r})")
    return terms, rhs


@register_rule("Einsum")
def _einsum(ctx: Emitter, node: onnx.NodeProto, grads: Grads, needs: Sequence[bool]) -> list[str | None]:
    terms, out = parse_equation(str(attr(node, "equation", "")), len(node.input))
    g = grads[0]
    results: list[str | None] = []
    for i, (x, term) in enumerate(zip(node.input, terms)):
        if not needs[i]:
            results.append(None)
            continue
        others = [t for j, t in enumerate(terms) if j != i]
        seen = set(out.replace(ELLIPSIS, "")).union(*(t.replace(ELLIPSIS, "") for t in others))
        letters = term.replace(ELLIPSIS, "")
        kept = "".join(c for c in letters if c in seen)
        has_ellipsis = term.startswith(ELLIPSIS)  # then the output has one too
        equation = ",".join([out, *others]) + "->" + (ELLIPSIS if has_ellipsis else "") + kept
        gx = ctx.op("Einsum", [g, *(node.input[j] for j in range(len(terms)) if j != i)], equation=equation)
        if kept != letters:  # summed away in the forward: the gradient is constant along those indices
            rank = ctx.rank(x)
            if rank is None:
                raise NotImplementedError("Einsum summing an index of an operand of unknown rank")
            lead = rank - len(letters)
            gx = ctx.unsqueeze(gx, [lead + k for k, c in enumerate(letters) if c not in seen])
        broadcast = has_ellipsis and _may_broadcast(ctx, x, node.output[0], term, out)
        if kept != letters or broadcast:
            # to the broadcast of both shapes: spread along the summed indices and any ellipsis dims it lacks
            gx = ctx.op("Expand", [gx, ctx.shape(x)])  # type: ignore[assignment]
        if broadcast:  # then summed down to x's shape where its ellipsis dims were 1
            gx = ctx.unbroadcast(gx, x, gx)  # type: ignore[arg-type]
        results.append(gx)  # type: ignore[arg-type]
    return results


def _may_broadcast(ctx: Emitter, x: str, y: str, term: str, out: str) -> bool:
    """Whether operand ``x``'s (term ``term``) ellipsis dims may differ from output ``y``'s (term ``out``):
    broadcast from 1, or fewer of them."""
    x_shape, y_shape = ctx.static_shape(x), ctx.static_shape(y)
    if x_shape is None or y_shape is None:
        return True
    x_lead = len(x_shape) - len(term.replace(ELLIPSIS, ""))
    y_lead = len(y_shape) - len(out.replace(ELLIPSIS, ""))
    if x_lead != y_lead:
        return True
    return any(not isinstance(a, int) or a != b for a, b in zip(x_shape[:x_lead], y_shape[:y_lead]))
