"""Objective specs: the strings that name what gradient ascent maximises, read into
:class:`vis.exporters._objectives.Objective` terms and checked against a model or an ONNX graph.

Grammar: terms joined by ``+``/``-``, each optionally ``<number>*term``:

- ``inception4c``             layer: mean of squared activations (DeepDream's L2 objective)
- ``inception4c:97``          channel: mean of one channel
- ``inception4a:12@7,7``      neuron: one channel at (y, x); ``inception4a:12@`` or ``neuron:inception4a:12``
                              takes the centre
- ``class:319``, ``class:dragonfly``   pre-softmax logit; ``prob:319`` the softmax probability
- ``l2`` / ``l2:0.001``       -lambda * sum((I - 0.5)^2): the class-maximisation lecture's L2 penalty, on [0, 1]
                              images centred at grey
- ``tv`` / ``tv:0.1``         -lambda * mean squared difference of neighbouring pixels (total variation)
- ``guide:inception3b``       guided dreaming (google/deepdream): every position is pulled toward the guide
                              feature with the largest dot product; the guide features are a graph input
- ``[conv-1:0]:3``            a name holding a character of this grammar (``:+-*@,`` or a space: an ONNX file's
                              tensor names) in brackets

A leading ``-`` negates the first term (``-inception4c`` minimises it); otherwise every ``+``/``-`` must join two
terms, and every ``:`` field must be filled (``tv`` alone takes the default weight, ``tv:`` is an error). A sign
right after ``:`` or ``,`` and before a digit belongs to that number (``block10:-1`` is channel -1, an error), as
does one after ``@`` before a position ``y,x`` and one in an exponent (``l2:1e-3``). Channels, classes and
positions count from 0 and may not be negative. The ``l2``/``tv`` weight lambda must be >= 0: the term
subtracts the penalty already, so ``- tv:0.5`` (which would reward noise) is refused, as are terms weighted 0 and
terms that cancel (``block10 - block10``). A neuron's position must lie inside the layer's
map, whose size depends on the input: :func:`check_neuron_positions` checks it once the input sizes are known.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from vis.errors import UnknownNameError
from vis.exporters._objectives import (
    GRAMMAR_CHARS,
    ChannelObjective,
    ClassObjective,
    GuideObjective,
    L2Penalty,
    LayerObjective,
    NeuronObjective,
    Objective,
    ObjectiveError,
    Sum,
    TVPenalty,
    shown_name,
)
from vis.models import layer_table, model_spec

# lucid's names for GoogLeNet's layers
ALIASES = {"googlenet": {f"mixed{k}": f"inception{k}" for k in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b")}}

# A term's weight beyond this (or below its inverse) overflows float32 in the graph or drowns the other terms below
# float32's seven digits; the ascent normalises the gradient, so only the ratios between terms matter anyway.
MAX_WEIGHT = 1e6  # the messages say 1e6 and 1e-6
WEIGHT_RANGE_WHY = "float32 holds about 7 digits, and only the ratio between terms matters"
_TERM = re.compile(r"^\s*(?:(?P<w>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*\*\s*)?(?P<body>[^*]+?)\s*$")
_INTEGER = re.compile(r"^[-+]?[0-9]+$")
# A sign that belongs to a number rather than joining terms: right after ':' or ',' with a number after it
# (block10:-1, tv:-3, @1,-2), after '@' with a position y,x after it (@-1,2; a bare '@' is the centre, so
# 'a:1@ - b' subtracts b), or in an exponent (1e-3*l2, tv:1e-3) -- but not after a layer name that ends in "e"
# (inception4e-inception4d).
_FIELD_SIGN = re.compile(r"[:,]\s*$")
_NUMBER_AHEAD = re.compile(r"\s*\.?\d")
_AT_SIGN = re.compile(r"@\s*$")
_POSITION_AHEAD = re.compile(r"\s*\d+\s*,")
_EXPONENT_SIGN = re.compile(r"(?:^|[\s+\-:@,])(?:\d+\.?\d*|\.\d+)[eE]$")
_EMPTY_SPEC = "the objective is empty: give a layer, LAYER:CHANNEL, class:INDEX or a sum such as 'a + 0.5*b'"


def _is_number_sign(spec: str, i: int) -> bool:
    before, after = spec[:i], spec[i + 1 :]
    if _AT_SIGN.search(before):
        return bool(_POSITION_AHEAD.match(after))
    if _FIELD_SIGN.search(before):
        return bool(_NUMBER_AHEAD.match(after))
    return bool(_EXPONENT_SIGN.search(before))


def _operator_positions(spec: str) -> list[int]:
    """Where the ``+``/``-`` that join terms are (none inside a bracketed name)."""
    masked = _masked(spec)
    return [i for i, ch in enumerate(masked) if ch in "+-" and not _is_number_sign(masked, i)]


def _masked(text: str) -> str:
    """``text`` with what lies inside brackets blanked out, so that the grammar's characters there are not read."""
    out, inside = [], False
    for ch in text:
        if ch in "[]":
            inside = ch == "["
            out.append(ch)
        else:
            out.append("_" if inside else ch)
    return "".join(out)


