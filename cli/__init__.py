"""The `vis` command line: thin typer commands that parse, call the library and report."""

from __future__ import annotations

import functools
import os
import signal
import sys
from typing import Any


@functools.cache
def _registered_app() -> Any:
    """The typer app with every command registered (importing the commands imports the engine: about a second)."""
    from vis.cli import _bench_cmds, _dream_cmd, _export_cmd, _inspect_cmds, _maximize_cmds, _model_cmds, _style_cmd, _train_cmd
    from vis.cli._app import app

    for module in (_model_cmds, _export_cmd, _dream_cmd, _bench_cmds, _inspect_cmds, _maximize_cmds, _train_cmd, _style_cmd):
        module.register(app)
    return app


def __getattr__(name: str) -> Any:
    if name == "app":
        return _registered_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Entry point of the `vis` console script."""
    try:
        app = _registered_app()
    except KeyboardInterrupt:  # Ctrl-C while the engine imports: a message, not torch's import traceback
        sys.stderr.write("error: interrupted\n")
        raise SystemExit(130) from None
    # `kill`, a service manager or a closing terminal stop vis as Ctrl-C does: files are finished, not cut
    from vis.cli._app import stop_on_signal

    signal.signal(signal.SIGTERM, stop_on_signal)
    try:
        code = app(standalone_mode=False)  # usage errors come back to us, to print as one line like any other error
    except Exception as e:
        if not _is_usage_error(e):
            raise
        raise SystemExit(_report_usage_error(e)) from None
    finally:
        # what is left is the interpreter's shutdown (torch's exit hooks), with every file finished: a Ctrl-C there
        # ends vis at once, where it would print a traceback from inside those hooks
        signal.signal(signal.SIGINT, _exit_at_once)
        signal.signal(signal.SIGTERM, _exit_at_once)
    raise SystemExit(code if isinstance(code, int) else 0)


def _exit_at_once(signum: int, frame: Any) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(128 + signum)  # as a shell reports a job a signal stopped


def _is_usage_error(e: Exception) -> bool:
    # click's exceptions (typer vendors its own copy of click since 0.2x), told apart by what they offer
    return hasattr(e, "format_message") and isinstance(getattr(e, "exit_code", None), int)


def _report_usage_error(e: Any) -> int:
    """A bad option or argument: one ``error: ...`` line that says where help is, as vis's own errors read (not
    click's usage block, nor a boxed panel)."""
    import typer

    if type(e).__name__ == "NoArgsIsHelpError":  # `vis` or `vis bench` alone: the help is the message
        if e.format_message():  # empty where rich has printed the help already
            typer.echo(e.format_message(), err=True)
        return e.exit_code
    ctx = getattr(e, "ctx", None)
    where = f" (see '{ctx.command_path} -h')" if ctx is not None else ""
    message = (_non_finite_message(e) or e.format_message()).rstrip(".") + _extra_argument_hint(e, ctx)
    typer.secho(f"error: {message}{where}", err=True, fg=typer.colors.RED)
    return e.exit_code


def _extra_argument_hint(e: Any, ctx: Any) -> str:
    """What an unexpected extra argument most likely is, from the command's own parameters: what it takes by
    position, and its options for an output (-o) and a model (-m) where it has them."""
    if "unexpected extra argument" not in e.format_message() or ctx is None:
        return ""
    params = ctx.command.params
    positions = [p.name.upper() + ("..." if p.nargs == -1 else "") for p in params if p.param_type_name == "argument"]
    opts = {o for p in params if p.param_type_name == "option" for o in p.opts}
    named = [f"the output with {'-o' if '-o' in opts else '--output'}" if opts & {"-o", "--output"} else "",
             f"a model with {'-m' if '-m' in opts else '--model'}" if opts & {"-m", "--model"} else ""]
    named = [n for n in named if n]
    takes = " ".join(positions) if positions else "no arguments"
    return f": {ctx.info_name} takes {takes}" + (f"; name {' and '.join(named)}" if named else "")


def _non_finite_message(e: Any) -> str | None:
    """nan or inf given to an option with bounds: click says the bound is not met, which misleads; vis's own
    wording for every other float option is used instead."""
    opts = getattr(getattr(e, "param", None), "opts", None) or []
    words = sys.argv[1:]
    for i, word in enumerate(words):
        for opt in opts:
            if opt.startswith("--") and word.startswith(opt + "="):
                value = word[len(opt) + 1 :]
            elif word == opt and i + 1 < len(words):
                value = words[i + 1]
            else:
                continue
            try:
                number = float(value)
            except ValueError:
                continue
            if number != number or number in (float("inf"), float("-inf")):
                from vis.cli._app import not_finite

                return not_finite(opt, value)
    return None


__all__ = ["app", "main"]
