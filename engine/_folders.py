"""The files a folder input stands for: the same rule for `vis dream FOLDER`, `vis patches` and `vis embed`; and
where `vis dream FOLDER -o OUTDIR` writes each image's dream, planned before any work."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from vis._text import counted, first_few
from vis.errors import InputFileError, OutputExistsError, VisError


@dataclass(frozen=True)
class FolderListing:
    """What one walk of a folder found.

    Attributes:
        files: every file, sorted, as paths below the folder.
        folders: (path below the folder, real path) of every folder entered, the folder itself first: what lies
            inside any of them, through a link too, is read as part of the folder.
        hidden: whether hidden files or folders were left out.
    """

    files: list[Path]
    folders: list[tuple[Path, Path]]
    hidden: bool


def list_folder(folder: Path) -> FolderListing:
    """The files and folders under ``folder``. Hidden files and folders are left out (.DS_Store, a partial write);
    linked folders are followed, each real folder once, so a link back up ends rather than loops."""
    seen = set()
    found, folders, hidden = [], [], False
    for root, dirs, names in os.walk(folder, followlinks=True):
        real_root = os.path.realpath(root)
        seen.add(real_root)
        folders.append((Path(root), Path(real_root)))
        hidden = hidden or any(name.startswith(".") for name in (*dirs, *names))
        kept = []
        for name in sorted(dirs):
            real = os.path.realpath(os.path.join(root, name))
            if name.startswith(".") or real in seen:
                continue
            seen.add(real)  # a second link to the same folder, met later in this walk, is not entered again
            kept.append(name)
        dirs[:] = kept
        found += (Path(root, name) for name in names if not name.startswith("."))
    return FolderListing(sorted(path for path in found if path.is_file()), folders, hidden)


def files_under(folder: Path) -> list[Path]:
    """The files of :func:`list_folder`."""
    return list_folder(folder).files


@dataclass
class FolderPlan:
    """What a folder run will do.

    Attributes:
        pairs: (image, the file its dream is written to), in the order they are dreamed (sorted by path).
        others: files of the folder that are not still images (videos, animations, anything else), left alone.
        kept: outputs that exist and are kept as they are (``--skip-existing``), their images not dreamed again.
        overwrite: outputs that exist are replaced; otherwise one that appears during the run (another run's) is
            kept too.
    """

    folder: Path
    output: Path
    pairs: list[tuple[Path, Path]] = field(default_factory=list)
    others: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)
    overwrite: bool = False


def plan_folder(folder: Path, output: Optional[Path], overwrite: bool, skip_existing: bool = False) -> FolderPlan:
    """The images under ``folder`` (recursively) and where each dream goes: the same path under ``output``, with the
    same suffix where vis writes it in colour (.png otherwise). Fails before any work on an output that is no
    folder or that overlaps the input, and on outputs that exist (unless ``overwrite``, or ``skip_existing``, which
    keeps them and leaves their images out).

    Raises:
        VisError: the output is missing, a file or overlaps the input; the folder holds no still image.
        OutputExistsError: some outputs exist, and neither ``overwrite`` nor ``skip_existing`` is set.
    """
    from vis.engine._images import check_output

    listing = list_folder(folder)  # walked once: for the output's place and for the images
    _check_output_folder(folder, output, listing.folders)
    plan = FolderPlan(folder, output, overwrite=overwrite)
    stills = []
    for path in listing.files:
        (stills if _is_still(path) else plan.others).append(path)
    if not stills:
        hint = f"; {_ON_ITS_OWN}" if any(map(_moves, plan.others)) else ""
        held = _others_text(plan.others) if plan.others else _no_file_text(listing)
        raise InputFileError(f"{folder} holds no still image to dream ({held}){hint}")
    plan.pairs = list(zip(stills, _outputs_for([p.relative_to(folder) for p in stills], output)))
    existing = [out for _, out in plan.pairs if out.exists()]
    if skip_existing:
        plan.kept, kept = existing, set(existing)
        plan.pairs = [(path, out) for path, out in plan.pairs if out not in kept]
    elif existing and not overwrite:
        names = first_few([str(p.relative_to(output)) for p in existing])
        held = f"{len(existing)} of the {len(plan.pairs)} outputs" if len(plan.pairs) > 1 else "the output"
        raise OutputExistsError(f"{output} already holds {held} ({names}); pass --overwrite to replace "
                                f"{'it' if len(existing) == 1 else 'them'}, --skip-existing to keep "
                                f"{'it' if len(existing) == 1 else 'them'} and dream the rest, or choose another -o")
    for _, out in plan.pairs:
        check_output(out, overwrite=True)  # writable, its folders made: a wrong place fails before any work
    return plan


def _check_output_folder(folder: Path, output: Optional[Path], walked: list[tuple[Path, Path]]) -> None:
    """An output folder apart from the input and the folders ``walked`` (see ``FolderListing.folders``) reads through
    links: inside, a later run would dream the dreams (or a subfolder's photos would be written over); around it, the
    dreams would mix with the input's own files."""
    from vis.engine._media_kinds import is_image_path, is_video_path

    if output is None:
        raise VisError(f"a folder input needs -o OUTPUT_FOLDER: each image of {folder} is dreamed into it under its "
                       "own name")
    if output.exists() and not output.is_dir():
        raise VisError(f"{output} is a file: a folder input writes a folder of images, so name a folder with -o")
    if not output.exists() and (is_image_path(output) or is_video_path(output)):
        raise VisError(f"a folder input writes a folder of images, not {output.suffix}: name a folder with -o "
                       f"(e.g. {output.with_suffix('')})")
    inside, around = output.resolve(), folder.resolve()
    beside = around.parent / f"{around.name}-dreams"
    if inside == around:
        raise VisError(f"-o {output} is the input folder: the dreams would replace the photos; choose another folder "
                       f"(e.g. {beside})")
    if inside.is_relative_to(around):
        raise VisError(f"-o {output} is inside the input folder {folder}: a later run would dream the dreams; choose a "
                       f"folder outside it (e.g. {beside})")
    if around.is_relative_to(inside):
        raise VisError(f"-o {output} holds the input folder {folder}: the dreams would mix with the input's files; "
                       f"choose a folder beside it (e.g. {beside})")
    linked = next((seen for seen, real in walked if inside.is_relative_to(real)), None)
    if linked is not None:  # a linked folder is read as part of the input: the next run would dream the dreams
        raise VisError(f"-o {output} is inside {linked}, which the input folder {folder} reads through a link: a "
                       f"later run would dream the dreams; choose a folder outside it (e.g. {beside})")


def _is_still(path: Path) -> bool:
    """An image by its suffix that is not an animation (an animated GIF is dreamed as a video, on its own)."""
    from vis.engine._animated import is_animated

    return _is_image_suffix(path) and not is_animated(path)


def _outputs_for(rels: list[Path], output: Path) -> list[Path]:
    """Each of ``rels`` under ``output``: with its own suffix where vis writes it in colour, else .png, and with the
    old suffix kept in the name (a.gif.png), then a number, where two would meet. Names meet regardless of case (a
    U.GIF beside a U.PNG; d.JPG beside D.jpg becomes d-2.JPG), as they do on macOS and Windows."""
    from vis.engine._images import GREY_ONLY_SUFFIXES, IMAGE_SUFFIXES

    # written as .png where the input's format is one vis does not write, or a grey-only one (no colour dream)
    kept_as_is = [r.suffix.lower() in IMAGE_SUFFIXES - GREY_ONLY_SUFFIXES for r in rels]
    owner: dict[str, int] = {}  # a name kept as is: the first input of it (D.jpg before d.JPG) keeps it
    for i, (rel, as_is) in enumerate(zip(rels, kept_as_is)):
        if as_is:
            owner.setdefault(str(rel).casefold(), i)
    taken = set(owner)
    names = []
    for i, (rel, as_is) in enumerate(zip(rels, kept_as_is)):
        if as_is and owner[str(rel).casefold()] == i:
            names.append(output / rel)
            continue
        if as_is:  # d.JPG after D.jpg: numbered, in its own format
            candidates = [rel.with_name(f"{rel.stem}-{n}{rel.suffix}") for n in range(2, len(rels) + 2)]
        else:
            candidates = [rel.with_suffix(".png"), rel.with_name(rel.name + ".png")]
            candidates += (rel.with_name(f"{rel.name}-{n}.png") for n in range(2, len(rels) + 2))
        rel = next(c for c in candidates if str(c).casefold() not in taken)
        taken.add(str(rel).casefold())
        names.append(output / rel)
    return names


def _others_text(others: list[Path]) -> str:
    """``2 videos or animations, 1 other file``: what a folder holds besides still images."""
    moving = sum(map(_moves, others))
    parts = [counted(moving, "video or animation", "videos or animations")] if moving else []
    parts += [counted(len(others) - moving, "other file")] if len(others) > moving else []
    return ", ".join(parts)


def _no_file_text(listing: FolderListing) -> str:
    """What a folder in which no file was listed holds: hidden ones (left out), empty folders, or nothing."""
    if listing.hidden:
        return "no file but hidden ones"
    return "the folder is empty" if len(listing.folders) <= 1 else "only empty folders"


def _moves(path: Path) -> bool:
    """A video, or an animation (an image suffix among the files that are not stills), by its suffix."""
    from vis.engine._media_kinds import is_video_path

    return is_video_path(path) or _is_image_suffix(path)


_ON_ITS_OWN = "a video or an animated image is dreamed on its own: vis dream FILE -o OUT.mp4"


def _is_image_suffix(path: Path) -> bool:
    from vis.engine._images import READ_IMAGE_SUFFIXES

    return path.suffix.lower() in READ_IMAGE_SUFFIXES


def folder_summary(plan: FolderPlan) -> str:
    """What the run will dream and leave alone, before it starts."""
    left = ""
    if plan.others:
        hint = f" ({_ON_ITS_OWN})" if any(map(_moves, plan.others)) else ""
        left = f"; left alone: {_others_text(plan.others)}{hint}"
    if plan.kept:
        left += f"; kept: {counted(len(plan.kept), 'dream')} already there (--skip-existing)"
    return f"{plan.folder}: {counted(len(plan.pairs), 'image')} to dream into {plan.output}{left}"