def _partition(text: str, sep: str) -> tuple[str, str, str]:
    """``str.partition`` at the first ``sep`` outside brackets."""
    i = _masked(text).find(sep)
    return (text, "", "") if i < 0 else (text[:i], sep, text[i + 1:])


def _split_terms(spec: str) -> list[tuple[float, str]]:
    """'a + 0.5*b - c' -> [(1, 'a'), (0.5, 'b'), (-1, 'c')]; '-a' -> [(-1, 'a')]; a dangling operator is an error."""
    if not spec.strip():
        raise ObjectiveError(_EMPTY_SPEC)
    cuts = _operator_positions(spec)
    edges = [-1, *cuts, len(spec)]
    parts: list[tuple[float, str]] = []
    for k in range(len(edges) - 1):
        chunk = spec[edges[k] + 1 : edges[k + 1]]
        before = spec[edges[k]] if k > 0 else None
        after = spec[edges[k + 1]] if k < len(cuts) else None
        if chunk.strip():
            parts.append((-1.0 if before == "-" else 1.0, chunk))
        elif before is None and after == "-":
            continue  # a leading unary minus: the first term is minimised
        else:
            raise ObjectiveError(_dangling_operator(spec, before, after))
    return parts


def _dangling_operator(spec: str, before: str | None, after: str | None) -> str:
    """The message for an operator with no term on one side."""
    if before is None:
        return f"objective {spec!r} starts with {after!r}: '+' joins two terms, so drop it"
    if after is None:
        return f"objective {spec!r} ends with {before!r}: a term must follow it"
    return f"empty term between {before!r} and {after!r} in objective {spec!r}"


def _read_term(chunk: str, spec: str) -> tuple[float, str]:
    """'0.5*b' -> (0.5, 'b'); 'b' -> (1, 'b')."""
    text = chunk.strip()
    match = _TERM.match(chunk)
    if not match:
        side = "after" if text.endswith("*") else "before" if text.startswith("*") else None
        hint = f"nothing {side} '*'" if side else "a term is TERM or NUMBER*TERM"
        raise ObjectiveError(f"cannot read the term {text!r} of objective {spec!r}: {hint}")
    weight = float(match.group("w")) if match.group("w") else 1.0
    if not math.isfinite(weight):
        raise ObjectiveError(f"the weight of {text!r} in objective {spec!r} is not a finite number")
    if weight != 0 and not 1 / MAX_WEIGHT <= abs(weight) <= MAX_WEIGHT:
        raise ObjectiveError(f"the weight {weight:g} of {text!r} in objective {spec!r} is out of range: a weight's size "
                             f"must lie between 1e-6 and 1e6 ({WEIGHT_RANGE_WHY})")
    return weight, match.group("body").strip()


def _integer(text: str, what: str, term: str) -> int:
    text = text.strip()
    if not text:
        raise ObjectiveError(f"{term!r}: the {what} is missing")
    if not _INTEGER.match(text):
        raise ObjectiveError(f"{what} {text!r} in {term!r} is not an integer")
    return int(text)


def _empty_field_hint(head: str) -> str:
    """What belongs after ``head:``, for the message on an empty field."""
    if head in ("class", "prob"):
        return f"give a class index or name, e.g. {head}:319 or {head}:dragonfly"
    if head in ("l2", "tv"):
        return f"give a weight, e.g. {head}:0.5, or write {head} alone for the default"
    if head == "guide":
        return "give a layer, e.g. guide:inception3b"
    if head == "neuron":
        return "give LAYER:CHANNEL, e.g. neuron:inception4a:12"
    return f"give a channel, e.g. {head}:3, or write {head} alone for the whole layer"


