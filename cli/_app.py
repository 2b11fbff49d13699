"""The typer application and its error policy: user errors print one line and exit with the error's code (2 for
bad input, 130 for Ctrl-C, 143 for SIGTERM), never a traceback."""

from __future__ import annotations

import functools
import math
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import typer

import vis
from vis.errors import Interrupted, VisError


# --threads above this is a typo or a mistake (100000 threads took 16 GiB before the first step); a few per core
# still leaves room to oversubscribe on purpose
MAX_THREADS = 4 * (os.cpu_count() or 1)
INT64_END = 2**63  # a --seed or a frame count reaches numpy and itertools as an int64


def torch_threads_option() -> Any:
    """``--threads`` of a command that computes with torch (features, patches, embed, predict, train, style)."""
    return typer.Option(0, "--threads", min=0, max=MAX_THREADS, help="torch's CPU threads (0: its default, all cores).")


def below_int64(value: int) -> int:
    """Callback refusing a number an int64 cannot hold; a max= would print 9223372036854775807 in every help."""
    if value >= INT64_END:
        raise typer.BadParameter("must be below 2**63.")
    return value


def seed_option(default: int, help: str) -> Any:
    """``--seed``: any int64 from 0."""
    return typer.Option(default, "--seed", min=0, callback=below_int64, help=help)


def quiet_option() -> Any:
    """``--quiet``/``-q`` of a command that shows progress on stderr while it works."""
    return typer.Option(False, "--quiet", "-q", help="No progress line.")


def progress_interval() -> float:
    """Seconds between two updates of a progress line: a few a second on a terminal, one every 5 s in a log."""
    return 0.2 if sys.stderr.isatty() else 5.0


_line_open = False  # a terminal's progress line is being updated in place, not yet ended


def progress_line(text: str) -> None:
    """Show one progress update on stderr: in place on a terminal, a line of its own in a log or a pipe (where
    carriage returns would run every update into one endless line)."""
    global _line_open
    if sys.stderr.isatty():
        typer.echo(f"\r{text}   ", err=True, nl=False)  # the spaces cover the end of a longer line before
        _line_open = True
    else:
        typer.echo(text, err=True)


def end_progress() -> None:
    """Close a run of :func:`progress_line` updates (a terminal's line stays, ended)."""
    global _line_open
    if _line_open:
        typer.echo("", err=True)
        _line_open = False


class CountProgress:
    """``label done/total unit`` on stderr for work counted in items (files read, images through a model): on a
    terminal at most five updates a second, in a log one every five seconds, and always the last, whose line it ends.
    Called as ``progress(done, total)``; disabled, it says nothing."""

    def __init__(self, label: str, unit: str, enabled: bool = True):
        self.label, self.unit, self.enabled = label, unit, enabled
        self._interval = progress_interval()
        self._last = -math.inf

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if done < total and now - self._last < self._interval:
            return
        self._last = now
        progress_line(f"{self.label} {done}/{total} {self.unit}")
        if done >= total:
            end_progress()


class StagedProgress:
    """A rich progress bar on stderr, a row per stage (an epoch, a scale) with text fields (e.g. loss, accuracy) after
    the bar. It opens at the first update: an error before it stays one line, not a blank one and the error; one
    after it leaves the bar's line ended."""

    def __init__(self, stack: ExitStack, fields: tuple[str, ...], enabled: bool = True):
        self._stack, self._fields, self._enabled = stack, fields, enabled
        self._bar: Any = None
        self._rows: dict[Any, Any] = {}

    def update(self, stage: Any, label: str, total: int, completed: int, **values: str) -> None:
        """Show ``completed`` of ``total`` in ``stage``'s row (added, as ``label``, the first time) with ``values``."""
        if not self._enabled:
            return
        if self._bar is None:
            self._bar = self._stack.enter_context(_rich_bar(self._fields))
        if stage not in self._rows:
            self._rows[stage] = self._bar.add_task(label, total=total, **dict.fromkeys(self._fields, "-"))
        self._bar.update(self._rows[stage], completed=completed, **values)

    def note(self, message: str) -> None:
        """A line on stderr, above the bar once it is open."""
        if self._bar is None:
            typer.echo(message, err=True)
        else:
            self._bar.console.print(message)


@contextmanager
def staged_progress(*fields: str, enabled: bool = True) -> Iterator[StagedProgress]:
    """A :class:`StagedProgress` with ``fields``, closed (its line ended) on leaving; disabled, only its notes show."""
    with ExitStack() as stack:
        yield StagedProgress(stack, fields, enabled)


def _rich_bar(fields: tuple[str, ...]) -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
    columns += [TextColumn(f"{name} {{task.fields[{name}]}}") for name in fields]
    columns += [TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn()]
    return Progress(*columns, console=Console(stderr=True), transient=False)


