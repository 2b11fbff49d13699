"""`vis dream`'s model, objective and backend, built as the options ask (the objective checked before the weights
load)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import typer

from vis.cli._stills import read_still
from vis.errors import InputFileError, UnknownNameError, VisError


def default_model() -> tuple[str, str | None]:
    """GoogLeNet when its ImageNet weights are here, otherwise EfficientNet-Lite0 (real weights ship offline)."""
    from vis.models import model_spec

    if model_spec("googlenet").pretrained.available_locally():
        return "googlenet", None
    return "efficientnet_lite0", ("GoogLeNet's ImageNet weights are not here; dreaming with EfficientNet-Lite0 "
                                  "(real ImageNet weights). Pick another with --model/--weights.")



@dataclass
class DreamSetup:
    model_name: str
    weights: str
    objective: Any
    backend: Any


def check_positions(obj: Any, model: str, input_sizes: Sequence[tuple[int, int]]) -> None:
    """Refuse a neuron position outside its layer's map at any of the (h, w) ``input_sizes`` the network will see
    (ORT would dream a zero objective there, torch would fail)."""
    from vis.exporters._objectives import ObjectiveError, check_neuron_positions

    try:
        check_neuron_positions(obj, model, sorted(input_sizes, key=lambda hw: (hw[0] * hw[1], hw)))
    except ObjectiveError as e:
        raise ObjectiveError(f"{e} (a dream feeds the network every octave and tile of the image; this is the "
                             "smallest: pick a position inside its map, or use fewer --octaves or a larger --tile)") from None


def build_setup(model: Optional[str], weights: Optional[str], objective: Optional[str], guide: Optional[Path],
                backend: str, provider: str, threads: int, guide_size: Optional[int], *,
                loop: str = "auto", cuda_graph: bool = False,
                input_sizes: Sequence[tuple[int, int]] = (), min_size: int = 32) -> DreamSetup:
    """Model, objective (guided when ``guide`` is given) and backend, as the options ask.

    ``input_sizes``: the (h, w) inputs the run will feed the network; a neuron position outside its layer's map at
    any of them is refused before the weights load (ORT would dream a zero objective there, torch would fail).
    ``min_size``: the smallest side the network may see; a guide seen smaller is refused, as a dreamed image is.
    """
    from vis.engine import make_backend
    from vis.engine._dream import GUIDE_SIDE, check_dreamable, guide_features_of
    from vis.engine._images import fitted_size
    from vis.exporters import parse_objective
    from vis.models import get_model, model_spec

    chosen_for_user = model is None and weights in (None, "imagenet")
    if chosen_for_user:
        model, note = default_model()
        if note:
            typer.echo(note)
    model = model or "googlenet"
    weights = weights or "imagenet"
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
        obj = parse_objective(spec_text, model)  # before the weights load: a typo fails at once
    except UnknownNameError as e:  # most likely a layer of the model the user had in mind
        if chosen_for_user and objective is not None:
            raise VisError(f"{e} ({model} is the default model here; name another with -m, e.g. -m googlenet "
                           "-w random for GoogLeNet's layers with random weights)") from None
        raise
    check_positions(obj, model, input_sizes)
    guide_image = None
    if obj.needs_guide():
        if guide is None:
            raise VisError(f"objective {spec_text} needs a guide image: pass --guide IMAGE")
        try:
            guide_image = read_still(guide, "--guide")
        except InputFileError as e:
            raise InputFileError(f"--guide: {e}") from None
        # the guide is seen at most guide_size (GUIDE_SIDE) long: that size must feed the network too
        (h, w), (sh, sw) = guide_image.shape[:2], fitted_size(guide_image.shape[:2], guide_size or GUIDE_SIDE)
        if min(sh, sw) < min_size:
            side = f"--max-size {guide_size}" if guide_size else f"{GUIDE_SIDE} px long"
            seen = f", seen at {sw}x{sh} ({side})" if (sh, sw) != (h, w) else ""
            raise InputFileError(f"--guide {guide} is {w}x{h} px{seen}: a guide needs at least {min_size} px a side, "
                                 "as a dreamed image does")
    net = get_model(model, weights)
    guide_feats = None if guide_image is None else guide_features_of(net, obj.needs_guide(), guide_image, guide_size)
    be = make_backend(backend, model, net, obj, provider=provider, threads=threads, guide=guide_feats, weights=weights,
                      loop=loop, cuda_graph=cuda_graph)
    return DreamSetup(model, weights, obj, be)