def _check_fields(body: str) -> None:
    """Every ':'-separated field of a term is filled: 'block10:' and ':3' are errors, not 'block10'."""
    head, *fields = _masked(body).split(":")
    if not head.strip():
        raise ObjectiveError(f"{body!r} has nothing before ':': give a layer, class, prob, l2, tv, guide or neuron")
    if any(not f.strip() for f in fields):
        raise ObjectiveError(f"{body!r} has an empty field after ':': {_empty_field_hint(head)}")


@dataclass
class _Context:
    """What parsing needs to know of a network: its layer shapes, categories and logits layer.

    ``static_maps``: the shapes are the ones the objective will see (an ONNX graph's own), not those of a nominal
    input size, so neuron positions are checked against them.
    """

    name: str
    table: dict[str, tuple[int, ...]] = field(default_factory=dict)
    categories: list[str] = field(default_factory=list)
    logits: str | None = None
    aliases: dict[str, str] = field(default_factory=dict)
    static_maps: bool = False
    no_logits_hint: str = "use LAYER:INDEX instead"

    def layer(self, name: str, term: str) -> str:
        name = name.strip()
        if len(name) > 1 and name[0] == "[" and name[-1] == "]":
            name = name[1:-1]
        name = self.aliases.get(name, name)
        if name not in self.table:
            where = f" (in objective term {term!r})" if term.strip() != name else ""  # not the name twice
            cut = [n for n in self.table if GRAMMAR_CHARS.search(n) and n.startswith(name)]
            if cut:  # "conv-1:0" was read as the terms conv and 1:0
                raise ObjectiveError(f"unknown layer {name!r} of {self.name}{where}: a tensor name with one of "
                                     f"':+-*@,' or a space goes in brackets, as {shown_name(cut[0])} or "
                                     f"{shown_name(cut[0])}:CHANNEL")
            raise UnknownNameError(f"layer of {self.name}{where}", name, self.table)
        return name

    def channel(self, layer: str, text: str, term: str) -> int:
        c = _integer(text, "channel", term)
        channels = self.table[layer][0] if self.table[layer] else 0
        if not channels:  # a file's tensor whose shape ONNX inference leaves open (after a Pad with computed pads)
            raise ObjectiveError(f"{term!r}: the channels of {layer} are not known from the file (ONNX shape "
                                 f"inference leaves them open), so channel {c} cannot be checked; name the tensor "
                                 "before or after it")
        span = f"{layer} has {channels} channels (0..{channels - 1})"
        if c < 0:
            raise ObjectiveError(f"channel {c} in {term!r} must be >= 0: {span}")
        if c >= channels:
            raise ObjectiveError(f"channel {c} in {term!r} is out of range: {span}")
        return c


def _class_term(head: str, rest: str, body: str, ctx: _Context) -> ClassObjective:
    if ctx.logits is None:
        raise ObjectiveError(f"{body!r}: {ctx.name} has no known logits layer; {ctx.no_logits_hint}")
    index = class_index(rest, ctx.categories, ctx.table[ctx.logits][0], ctx.name, f"in {body!r}")
    return ClassObjective(ctx.logits, index, prob=head == "prob")


def class_index(text: str, categories: list[str], classes: int, model: str, where: str) -> int:
    """The index of class ``text`` of ``model``, which has ``classes`` outputs: a number among them, or a name as
    :func:`class_by_name` takes it, with _ for a space (Egyptian_cat). ``where``: what gave it, for the message.

    Raises:
        ObjectiveError: a number out of range, or a name the model's ``categories`` lack.
    """
    if not _INTEGER.match(text.strip()):
        return class_by_name(text.strip().replace("_", " "), categories, model, where)
    index, span = int(text), f"{model} has {classes} classes (0..{classes - 1})"
    if index < 0:
        raise ObjectiveError(f"class {index} {where} must be >= 0: {span}")
    if index >= classes:
        raise ObjectiveError(f"class {index} {where} is out of range: {span}")
    return index


