"""A dream's model, objective and backend, built from names: the default model, the guided objective, the guide
image checked, and everything a user can get wrong refused before the weights load."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from vis.errors import InputFileError, UnknownNameError, VisError

if TYPE_CHECKING:
    import numpy as np

    from vis.engine._backend import Backend


@dataclass
class DreamSetup:
    """What a dream runs with.

    Attributes:
        model_name: the registry name of the model (``googlenet``).
        weights: the name of its weights (``imagenet``, ``random``).
        objective: the parsed objective (guided when a guide image was given).
        backend: the backend that takes the ascent steps.
    """

    model_name: str
    weights: str
    objective: Any
    backend: Backend


def default_model() -> tuple[str, str | None]:
    """GoogLeNet when its ImageNet weights are here, otherwise EfficientNet-Lite0 (real weights ship offline), and a
    note saying so in the second case."""
    from vis.models import model_spec

    if model_spec("googlenet").pretrained.available_locally():
        return "googlenet", None
    return "efficientnet_lite0", ("note: GoogLeNet's ImageNet weights are not here; dreaming with EfficientNet-Lite0 "
                                  "(real ImageNet weights). Pick another with --model/--weights.")


def check_positions(obj: Any, model: str, input_sizes: Sequence[tuple[int, int]]) -> None:
    """Refuse a neuron position outside its layer's map at any of the (h, w) ``input_sizes`` the network will see
    (ORT would dream a zero objective there, torch would fail).

    Raises:
        ObjectiveError: a position lies outside its map at the smallest of ``input_sizes``.
    """
    from vis.exporters._objective_spec import check_neuron_positions
    from vis.exporters._objectives import ObjectiveError

    try:
        check_neuron_positions(obj, model, sorted(input_sizes, key=lambda hw: (hw[0] * hw[1], hw)))
    except ObjectiveError as e:
        raise ObjectiveError(f"{e} (a dream feeds the network every octave and tile of the image; this is the "
                             "smallest: pick a position inside its map, or use fewer --octaves or a larger "
                             "--tile)") from None


def check_any_size(obj: Any, model: str, backend: str) -> None:
    """Refuse an objective that reads a layer behind a fixed-size classifier (VGG-19's avgpool, fc6-fc8, classes) on
    the ort backend: its ONNX graph takes the canonical size only, and a dream feeds every octave and tile at its own
    size. Torch's adaptive pooling takes any size, so the torch backend dreams it.

    Raises:
        DreamError: such an objective with ``backend`` ort.
    """
    from vis.engine._dream import DreamError
    from vis.models import layer_table, model_spec

    spec = model_spec(model)
    layers = list(obj.layers())
    if backend == "torch" or spec.dynamic_size(layers):
        return
    names = [row.name for row in layer_table(model)]
    last_free = names[names.index(spec.fixed_size_from) - 1]
    fixed = [layer for layer in layers if not spec.dynamic_size([layer])]
    crop = spec.preprocessing.crop
    raise DreamError(f"{', '.join(fixed)} of {model} takes {crop}x{crop} inputs only on the ort backend (the "
                     "classifier has a fixed input size), and a dream feeds the network every octave and tile at its "
                     f"own size: dream a layer up to {last_free} (e.g. --objective {spec.default_layer}), or this "
                     "objective with --backend torch")


def _no_note(text: str) -> None:
    """The default of ``on_note``: notes are dropped."""


def prepare_dream(model: Optional[str], weights: Optional[str], objective: Optional[str], guide: Optional[Path],
                  backend: str, provider: str, threads: int, guide_size: Optional[int], *,
                  loop: str = "auto", cuda_graph: bool = False, input_sizes: Sequence[tuple[int, int]] = (),
                  min_size: int = 32, read_guide: Optional[Callable[[Path], np.ndarray]] = None,
                  on_note: Callable[[str], None] = _no_note) -> DreamSetup:
    """Model, objective (guided when ``guide`` is given) and backend.

    Everything that can be checked without the weights is checked first, so that a typo costs no model load: the
    model takes colour images, the objective parses, its neuron positions fit, the guide image reads and is large
    enough.

    Args:
        model: the model's name; ``None`` (with no weights or ImageNet's) picks :func:`default_model`.
        weights: the weights' name (``None``: ``imagenet``).
        objective: the objective's text (``None``: the model's dream layer, or its guide layer with ``guide``); with
            ``guide``, a plain layer name is the layer pulled toward the guide's features.
        guide: a guide image, dreamed toward.
        backend, provider, threads, loop, cuda_graph: as :func:`vis.engine.make_backend` takes them.
        guide_size: the long side the guide is seen at (``None``: ``GUIDE_SIDE``).
        input_sizes: the (h, w) inputs the run will feed the network; a neuron position outside its layer's map at
            any of them is refused (see :func:`check_positions`).
        min_size: the smallest side the network may see; a guide seen smaller is refused, as a dreamed image is.
        read_guide: reads the guide image (HxWx3 float RGB); :func:`vis.engine.load_image` when ``None``.
        on_note: told what the user should know (the default model chosen for them).

    Raises:
        VisError: a grey model, an objective that does not parse or fit, a missing or unreadable guide (as
            :class:`InputFileError`), weights that cannot be had.
    """
    from vis.engine import make_backend
    from vis.engine._dream import guide_features_of
    from vis.models import get_model

    chosen_for_user = model is None and weights in (None, "imagenet")
    if chosen_for_user:
        model, note = default_model()
        if note:
            on_note(note)
    model = model or "googlenet"
    weights = weights or "imagenet"
    obj, spec_text = _dream_objective(model, objective, guide, chosen_for_user)
    check_any_size(obj, model, backend)
    check_positions(obj, model, input_sizes)
    guide_image = None
    if obj.needs_guide():
        if guide is None:
            raise VisError(f"objective {spec_text} needs a guide image: pass --guide IMAGE")
        guide_image = _checked_guide(guide, read_guide, guide_size, min_size)
    net = get_model(model, weights)
    guide_feats = None if guide_image is None else guide_features_of(net, obj.needs_guide(), guide_image, guide_size)
    be = make_backend(backend, model, net, obj, provider=provider, threads=threads, guide=guide_feats, weights=weights,
                      loop=loop, cuda_graph=cuda_graph)
    return DreamSetup(model, weights, obj, be)


def _dream_objective(model: str, objective: Optional[str], guide: Optional[Path],
                     chosen_for_user: bool) -> tuple[Any, str]:
    """The parsed objective and its text: ``objective``, or the model's default (its guide layer with a guide),
    guided when ``guide`` is given. Parsed before the weights load, so a typo fails at once.

    Raises:
        DreamError: a grey model.
        VisError: a guided objective that is no plain layer; an unknown layer, which names the default model when
            vis chose it (``chosen_for_user``): the user most likely had another model's layers in mind.
    """
    from vis.engine._dream import check_dreamable
    from vis.exporters import parse_objective
    from vis.models import model_spec

    spec = model_spec(model)
    check_dreamable(model)
    default = spec.guide_layer or spec.default_layer if guide is not None else spec.default_layer
    spec_text = default if objective is None else objective  # "" reaches the parser, which refuses it
    if guide is not None and "guide:" not in spec_text:  # a plain layer name is the layer to guide
        if not re.fullmatch(r"[\w.]+", spec_text):
            raise VisError(f"--guide pulls one whole layer toward the guide image's features: give --objective LAYER "
                           f"(e.g. {spec.default_layer}), not {spec_text!r}")
        spec_text = f"guide:{spec_text}"
    try:
        return parse_objective(spec_text, model), spec_text
    except UnknownNameError as e:
        if chosen_for_user and objective is not None:
            raise VisError(f"{e} ({model} is the default model here; name another with -m, e.g. -m googlenet "
                           "-w random for GoogLeNet's layers with random weights)") from None
        raise


def _checked_guide(guide: Path, read_guide: Optional[Callable[[Path], np.ndarray]], guide_size: Optional[int],
                   min_size: int) -> np.ndarray:
    """The guide image, read by ``read_guide`` (or :func:`vis.engine.load_image`).

    Raises:
        InputFileError: it cannot be read, or seen at ``guide_size`` it is smaller than ``min_size`` on a side.
    """
    from vis.engine._dream import GUIDE_SIDE
    from vis.engine._images import fitted_size, load_image

    try:
        image = (read_guide or load_image)(guide)
    except InputFileError as e:
        raise InputFileError(f"--guide: {e}") from None
    # the guide is seen at most guide_size (GUIDE_SIDE) long: that size must feed the network too
    (h, w), (sh, sw) = image.shape[:2], fitted_size(image.shape[:2], guide_size or GUIDE_SIDE)
    if min(sh, sw) < min_size:
        side = f"--max-size {guide_size}" if guide_size else f"{GUIDE_SIDE} px long"
        seen = f", seen at {sw}x{sh} ({side})" if (sh, sw) != (h, w) else ""
        raise InputFileError(f"--guide {guide} is {w}x{h} px{seen}: a guide needs at least {min_size} px a side, "
                             "as a dreamed image does")
    return image
