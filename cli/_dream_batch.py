"""`vis dream FOLDER -o OUTDIR`: every still image of a folder dreamed with one model (built once), into a folder
of the same shape. An image that cannot be dreamed is skipped and said; what was written stays on Ctrl-C."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from vis._text import counted
from vis.cli._dream_setup import DreamSetup
from vis.errors import InputFileError, Interrupted, OutputExistsError, OutputPathError, VisError


@dataclass
class FolderPlan:
    """What a folder run will do.

    Attributes:
        pairs: (image, the file its dream is written to), in the order they are dreamed (sorted by path).
        others: files of the folder that are not still images (videos, animations, anything else), left alone.
    """

    folder: Path
    output: Path
    pairs: list[tuple[Path, Path]] = field(default_factory=list)
    others: list[Path] = field(default_factory=list)


def plan_folder(folder: Path, output: Optional[Path], overwrite: bool) -> FolderPlan:
    """The images under ``folder`` (recursively) and where each dream goes: the same path under ``output``, with the
    same suffix where vis writes it (.png otherwise). Fails before any work on an output that is no folder, on one
    that would mix with the input, and on outputs that exist (unless ``overwrite``).

    Raises:
        VisError: the output is missing, a file, or the input folder; the folder holds no still image.
        OutputExistsError: some outputs exist and ``overwrite`` is not set.
    """
    from vis.engine._images import check_output
    from vis.engine._video import is_image_path, is_video_path

    if output is None:
        raise VisError(f"a folder input needs -o OUTPUT_FOLDER: each image of {folder} is dreamed into it under its "
                       "own name")
    if output.exists() and not output.is_dir():
        raise VisError(f"{output} is a file: a folder input writes a folder of images, so name a folder with -o")
    if not output.exists() and (is_image_path(output) or is_video_path(output)):
        raise VisError(f"a folder input writes a folder of images, not {output.suffix}: name a folder with -o "
                       f"(e.g. {output.with_suffix('')})")
    if output.resolve() == folder.resolve():
        raise VisError(f"-o {output} is the input folder: the dreams would replace the photos; choose another folder")
    plan = FolderPlan(folder, output)
    for path in _files_under(folder, leave_out=output):
        if _is_still(path):
            plan.pairs.append((path, _output_for(path.relative_to(folder), folder, output, plan.pairs)))
        else:
            plan.others.append(path)
    if not plan.pairs:
        raise InputFileError(f"{folder} holds no still image to dream ({_others_text(plan.others)})")
    existing = [out for _, out in plan.pairs if out.exists()]
    if existing and not overwrite:
        names = ", ".join(str(p.relative_to(output)) for p in existing[:3]) + (", ..." if len(existing) > 3 else "")
        raise OutputExistsError(f"{output} already holds {len(existing)} of the {counted(len(plan.pairs), 'dream')} "
                                f"({names}); pass --overwrite to replace them, or choose another -o")
    for _, out in plan.pairs:
        check_output(out, overwrite=True)  # writable, its folders made: a wrong place fails before any work
    return plan


def _files_under(folder: Path, leave_out: Path) -> list[Path]:
    """Every file under ``folder``, sorted, but those under ``leave_out`` (an output folder inside the input: a
    second run must not dream the first one's dreams) and hidden ones (.DS_Store, a partial write)."""
    inside = leave_out.resolve()
    found = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if not path.is_file() or any(part.startswith(".") for part in rel.parts):
            continue
        if path.resolve().is_relative_to(inside):
            continue
        found.append(path)
    return found


def _is_still(path: Path) -> bool:
    """An image by its suffix that is not an animation (an animated GIF is dreamed as a video, on its own)."""
    from vis.engine._animated import is_animated

    return _is_image_suffix(path) and not is_animated(path)


def _output_for(rel: Path, folder: Path, output: Path, taken: list[tuple[Path, Path]]) -> Path:
    """``rel`` under ``output``: its own suffix where vis writes it, else .png, with the old suffix kept in the name
    where that would meet another image (a.gif beside a.png)."""
    from vis.engine._images import IMAGE_SUFFIXES

    if rel.suffix.lower() in IMAGE_SUFFIXES:
        return output / rel
    png = rel.with_suffix(".png")
    if (folder / png).exists() or output / png in {out for _, out in taken}:
        png = rel.with_name(rel.name + ".png")
    return output / png


def _others_text(others: list[Path]) -> str:
    """``2 videos or animations, 1 other file``: what a folder holds besides still images."""
    from vis.engine._video import is_video_path

    if not others:
        return "it is empty"
    moving = sum(is_video_path(p) or _is_image_suffix(p) for p in others)  # an image suffix here is an animation
    parts = [counted(moving, "video or animation", "videos or animations")] if moving else []
    parts += [counted(len(others) - moving, "other file")] if len(others) > moving else []
    return ", ".join(parts)


def _is_image_suffix(path: Path) -> bool:
    from vis.engine._images import READ_IMAGE_SUFFIXES

    return path.suffix.lower() in READ_IMAGE_SUFFIXES


def folder_summary(plan: FolderPlan) -> str:
    """What the run will dream and leave alone, before it starts."""
    left = ""
    if plan.others:
        left = (f"; left alone: {_others_text(plan.others)} (a video or an animated image is dreamed on its own: "
                "vis dream FILE -o OUT.mp4)")
    return f"{plan.folder}: {counted(len(plan.pairs), 'image')} to dream into {plan.output}{left}"


def run_folder(setup: DreamSetup, plan: FolderPlan, dream_one: Callable[[Any, Path], None],
               check_image: Callable[[Any], None], quiet: bool = False) -> tuple[int, list[str]]:
    """Dream each planned image with ``dream_one(picture, output)``, after ``check_image(picture)`` (a picture too
    small, or a neuron outside its maps, is skipped with the reason). Returns (images written, what was skipped).

    Raises:
        Interrupted: Ctrl-C; the images written so far stay, the one under way is not written.
    """
    from vis.engine import load_image

    written, skipped = 0, []
    start = time.perf_counter()
    try:
        for index, (path, out) in enumerate(plan.pairs):
            try:
                picture = load_image(path)
                check_image(picture)
            except (VisError, OSError) as e:  # unreadable, too small, a permission: the others go on
                reason = e.strerror if isinstance(e, OSError) and e.strerror else e
                skipped.append(f"{path.relative_to(plan.folder)}: {reason}")
                typer.echo(f"skipped {skipped[-1]}")
                continue
            if not quiet:
                typer.echo(f"[{index + 1}/{len(plan.pairs)}] {path}{_eta(start, index, len(plan.pairs))}", err=True)
            dream_one(picture, out)
            written += 1
            typer.echo(f"wrote {out}")
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted: {plan.output} holds the {counted(written, 'dream')} written so far "
                          f"(of {len(plan.pairs)})") from None
    except OutputPathError as e:  # a full disk: the images before stay whole
        raise OutputPathError(f"{e}; {plan.output} holds the {counted(written, 'dream')} written before") from None
    return written, skipped