def class_by_name(name: str, categories: list[str], model: str, where: str) -> int:
    """The index of class ``name`` of ``model`` (``where``: what gave it, for the message, e.g. "in 'class:x'").

    The exact name first, else the one name that matches ignoring case ('Dragonfly'); ImageNet has both 'Cardigan'
    (the corgi) and 'cardigan' (the sweater), so a case-only match of two is an error, not a guess."""
    if name in categories:
        return categories.index(name)
    folded = [i for i, c in enumerate(categories) if c.casefold() == name.casefold()]
    if len(folded) > 1:
        choices = ", ".join(f"{categories[i]!r} ({i})" for i in folded)
        raise ObjectiveError(f"class {name!r} {where} matches {choices} except for case: spell it exactly, "
                             f"or give the number")
    if not folded:  # 'cat' suggests the cats (tiger cat, Persian cat, ...), not the names spelt like it (cab, ant)
        word = name.casefold()
        near = [c for c in categories if word in c.casefold().replace("-", " ").split()][:8]
        raise UnknownNameError(f"class of {model} ({where})", name, categories, near=near)
    return folded[0]


def _penalty_term(head: str, rest: str, body: str) -> Objective:
    cls = L2Penalty if head == "l2" else TVPenalty
    if not rest:
        return cls()
    try:
        weight = float(rest)
    except ValueError:
        raise ObjectiveError(f"{body!r}: the weight {rest!r} is not a number") from None
    if not math.isfinite(weight):
        raise ObjectiveError(f"{body!r}: the weight {rest!r} is not a finite number")
    if weight < 0:
        # The term is -lambda * penalty: a negative lambda would reward noise.
        raise ObjectiveError(f"{body!r}: the {head} weight must be >= 0 ({head}:{-weight:g} already subtracts the "
                             "penalty)")
    if weight > MAX_WEIGHT:
        raise ObjectiveError(f"{body!r}: the {head} weight is above 1e6 ({WEIGHT_RANGE_WHY})")
    return cls(weight)


def _position(text: str, body: str) -> tuple[int, int]:
    """'7,7' -> (7, 7); the map's size is checked later, when it is known."""
    y_text, comma, x_text = text.partition(",")
    if not (comma and _INTEGER.match(y_text.strip()) and _INTEGER.match(x_text.strip())):
        raise ObjectiveError(f"{body!r}: the position must be y,x (integers)")
    y, x = int(y_text), int(x_text)
    if y < 0 or x < 0:
        raise ObjectiveError(f"{body!r}: the position ({y}, {x}) must be >= 0 in y and x (0,0 is the top-left unit)")
    return y, x


def _parse_term(body: str, ctx: _Context) -> Objective:
    _check_fields(body)
    head, _, rest = _partition(body, ":")
    if head in ("class", "prob"):
        return _class_term(head, rest, body, ctx)
    if head in ("l2", "tv"):
        return _penalty_term(head, rest, body)
    if head == "guide":
        layer = ctx.layer(rest, body)
        if len(ctx.table[layer]) != 3:  # the guide matches features position by position
            raise ObjectiveError(f"{body!r}: {layer} has no spatial map to match the guide's features in; guide a "
                                 "convolutional layer")
        return GuideObjective(layer)
    if head == "neuron":
        layer_part, _, rest = _partition(rest, ":")
        head, rest = layer_part, rest + ("" if "@" in rest else "@")
    layer = ctx.layer(head, body)
    shape = ctx.table[layer]
    if not rest:
        return LayerObjective(layer, rank=len(shape) + 1)
    channel_text, at, position = rest.partition("@")
    channel = ctx.channel(layer, channel_text, body)
    if not at:
        return ChannelObjective(layer, channel, rank=len(shape) + 1)
    if len(shape) != 3:
        raise ObjectiveError(f"{body!r}: {layer} has no spatial map; use {layer}:{channel} for a unit")
    if not position:
        return NeuronObjective(layer, channel)
    neuron = NeuronObjective(layer, channel, *_position(position, body))
    if ctx.static_maps:
        neuron.check_map_sizes(ctx.table)
    return neuron


def parse_objective(spec: str, model: str) -> Objective:
    """Parse an objective spec for registry model ``model`` (grammar in the module docstring).

    Neuron positions are not checked against map sizes here: those depend on the input size (see
    :func:`check_neuron_positions`).

    Raises:
        ObjectiveError / UnknownNameError: naming the offending term.
    """
    info = model_spec(model)
    ctx = _Context(model, {row.name: row.shape for row in layer_table(model)}, info.categories,
                   info.logits_layer(), ALIASES.get(model, {}))
    return _parse(spec, ctx)


