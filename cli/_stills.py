"""Reading the pictures a command takes (predict, features, saliency, cam, style, a dream's guide)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer

from vis.errors import InputFileError, VisError


def read_still(path: Path, role: str = "", model: str | None = None) -> np.ndarray:
    """:func:`vis.engine.load_image`, saying on stderr (stdout may be JSON) when the file is an animation, of which
    only the first frame is read, and when ``model`` learned light digits on dark (MNIST) and the picture is mostly
    light. ``role`` names the option it came from (``--guide``)."""
    from vis.engine import load_image
    from vis.engine._animated import is_animated
    from vis.models import model_spec

    try:
        picture = load_image(path)
    except InputFileError:
        if _is_video(path):
            raise InputFileError(f"{path} is a video: this command reads still images") from None
        raise
    if is_animated(path):
        typer.echo(f"note: {role + ' ' if role else ''}{path} is animated: only its first frame is used", err=True)
    if model is not None and model_spec(model).preprocessing.light_on_dark and picture.mean() > 0.5:
        typer.echo(f"note: {model} learned light digits on a dark ground (MNIST), and {path} is mostly light: "
                   "answers for dark digits on white mean little; invert the image", err=True)
    return picture


def read_stills(paths: list[Path], model: str) -> tuple[list[Path], list[np.ndarray], list[tuple[Path, str]]]:
    """(the paths read, their pictures, (path, why not) of the others, each said on stderr when several were given:
    one path given is the command's own error). A larger picture is kept at the size ``model``'s evaluation
    transform shrinks it to first, not its own: a hundred phone photos held whole are 14 GB."""
    from vis.models import model_spec, shrunk_for_evaluation

    pre = model_spec(model).preprocessing
    readable, pictures, skipped = [], [], []
    for path in paths:
        try:
            pictures.append(shrunk_for_evaluation(read_still(path, model=model), pre))
            readable.append(path)
        except InputFileError as e:
            skipped.append((path, str(e)))
            if len(paths) > 1:
                typer.echo(f"skipped: {e}", err=True)
    return readable, pictures, skipped


def none_read(given: list[Path], skipped: list[tuple[Path, str]]) -> InputFileError:
    """The error when no image of ``given`` could be read: the file's own where only one was given."""
    return InputFileError(skipped[0][1] if len(given) == 1 else
                          f"none of the {len(given)} images could be read (said above)")


def refuse_skipped(given: list[Path], skipped: list[tuple[Path, str]]) -> None:
    """After the outputs are written: images of ``given`` that could not be read are in the exit code (a script
    sees them there, the user in the lines :func:`read_stills` printed)."""
    if skipped:
        raise VisError(f"{len(skipped)} of the {len(given)} images could not be read (said above)")


def _is_video(path: Path) -> bool:
    """Whether a file that is no readable still is a video: named as one and opening as one (a garbled .mp4 is not)."""
    from vis.engine._media_kinds import is_video_path, sniff_kind

    try:
        return path.is_file() and is_video_path(path) and sniff_kind(path) == "video"
    except (InputFileError, OSError):
        return False
