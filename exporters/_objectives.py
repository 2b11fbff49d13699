"""Objectives: what gradient ascent maximises, parsed from strings and emitted as ONNX or computed in torch.

Every objective is **maximised**. Objectives compose with ``+``, ``-`` and scalar ``*`` (after lucid's
``optvis/objectives.py``). Each knows the layers it reads, its torch value (the reference backend) and how to emit
its ONNX subgraph on named layer outputs. Values are summed over the batch, so each image's gradient is its own.

Spec grammar (``parse_objective``): terms joined by ``+``/``-``, each optionally ``<number>*term``:

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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from vis.errors import UnknownNameError, VisError
from vis.exporters._graph import GraphBuilder
from vis.models import layer_table, model_spec

GUIDE_INPUT = "guide"
NEEDS_GUIDE = "a guide:LAYER objective needs a guide (vis dream --guide IMAGE; make_backend(..., guide=image))"


class ObjectiveError(VisError):
    """A malformed or invalid objective spec; the message names the offending part."""


class Objective:
    """Base class. Subclasses implement ``layers``, ``torch_value`` and ``emit``."""

    def layers(self) -> tuple[str, ...]:
        return ()

    def needs_guide(self) -> str | None:
        """The layer whose guide features this objective takes as a graph input, if any."""
        return None

    def check_map_sizes(self, shapes: Mapping[str, tuple[int, ...]], input_size: tuple[int, int] | None = None) -> None:
        """Raise :class:`ObjectiveError` if a fixed position lies outside its layer's map in ``shapes`` (C, H, W)."""

    def torch_value(self, acts: Mapping[str, torch.Tensor], image: torch.Tensor, guide: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def emit(self, g: GraphBuilder, acts: Mapping[str, str], image: str) -> str:
        """Emit ONNX nodes computing the scalar value; ``acts`` maps layer names to tensor names."""
        raise NotImplementedError

    def terms(self) -> list[tuple[float, "Objective"]]:
        return [(1.0, self)]

    def __add__(self, other: "Objective") -> "Objective":
        return Sum(self.terms() + other.terms())

    def __sub__(self, other: "Objective") -> "Objective":
        return Sum(self.terms() + [(-w, o) for w, o in other.terms()])

    def __mul__(self, scale: float) -> "Objective":
        return Sum([(scale * w, o) for w, o in self.terms()])

    __rmul__ = __mul__

    def __neg__(self) -> "Objective":
        return self * -1.0


@dataclass(frozen=True, eq=False)
class Sum(Objective):
    """A weighted sum of objectives."""

    parts: list[tuple[float, Objective]]

    def terms(self) -> list[tuple[float, Objective]]:
        return list(self.parts)

    def layers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n for _, o in self.parts for n in o.layers()))

    def needs_guide(self) -> str | None:
        return next((o.needs_guide() for _, o in self.parts if o.needs_guide()), None)

    def check_map_sizes(self, shapes, input_size=None):
        for _, o in self.parts:
            o.check_map_sizes(shapes, input_size)

    def torch_value(self, acts, image, guide=None):
        return sum(w * o.torch_value(acts, image, guide) for w, o in self.parts)

    def emit(self, g, acts, image):
        total = None
        for w, o in self.parts:
            value = o.emit(g, acts, image)
            if w != 1.0:
                value = g.op("Mul", [value, g.const(np.float32(w))])
            total = value if total is None else g.op("Add", [total, value])
        return total

    def __str__(self) -> str:
        return " + ".join(f"{w:g}*{o}" for w, o in self.parts)


def _batch_sum_of_means(g: GraphBuilder, x: str, rank: int) -> str:
    """ONNX: mean over every axis but the batch, then sum over the batch -> scalar."""
    per_image = g.op("ReduceMean", [x], axes=list(range(1, rank)), keepdims=0) if rank > 1 else x
    return g.op("ReduceSum", [per_image], keepdims=0)


