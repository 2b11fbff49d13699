"""`vis dream --demo`: scikit-learn's sample photo dreamed with EfficientNet-Lite0's real weights; needs no
download."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer

from vis.cli._dream_runs import run_image, run_zoom
from vis.cli._dream_setup import build_setup
from vis.engine._bench import peak_memory_mib
from vis.errors import OutputExistsError, VisError

DEMO_DIR = Path("vis-out")


def demo_outputs(output: Optional[Path]) -> tuple[Path, Path, bool]:
    """The demo's image and zoom-video paths for ``-o``, and whether the user named them.

    A folder (or nothing: ``vis-out/``) gets ``dream-demo.jpg`` and ``dream-zoom-demo.mp4``; an image name gets the
    image with the video beside it as ``<stem>-zoom.mp4``; a video name gets the video with ``<stem>.jpg`` beside it.
    """
    from vis.engine._media_kinds import is_image_path, is_video_path

    named = output is not None and not output.is_dir()  # an existing folder stays a folder, whatever its name
    if named and is_image_path(output):
        return output, output.with_name(f"{output.stem}-zoom.mp4"), True
    if named and is_video_path(output):
        return output.with_suffix(".jpg"), output, True
    if named and output.suffix:
        raise VisError(f"--demo -o takes a folder, an image name (.jpg, .png, .webp, ...) or a video name (.mp4, "
                       f".mkv, .gif, ...), not {output}")
    folder = output or DEMO_DIR
    return folder / "dream-demo.jpg", folder / "dream-zoom-demo.mp4", False


RECORD = ".vis-demo.json"


def _stamp(path: Path) -> list[int]:
    status = path.stat()
    return [status.st_size, status.st_mtime_ns]


def _record_written(*paths: Path) -> None:
    """Note the size and time of the files the demo wrote into its folder, so that a later demo replaces them (and
    only them) without asking."""
    if paths:
        (paths[0].parent / RECORD).write_text(json.dumps({p.name: _stamp(p) for p in paths}))


def _written_by_demo(path: Path) -> bool:
    """``path`` is a file an earlier demo wrote and nobody has changed since."""
    try:
        return json.loads((path.parent / RECORD).read_text()).get(path.name) == _stamp(path)
    except (OSError, ValueError, AttributeError):
        return False


def run_demo(output: Optional[Path], backend: str, provider: str, threads: int, seed: Optional[int],
             overwrite: bool = False, quiet: bool = False) -> None:
    """Dream scikit-learn's sample photo with EfficientNet-Lite0's real weights: an image and a 12-frame zoom.

    The demo's own files in a folder are replaced on every run (with a line saying so), as long as they are the
    ones an earlier demo wrote (recorded in the folder's ``.vis-demo.json``); anything else, and file names the user
    chose, are replaced only with ``--overwrite``.
    """
    import sklearn.datasets

    from vis.engine import load_image
    from vis.engine._dream import DreamConfig
    from vis.engine._dream_report import image_summary, zoom_summary
    from vis.engine._images import check_output
    from vis.engine._video_sink import check_video_suffix

    t0 = time.perf_counter()
    photo = Path(sklearn.datasets.__file__).parent / "images" / "china.jpg"
    image_out, zoom_out, named = demo_outputs(output)
    if named:
        check_video_suffix(zoom_out)
        for path in (image_out, zoom_out):  # both checked before any work
            check_output(path, overwrite)
    else:
        theirs = [path for path in (image_out, zoom_out) if path.exists() and not _written_by_demo(path)]
        if theirs and not overwrite:
            raise OutputExistsError(f"{theirs[0]} exists and is not an output of an earlier demo (or was changed "
                                    "since); pass --overwrite to replace it, or choose another -o")
        if image_out.exists() or zoom_out.exists():
            typer.echo(f"overwriting the demo's earlier outputs in {image_out.parent}/")
    setup = build_setup("efficientnet_lite0", "imagenet", None, None, backend, provider, threads, None)
    typer.echo(f"demo: {photo.name} dreamed by efficientnet_lite0 (ImageNet weights) at {setup.objective}, {backend} backend")
    try:
        still = load_image(photo)
        _, size = run_image(setup, still, image_out, DreamConfig(octaves=4, iterations=8), 400, seed, overwrite=True,
                            quiet=quiet)
        typer.echo(image_summary(image_out, size, (still.shape[1], still.shape[0]), 400))
        n, written, dreamed, rate = run_zoom(setup, load_image(image_out), zoom_out, DreamConfig(octaves=2, iterations=3),
                                             12, 0.05, 12.0, 320, seed, overwrite=True, quiet=quiet)
        typer.echo(zoom_summary(zoom_out, n, written, dreamed, 0.05, 12.0, rate))
    finally:  # a demo stopped half way (Ctrl-C) records what it wrote, so the next demo may replace it
        if not named:
            _record_written(*(path for path in (image_out, zoom_out) if path.exists()))
    typer.echo(f"demo done in {time.perf_counter() - t0:.1f} s, peak memory {peak_memory_mib():.0f} MiB")
