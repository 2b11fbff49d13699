"""The `vis` command line: thin typer commands that parse, call the library and report."""

from __future__ import annotations

from vis.cli._app import app
from vis.cli import _bench_cmds, _dream_cmd, _export_cmd, _inspect_cmds, _maximize_cmds, _model_cmds, _style_cmd, _train_cmd

for _module in (_model_cmds, _export_cmd, _dream_cmd, _bench_cmds, _inspect_cmds, _maximize_cmds, _train_cmd, _style_cmd):
    _module.register(app)


def main() -> None:
    """Entry point of the `vis` console script."""
    app()


__all__ = ["app", "main"]
