"""Reading the one picture a command takes (predict, features, saliency, cam, style, a dream's guide)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer

from vis.errors import InputFileError


def read_still(path: Path, role: str = "") -> np.ndarray:
    """:func:`vis.engine.load_image`, saying on stderr (stdout may be JSON) when the file is an animation, of which
    only the first frame is read. ``role`` names the option it came from (``--guide``)."""
    from vis.engine import load_image
    from vis.engine._animated import is_animated
    from vis.engine._video import is_video_path

    try:
        picture = load_image(path)
    except InputFileError:
        if path.is_file() and is_video_path(path):
            raise InputFileError(f"{path} is a video: this command reads still images") from None
        raise
    if is_animated(path):
        typer.echo(f"note: {role + ' ' if role else ''}{path} is animated: only its first frame is used", err=True)
    return picture
