"""Objectives: what gradient ascent maximises, emitted as ONNX subgraphs or computed in torch.

Every objective is **maximised**. Objectives compose with ``+``, ``-`` and scalar ``*`` (after lucid's
``optvis/objectives.py``). Each knows the layers it reads, its torch value (the reference backend) and how to emit
its ONNX subgraph on named layer outputs. Values are summed over the batch, so each image's gradient is its own.

The strings that name them are read by :mod:`vis.exporters._objective_spec`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from vis._text import quoted_class
from vis.errors import VisError
from vis.exporters._graph import GraphBuilder

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

    def named(self, categories: Sequence[str]) -> str:
        """As ``str`` gives it, with the names of the classes it reads from ``categories`` (the model's)."""
        return str(self)

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

    def named(self, categories: Sequence[str]) -> str:
        return " + ".join(f"{w:g}*{o.named(categories)}" for w, o in self.parts)


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
            # (value and gradient 0), so callers check positions once the size is known (check_neuron_positions).
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

    def named(self, categories: Sequence[str]) -> str:
        return str(self) + quoted_class(categories, self.index)


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


# A tensor name holding a character the grammar uses (tf2onnx's "conv-1:0", torch's "onnx::Relu_5") is written in
# brackets: [conv-1:0]:3
GRAMMAR_CHARS = re.compile(r"[:+\-*@,\[\]\s]")


def shown_name(layer: str) -> str:
    """A layer or tensor name as an objective spec writes it: in brackets where it holds a character of the
    grammar."""
    return f"[{layer}]" if GRAMMAR_CHARS.search(layer) else layer


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
