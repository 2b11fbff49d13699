"""The `vis` command line: thin typer commands that parse, call the library and report."""

from __future__ import annotations

import functools
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
    signal.signal(signal.SIGTERM, _interrupt)
    app()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


__all__ = ["app", "main"]