def parse_objective_for_graph(spec: str, shapes: dict[str, tuple[int, ...]], name: str = "the ONNX graph",
                              model: str | None = None) -> Objective:
    """Parse a spec whose layers are tensor names of an ONNX graph; ``shapes`` maps them to (C, H, W) or (K,).

    Where a map's H and W are static (not 0), neuron positions are checked against them. ``model``: the registry
    model the graph was exported from (a vis export records it), whose class names, logits layer (where the graph
    outputs it) and layer aliases then apply, so ``class:dragonfly`` works on the file as on the model.
    """
    ctx = _Context(name, shapes, static_maps=True)
    if model is not None:
        info = model_spec(model)
        logits = info.logits_layer()
        ctx.categories = info.categories
        ctx.logits = logits if logits in shapes else None
        ctx.no_logits_hint = (f"it does not output {model}'s logits layer {logits} (export with --layers ...,{logits}), "
                              "or use LAYER:INDEX")
        ctx.aliases = {alias: layer for alias, layer in ALIASES.get(model, {}).items() if layer in shapes}
    return _parse(spec, ctx)


def _parse(spec: str, ctx: _Context) -> Objective:
    terms = []
    for sign, chunk in _split_terms(spec):
        weight, body = _read_term(chunk, spec)
        term = _parse_term(body, ctx)
        if weight == 0:
            raise ObjectiveError(f"the term {chunk.strip()!r} of objective {spec!r} is weighted 0: it does nothing; "
                                 f"drop it")
        if sign * weight < 0 and isinstance(term, (L2Penalty, TVPenalty)):
            flipped = f"+ {chunk.strip()}" if len(terms) else chunk.strip()
            raise ObjectiveError(f"{sign * weight:g} x {body!r} in objective {spec!r} would reward noise: "
                                 f"{body.partition(':')[0]} already subtracts its penalty, so write '{flipped}'")
        terms.append((sign * weight, term))
    _refuse_cancelling_terms(terms, spec)
    if len(terms) == 1 and terms[0][0] == 1.0:
        return terms[0][1]
    return Sum(terms)


def _refuse_cancelling_terms(terms: list[tuple[float, Objective]], spec: str) -> None:
    """'block10 - block10' sums to a constant 0: the run would just return its starting image."""
    totals: dict[tuple, float] = {}
    for weight, term in terms:
        key = (type(term).__name__, tuple(sorted((k, repr(v)) for k, v in vars(term).items())))
        totals[key] = totals.get(key, 0.0) + weight
    if all(abs(total) < 1e-12 for total in totals.values()):
        raise ObjectiveError(f"the terms of objective {spec!r} cancel out: it is 0 for every image")


def _has_fixed_position(objective: Objective) -> bool:
    return any(isinstance(o, NeuronObjective) and o.y is not None for _, o in objective.terms())


def unchecked_neurons(objective: Objective, shapes: dict[str, tuple[int, ...]] | None = None) -> list[NeuronObjective]:
    """The fixed-position neurons of ``objective`` whose layer map has a symbolic size in ``shapes`` (a graph with
    dynamic H and W; ``None``: a registry model's graph, dynamic throughout): their positions can only be checked
    once an input size is known."""
    return [o for _, o in objective.terms() if isinstance(o, NeuronObjective) and o.y is not None
            and (shapes is None or 0 in shapes.get(o.layer, (0, 0, 0))[1:])]


def check_neuron_positions(objective: Objective, model: str, sizes: Iterable[tuple[int, int]]) -> None:
    """Raise :class:`ObjectiveError` if a neuron position of ``objective`` falls outside its layer's map for an input
    of any of ``sizes`` (H, W) to registry model ``model``.

    Call it once the sizes the network will see (octaves, tiles, scales) are known and before the run: in the ONNX
    graph an out-of-range position reads an empty slice, and the objective is silently 0.
    """
    if not _has_fixed_position(objective):
        return  # only fixed positions can miss; skip the shape pass
    for h, w in dict.fromkeys(sizes):
        shapes = {row.name: row.shape for row in layer_table(model, (h, w))}
        objective.check_map_sizes(shapes, (h, w))