def _eta(start: float, done: int, total: int) -> str:
    """Time left at the mean time per image so far (none before the first is done)."""
    if not done:
        return ""
    left = int((time.perf_counter() - start) / done * (total - done))
    return f"  (ETA {left // 3600}:{left // 60 % 60:02d}:{left % 60:02d})"


def dream_folder(setup: DreamSetup, plan: FolderPlan, config: Any, max_size: Optional[int], seed: int,
                 quiet: bool) -> str:
    """Run :func:`run_folder` as `vis dream` dreams one image (each with ``seed``); returns the closing line."""
    from vis.cli._dream_checks import network_inputs
    from vis.cli._dream_runs import run_image
    from vis.cli._dream_setup import check_positions

    def dream_one(picture: Any, out: Path) -> None:
        run_image(setup, picture, out, config, max_size, seed, overwrite=True, quiet=quiet)

    def check_image(picture: Any) -> None:
        sizes = network_inputs("image", picture.shape[:2], max_size, 0, config, None)
        check_positions(setup.objective, setup.model_name, sizes)

    written, skipped = run_folder(setup, plan, dream_one, check_image, quiet)
    left = f"; skipped {counted(len(skipped), 'image')} (said above)" if skipped else ""
    return f"wrote {counted(written, 'dream')} of {counted(len(plan.pairs), 'image')} into {plan.output}{left}"