@dataclass(frozen=True, eq=False)
class LayerObjective(Objective):
    """Mean of squared activations of a layer (DeepDream)."""

    layer: str
    rank: int = 4

    def layers(self):
        return (self.layer,)

    def torch_value(self, acts, image, guide=None):
        x = acts[self.layer]
        return (x * x).flatten(1).mean(1).sum()

    def emit(self, g, acts, image):
        x = acts[self.layer]
        return _batch_sum_of_means(g, g.op("Mul", [x, x]), self.rank)

    def __str__(self):
        return shown_name(self.layer)


@dataclass(frozen=True, eq=False)
class ChannelObjective(Objective):
    """Mean activation of one channel (or one unit of a dense layer)."""

    layer: str
    channel: int
    rank: int = 4

    def layers(self):
        return (self.layer,)

    def torch_value(self, acts, image, guide=None):
        return acts[self.layer][:, self.channel].reshape(image.shape[0], -1).mean(1).sum()

    def emit(self, g, acts, image):
        c = self.channel
        sliced = g.op("Slice", [acts[self.layer], g.const([c]), g.const([c + 1]), g.const([1])])
        return _batch_sum_of_means(g, sliced, self.rank)

    def __str__(self):
        return f"{shown_name(self.layer)}:{self.channel}"


@dataclass(frozen=True, eq=False)
class NeuronObjective(Objective):
    """One unit: channel ``channel`` at (y, x); ``None`` position means the centre of the map."""

    layer: str
    channel: int
    y: int | None = None
    x: int | None = None

    def layers(self):
        return (self.layer,)

    def _position(self, h: int, w: int, input_size: tuple[int, int] | None = None) -> tuple[int, int]:
        y = h // 2 if self.y is None else self.y
        x = w // 2 if self.x is None else self.x
        if not (0 <= y < h and 0 <= x < w):
            at = f" at a {input_size[0]}x{input_size[1]} input" if input_size else ""
            raise ObjectiveError(f"neuron position ({y}, {x}) of {str(self)!r} is outside {self.layer}'s {h}x{w} "
                                 f"map{at}: y must be in 0..{h - 1} and x in 0..{w - 1}")
        return y, x

    def check_map_sizes(self, shapes, input_size=None):
        shape = shapes.get(self.layer, ())
        if len(shape) == 3 and shape[1] > 0 and shape[2] > 0:  # 0: a symbolic size, unknown until run time
            self._position(shape[1], shape[2], input_size)

    def torch_value(self, acts, image, guide=None):
        a = acts[self.layer]
        y, x = self._position(a.shape[2], a.shape[3], tuple(image.shape[2:]) if image is not None else None)
        return a[:, self.channel, y, x].sum()

    def emit(self, g, acts, image):
        a = acts[self.layer]
        c = self.channel
        if self.y is None or self.x is None:
            # centre of a map whose size is only known at run time
            hw = g.op("Slice", [g.op("Shape", [a]), g.const([2]), g.const([4]), g.const([0])])
            centre = g.op("Div", [hw, g.const([2, 2])])
            fixed = g.const([self.y if self.y is not None else 0, self.x if self.x is not None else 0])
            use_fixed = g.const([self.y is not None, self.x is not None], dtype=np.bool_)
            pos = g.op("Where", [use_fixed, fixed, centre])
        else:
            # A constant: the map size is symbolic here, and Slice clamps a start past the edge to an empty slice
            # (value and gradient 0), so callers check positions with check_neuron_positions once the size is known.
            pos = g.const([self.y, self.x])
        starts = g.op("Concat", [g.const([c]), pos], axis=0)
        ends = g.op("Add", [starts, g.const([1, 1, 1])])
        unit = g.op("Slice", [a, starts, ends, g.const([1, 2, 3])])
        return g.op("ReduceSum", [unit], keepdims=0)

    def __str__(self):
        pos = "" if self.y is None else f"{self.y},{self.x}"
        return f"{shown_name(self.layer)}:{self.channel}@{pos}"


@dataclass(frozen=True, eq=False)
class ClassObjective(Objective):
    """A class's pre-softmax logit (the default, as the lecture recommends) or, with ``prob``, its probability."""

    logits_layer: str
    index: int
    prob: bool = False

    def layers(self):
        return (self.logits_layer,)

    def torch_value(self, acts, image, guide=None):
        z = acts[self.logits_layer]
        if self.prob:
            z = z.softmax(1)
        return z[:, self.index].sum()

    def emit(self, g, acts, image):
        z = acts[self.logits_layer]
        if self.prob:
            z = g.op("Softmax", [z], axis=1)
        k = self.index
        picked = g.op("Slice", [z, g.const([k]), g.const([k + 1]), g.const([1])])
        return g.op("ReduceSum", [picked], keepdims=0)

    def __str__(self):
        return f"{'prob' if self.prob else 'class'}:{self.index}"


