"""The sizes a dream feeds the network, worked out before any work: to check neuron positions against every octave
and tile, to refuse an input too small to dream, and to say when an image has room for fewer octaves than asked."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from vis.errors import VisError

if TYPE_CHECKING:  # the CLI imports this module at start: no torch or OpenCV for that
    from vis.engine._dream import DreamConfig, VideoDreamConfig


def network_inputs(kind: str, input_shape: tuple[int, int], max_size: Optional[int], zoom_frames: int,
                   config: DreamConfig, video: Optional[VideoDreamConfig]) -> list[tuple[int, int]]:
    """The (h, w) inputs the network will see for an input of ``input_shape``: every octave (or tile) of the dreamed
    image (cropped to even sides for a zoom video), of the first video frame and of the later ones.

    Args:
        kind: ``image``, ``video`` or ``webcam``; a video's later frames are dreamed at ``video.later(config)``.
        input_shape: (h, w) of the input as read.
        max_size: the long side it is dreamed at most (``None``: its own size).
        zoom_frames: frames of a zoom video (0: a still image).

    Raises:
        VisError: the input, fitted to ``max_size``, is smaller than ``config.min_size`` on a side.
    """
    from vis.engine._dream import network_input_sizes
    from vis.engine._images import even_size, fitted_size

    shape = fitted_size(input_shape, max_size)
    if min(shape) < config.min_size:
        (h, w), (fh, fw) = input_shape, shape
        shrunk = f", and --max-size {max_size} makes it {fw}x{fh}" if shape != tuple(input_shape) else ""
        raise VisError(f"the {kind} is {w}x{h} px{shrunk}: a dream needs at least {config.min_size} px a side"
                       + (" (raise --max-size)" if shrunk and min(input_shape) >= config.min_size else ""))
    if kind == "image":
        return network_input_sizes(even_size(shape) if zoom_frames else shape, config)
    return network_input_sizes(shape, config) + network_input_sizes(shape, video.later(config))


def octaves_note(input_shape: tuple[int, int], max_size: Optional[int], config: DreamConfig) -> Optional[str]:
    """A note when the image has room for fewer octaves than ``config`` asks (each must keep ``min_size`` px a
    side), else ``None``."""
    from vis.engine._dream import octave_sizes
    from vis.engine._images import fitted_size

    shape = fitted_size(input_shape, max_size)  # network_inputs has refused a shape too small for one octave
    fits = len(octave_sizes(shape, config))
    if fits >= config.octaves:
        return None
    return (f"note: {shape[1]}x{shape[0]} px has room for {fits} of the {config.octaves} --octaves (at --octave-scale "
            f"{config.octave_scale:g} the next would be under {config.min_size} px a side); dreaming {fits}")


def host_loop_note(input_shape: tuple[int, int], max_size: Optional[int], config: DreamConfig) -> Optional[str]:
    """A note when ``--cuda-graph`` cannot capture this input: dreamed larger than a tile, it is tiled on the host
    loop, which CUDA graphs do not capture; else ``None``."""
    from vis.engine._images import fitted_size

    dreamed = max(fitted_size(input_shape, max_size))
    if dreamed <= config.tile:
        return None
    return (f"note: --cuda-graph captures the device loop, which dreams images of up to --tile {config.tile} px a "
            f"side; this one ({dreamed} px) is tiled on the host loop without CUDA graphs (--max-size or --tile to "
            "change)")
