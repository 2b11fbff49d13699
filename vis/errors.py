"""Typed errors. Every error a user can cause derives from :class:`VisError`; the CLI prints its message and
exits with code 2 instead of showing a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path


class VisError(Exception):
    """Base of all errors caused by user input (bad names, files, options)."""

    exit_code = 2


def closest(name: str, valid: Iterable[str], n: int = 3) -> list[str]:
    """The valid names closest to ``name`` (for 'did you mean' messages): the ``n`` best, and any as close as the
    last of them, up to 8, best first and ties in their own order (conv4_l is as near conv4_1 as conv4_2..4, and all
    four are named)."""
    valid = list(valid)
    scores = {v: difflib.SequenceMatcher(None, name, v).ratio() for v in valid}
    ranked = sorted((v for v in valid if scores[v] >= 0.5), key=lambda v: -scores[v])  # stable: ties keep their order
    found = [v for i, v in enumerate(ranked) if i < n or scores[v] == scores[ranked[n - 1]]][:8]
    if not found:
        found = [v for v in valid if name.lower() in v.lower()][:n]
    return found


class UnknownNameError(VisError, KeyError):
    """An unknown model, layer, class or weights name; the message lists the closest valid names (``near``: the
    likely ones where spelling is no guide, e.g. cuda for gpu) and a ``note``."""

    def __init__(self, what: str, name: str, valid: Iterable[str], near: Iterable[str] = (), note: str = ""):
        valid = list(valid)
        same_but_case = [v for v in valid if isinstance(name, str) and v.lower() == name.lower()]
        near = list(near) or same_but_case or closest(name, valid)
        hint = f" Did you mean: {', '.join(near)}?" if near else ""
        if same_but_case:
            hint += " (names are case-sensitive)"
        shown = ", ".join(valid[:40]) + (" ..." if len(valid) > 40 else "")
        super().__init__(f"unknown {what} {name!r}{f' ({note})' if note else ''}.{hint} Valid: {shown}")
        self.what, self.name, self.valid = what, name, valid

    def __str__(self) -> str:  # KeyError would add quotes around the message
        return str(self.args[0])


class WeightsUnavailableError(VisError):
    """Pretrained weights cannot be had (offline and not cached)."""


class InputFileError(VisError):
    """A missing, unreadable or wrong-kind input file."""


class OutputExistsError(VisError):
    """The output file exists and ``overwrite`` was not asked for."""


class OutputAppearedError(OutputExistsError):
    """The output did not exist when the command began and does now (another run wrote it): it is kept, and this
    run's result is in ``kept_in``."""

    def __init__(self, message: str, kept_in: Path):
        super().__init__(message)
        self.kept_in = kept_in


class OutputPathError(VisError):
    """The output cannot be written there: a folder in its place, a file where a folder must be, no permission."""


class Interrupted(VisError):
    """Ctrl-C, reported with what was kept; exit code 130, as a shell gives a job stopped by SIGINT."""

    exit_code = 130