@dataclass(frozen=True, eq=False)
class L2Penalty(Objective):
    """``-lambda * sum((I - 0.5)^2)``: keeps pixels near grey (the lecture's L2 regulariser)."""

    weight: float = 1e-3

    def torch_value(self, acts, image, guide=None):
        return -self.weight * ((image - 0.5) ** 2).sum()

    def emit(self, g, acts, image):
        d = g.op("Sub", [image, g.const(np.float32(0.5))])
        total = g.op("ReduceSum", [g.op("Mul", [d, d])], keepdims=0)
        return g.op("Mul", [total, g.const(np.float32(-self.weight))])

    def __str__(self):
        return f"l2:{self.weight:g}"


@dataclass(frozen=True, eq=False)
class TVPenalty(Objective):
    """``-lambda * (mean (dI/dy)^2 + mean (dI/dx)^2)`` per image, summed over the batch."""

    weight: float = 1.0

    def torch_value(self, acts, image, guide=None):
        dy = image[:, :, 1:, :] - image[:, :, :-1, :]
        dx = image[:, :, :, 1:] - image[:, :, :, :-1]
        per = (dy * dy).flatten(1).mean(1) + (dx * dx).flatten(1).mean(1)
        return -self.weight * per.sum()

    def emit(self, g, acts, image):
        big = g.const([2**62])
        total = None
        for axis in (2, 3):
            ax = g.const([axis])
            hi = g.op("Slice", [image, g.const([1]), big, ax])
            lo = g.op("Slice", [image, g.const([0]), g.const([-1]), ax])
            d = g.op("Sub", [hi, lo])
            term = _batch_sum_of_means(g, g.op("Mul", [d, d]), 4)
            total = term if total is None else g.op("Add", [total, term])
        return g.op("Mul", [total, g.const(np.float32(-self.weight))])

    def __str__(self):
        return f"tv:{self.weight:g}"


@dataclass(frozen=True, eq=False)
class GuideObjective(Objective):
    """Guided dreaming: mean over positions of max_k <x_p, guide_k> (google/deepdream's objective_guide).

    Its gradient at each position is the guide feature that matches it best. The guide features (C, K), taken from
    the guide image at the same layer, are the graph input ``guide``.
    """

    layer: str

    def layers(self):
        return (self.layer,)

    def needs_guide(self):
        return self.layer

    def torch_value(self, acts, image, guide=None):
        if guide is None:
            raise ObjectiveError(NEEDS_GUIDE)
        # (K, C) @ (N, C, HW): no transposed view of the activations, whose gradient would reach the network
        # non-contiguous (see TorchBackend.gradient).
        scores = guide.transpose(0, 1) @ acts[self.layer].flatten(2)  # N, K, HW
        return scores.amax(1).mean(1).sum()

    def emit(self, g, acts, image):
        x = g.op("Reshape", [acts[self.layer], g.const([0, 0, -1])])
        x = g.op("Transpose", [x], perm=[0, 2, 1])
        scores = g.op("MatMul", [x, GUIDE_INPUT])
        best = g.op("ReduceMax", [scores], axes=[2], keepdims=0)
        return g.op("ReduceSum", [g.op("ReduceMean", [best], axes=[1], keepdims=0)], keepdims=0)

    def __str__(self):
        return f"guide:{shown_name(self.layer)}"


def guide_features(acts: torch.Tensor) -> torch.Tensor:
    """(1, C, H, W) guide-image activations -> the (C, H*W) matrix the guide objective takes."""
    return acts[0].flatten(1)


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


# A tensor name holding a character the grammar uses (tf2onnx's "conv-1:0", torch's "onnx::Relu_5") is written in
# brackets: [conv-1:0]:3
_GRAMMAR_CHARS = re.compile(r"[:+\-*@,\[\]\s]")


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