def note_grey_only(output: Path, model: str) -> None:
    """Say, before the work, that ``model``'s colour result written to a grey-only format (.pgm) keeps only its
    luminance, as the loss of a 16-bit input's levels is said (LeNet's grey results lose nothing)."""
    from vis.engine._images import GREY_ONLY_SUFFIXES
    from vis.models import model_spec

    if output.suffix.lower() in GREY_ONLY_SUFFIXES and model_spec(model).preprocessing.channels == 3:
        typer.echo(f"note: {output.suffix} holds grey only: the colours are lost (.png keeps them)", err=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` to stderr (on a line of its own, after a progress line) and return the Exit to raise."""
    end_progress()
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def _home_expanded(value: Any) -> Any:
    """A path that starts with ~ as the home folder, as the shell would have had it: ``--output=~/a.png`` and a
    quoted "~/a b.png" reach vis unexpanded, and would make a folder named ~ (./~ still names one)."""
    if isinstance(value, Path) and value.parts and value.parts[0].startswith("~"):
        try:
            return value.expanduser()
        except RuntimeError:  # ~nobody-here: no such user, so the name is the user's own
            return value
    if isinstance(value, list):
        return [_home_expanded(v) for v in value]
    return value


def _friendly(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from vis.engine._images import created_folders, remove_empty_created_folders

        created_folders.clear()
        kwargs = {name: _home_expanded(value) for name, value in kwargs.items()}
        try:
            return _reported(fn, *args, **kwargs)
        except BaseException as e:
            if not (isinstance(e, typer.Exit) and e.exit_code == 0):
                remove_empty_created_folders()  # a failed command leaves no new empty output folder
            raise

    return wrapper


# The exit code of a run that was stopped: 128 + the signal's number, as a shell reports it (130 for Ctrl-C's SIGINT,
# 143 for the SIGTERM of `kill` or a service manager)
_stopped_code = 128 + signal.SIGINT


def stop_on_signal(signum: int, frame: Any) -> None:
    """A signal handler that stops vis as Ctrl-C does (files are finished, not cut), exiting with the signal's code."""
    global _stopped_code
    _stopped_code = 128 + signum
    raise KeyboardInterrupt


def _reported(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a command; a user's error, Ctrl-C, or an OS error on a path (a name too long, a permission) becomes one
    line and an exit code."""
    try:
        _refuse_non_finite(kwargs)
        return fn(*args, **kwargs)
    except Interrupted as e:
        raise fail(str(e), _stopped_code) from e
    except VisError as e:
        raise fail(str(e), e.exit_code) from e
    except KeyboardInterrupt as e:
        raise fail("interrupted", _stopped_code) from e
    except OSError as e:
        if e.filename is None:  # not about a path the user gave: a real fault, keep its traceback
            raise
        raise fail(f"{e.filename}: {e.strerror or e}") from e


def _refuse_non_finite(options: dict[str, Any]) -> None:
    """``nan`` and ``inf`` parse as floats, and an option without typer bounds takes them as they are (a nan
    --step would make every pixel nan); no vis option means either."""
    for name, value in options.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise VisError(not_finite(f"--{name.replace('_', '-')}", value))


def not_finite(option: str, value: Any) -> str:
    """The message for nan or inf given to ``option``, whether typer's bounds or vis's own check caught it."""
    return f"{option} must be a finite number, got {value}"


class VisTyper(typer.Typer):
    """A Typer whose commands turn :class:`VisError` into one message and its ``exit_code``."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        register = super().command(*args, **kwargs)
        return lambda fn: register(_friendly(fn))


app = VisTyper(
    name="vis",
    help="Look inside convolutional networks and dream in real time (ONNX Runtime gradient graphs).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vis {vis.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Look inside convolutional networks and dream in real time."""
    # OpenCV's FFmpeg prints its own errors ("moov atom not found") beside ours for an unreadable input, which vis
    # reports itself. Read when the first capture opens; a user's own setting wins.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


def given_options(ctx: typer.Context) -> set[str]:
    """The parameters the user typed (not left at their defaults); by the source's name, which click and typer's own
    copy of it share."""
    return {name for name in ctx.params if ctx.get_parameter_source(name).name not in ("DEFAULT", "DEFAULT_MAP")}


def option_flag(ctx: typer.Context, name: str) -> str:
    """How the user spells parameter ``name``: its long flag (``--max-size``), or "an input" for an argument."""
    param = next(p for p in ctx.command.params if p.name == name)
    flags = [o for o in param.opts if o.startswith("-")]
    return max(flags, key=len) if flags else f"an {name}" if name[0] in "aeiou" else f"a {name}"


def format_table(headers: list[str], rows: list[list[str]]) -> str:
    """Left-aligned plain-text table."""
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])
