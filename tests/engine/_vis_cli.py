"""`vis dream` as tests/engine's video tests call it: in this process through typer's CliRunner, its output unboxed
(typer wraps a usage error in a box whose borders and line breaks fall anywhere in a message)."""

from __future__ import annotations

from typer.testing import CliRunner

from vis.cli import app

runner = CliRunner()


def dream(*args: object) -> tuple[int, str]:
    """``vis dream ARGS``: its exit code and its output on one line."""
    result = runner.invoke(app, ["dream", *map(str, args)])
    return result.exit_code, " ".join(result.output.replace("│", " ").split())
