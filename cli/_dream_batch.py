"""`vis dream FOLDER -o OUTDIR`: every still image of a folder dreamed with one model (built once), into a folder
of the same shape. An image that cannot be dreamed is skipped and said; what was written stays on Ctrl-C."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from vis._text import clock, counted
from vis.engine._dream_setup import DreamSetup
from vis.engine._folders import FolderPlan
from vis.errors import Interrupted, OutputAppearedError, OutputPathError, VisError


def run_folder(plan: FolderPlan, dream_one: Callable[[Any, Path], None], check_image: Callable[[Any], None],
               quiet: bool = False) -> tuple[int, list[str]]:
    """Dream each planned image with ``dream_one(still, output)`` (``still``: the image as read, with its alpha and
    depth), after ``check_image(picture)`` (a picture too small, or a neuron outside its maps, is skipped with the
    reason). Returns (images written, what was skipped).

    Raises:
        Interrupted: Ctrl-C; the images written so far stay, the one under way is not written.
        OutputPathError: a write failed (a full disk); the images written before stay.
    """
    from vis.engine._images import load_image_alpha

    written, skipped = 0, []
    start = time.perf_counter()
    try:
        for index, (path, out) in enumerate(plan.pairs):
            if not plan.overwrite and out.exists():  # written since the plan was made: two runs into one folder
                plan.kept.append(out)
                typer.echo(f"kept {out}: written since this run began (by another run?)")
                continue
            try:
                still = load_image_alpha(path)
                check_image(still.rgb)
            except (VisError, OSError) as e:  # unreadable, too small, a permission: the others go on
                reason = e.strerror if isinstance(e, OSError) and e.strerror else e
                skipped.append(f"{path.relative_to(plan.folder)}: {reason}")
                typer.echo(f"skipped {skipped[-1]}")
                continue
            if not quiet:
                typer.echo(f"[{index + 1}/{len(plan.pairs)}] {path}{_eta(start, index, len(plan.pairs))}", err=True)
            try:
                dream_one(still, out)
            except OutputAppearedError as e:  # written while this one was dreamed
                written += 1
                plan.kept.append(out)
                typer.echo(f"kept {out}: written since this run began (by another run?); this dream is in {e.kept_in}")
            else:
                written += 1  # before the line saying so: a Ctrl-C just after that line counts this dream
                typer.echo(f"wrote {out}")
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted; {_kept_note(plan, written)}") from None
    except OutputPathError as e:  # a full disk: the images before stay whole
        raise OutputPathError(f"{e}; {_kept_note(plan, written)}") from None
    return written, skipped


def _kept_note(plan: FolderPlan, written: int) -> str:
    """What a run that stopped leaves: the dreams written (and how to go on from there)."""
    if not written:
        return "no dream was written"
    return f"{written} of the {len(plan.pairs)} dreams written to {plan.output}; --skip-existing goes on from there"


def _eta(start: float, done: int, total: int) -> str:
    """Time left at the mean time per image so far (none before the first is done)."""
    if not done:
        return ""
    return f"  (ETA {clock((time.perf_counter() - start) / done * (total - done))})"


def dream_folder(setup: DreamSetup, plan: FolderPlan, config: Any, max_size: Optional[int], seed: int,
                 quiet: bool, octaves_given: bool = False) -> str:
    """Run :func:`run_folder` as `vis dream` dreams one image (each with ``seed``); returns the closing line.

    Raises:
        VisError: some images were not dreamed (each said as it came); the others were.
    """
    from vis.cli._dream_runs import run_image
    from vis.engine._dream_setup import check_positions
    from vis.engine._dream_sizes import network_inputs, octaves_note

    def dream_one(still: Any, out: Path) -> None:
        run_image(setup, still.rgb, out, config, max_size, seed, plan.overwrite, quiet=quiet, alpha=still.alpha,
                  bits=still.bits)

    def check_image(picture: Any) -> None:
        sizes = network_inputs("image", picture.shape[:2], max_size, 0, config, None)
        check_positions(setup.objective, setup.model_name, sizes)
        if octaves_given and (note := octaves_note(picture.shape[:2], max_size, config)):
            typer.echo(note, err=True)

    written, skipped = run_folder(plan, dream_one, check_image, quiet)
    done = f"wrote {counted(written, 'dream')} into {plan.output}"
    if skipped:  # a script sees it in the exit code, the user above
        raise VisError(f"{len(skipped)} of the {counted(len(plan.pairs), 'image')} could not be dreamed (said above); "
                       + (done if written else "none was written"))
    return done