def shown_name(layer: str) -> str:
    """A layer or tensor name as an objective spec writes it: in brackets where it holds a character of the
    grammar."""
    return f"[{layer}]" if _GRAMMAR_CHARS.search(layer) else layer


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
            cut = [n for n in self.table if _GRAMMAR_CHARS.search(n) and n.startswith(name)]
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

    def class_index(self, text: str, term: str) -> int:
        index, classes = int(text), self.table[self.logits][0]
        if index < 0:
            raise ObjectiveError(f"class {index} in {term!r} must be >= 0: {self.name} has {classes} classes "
                                 f"(0..{classes - 1})")
        if index >= classes:
            raise ObjectiveError(f"class {index} in {term!r} is out of range: {self.name} has {classes} classes "
                                 f"(0..{classes - 1})")
        return index


def _class_term(head: str, rest: str, body: str, ctx: _Context) -> ClassObjective:
    if ctx.logits is None:
        raise ObjectiveError(f"{body!r}: {ctx.name} has no known logits layer; {ctx.no_logits_hint}")
    if _INTEGER.match(rest.strip()):
        index = ctx.class_index(rest, body)
    else:
        index = _class_by_name(rest.replace("_", " "), body, ctx)
    return ClassObjective(ctx.logits, index, prob=head == "prob")


def _class_by_name(name: str, body: str, ctx: _Context) -> int:
    """The exact name first, else the one name that matches ignoring case ('Dragonfly'); ImageNet has both
    'Cardigan' (the corgi) and 'cardigan' (the sweater), so a case-only match of two is an error, not a guess."""
    if name in ctx.categories:
        return ctx.categories.index(name)
    folded = [i for i, c in enumerate(ctx.categories) if c.casefold() == name.casefold()]
    if len(folded) > 1:
        choices = ", ".join(f"{ctx.categories[i]!r} ({i})" for i in folded)
        raise ObjectiveError(f"class {name!r} in {body!r} matches {choices} except for case: spell it exactly, "
                             f"or give the number")
    if not folded:
        raise UnknownNameError(f"class of {ctx.name} (in {body!r})", name, ctx.categories)
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


@dataclass(frozen=True, eq=False)
class BatchChannelObjective(Objective):
    """Batched atlases: image ``i`` of the batch maximises its own channel ``c_i`` of ``layer``.

    Value ``sum_i mean(A[i, c_i])`` (a dense layer's unit for rank 2, e.g. a class logit). The channel of each image
    is not baked into the graph: it comes as a one-hot selection matrix ``S`` of shape (C, N) (``S[c_i, i] = 1``)
    through the ``guide`` graph input, so one graph serves every batch of channels;
    value = ``sum(mean_hw(A) * S^T)``. Build ``S`` with :meth:`selection`.
    """

    layer: str
    channels: int
    rank: int = 4

    def layers(self):
        return (self.layer,)

    def needs_guide(self):
        return self.layer

    def selection(self, units: list[int]) -> np.ndarray:
        """The (C, N) one-hot matrix that gives image ``i`` the unit ``units[i]``."""
        s = np.zeros((self.channels, len(units)), np.float32)
        for i, c in enumerate(units):
            if not 0 <= c < self.channels:
                raise ObjectiveError(f"channel {c} is out of range: {self.layer} has {self.channels} channels (0..{self.channels - 1})")
            s[c, i] = 1.0
        return s

    def torch_value(self, acts, image, guide=None):
        if guide is None:
            raise ObjectiveError(f"{self}: the per-image channel selection (guide input) is missing")
        a = acts[self.layer]
        means = a.flatten(2).mean(2) if a.dim() > 2 else a
        return (means * guide.t()).sum()

    def emit(self, g, acts, image):
        a = acts[self.layer]
        means = g.op("ReduceMean", [a], axes=list(range(2, self.rank)), keepdims=0) if self.rank > 2 else a
        picked = g.op("Mul", [means, g.op("Transpose", [GUIDE_INPUT], perm=[1, 0])])
        return g.op("ReduceSum", [picked], keepdims=0)

    def __str__(self):
        return f"{self.layer}:<per-image channel>"
