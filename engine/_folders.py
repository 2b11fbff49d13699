"""The files a folder input stands for: the same rule for `vis dream FOLDER`, `vis patches` and `vis embed`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path


def files_under(folder: Path) -> list[Path]:
    """Every file under ``folder``, sorted, as paths below ``folder``. Hidden files and folders are left out (.DS_Store,
    a partial write); linked folders are followed, each real folder once, so a link back up ends rather than loops."""
    found = []
    for root, names in _walk(folder):
        found += (Path(root, name) for name in names if not name.startswith("."))
    return sorted(path for path in found if path.is_file())


def folders_under(folder: Path) -> list[tuple[Path, Path]]:
    """(path below ``folder``, real path) of every folder :func:`files_under` enters, ``folder`` first: what lies
    inside any of them, through a link too, is read as part of ``folder``."""
    return [(Path(root), Path(os.path.realpath(root))) for root, _ in _walk(folder)]


def _walk(folder: Path) -> Iterator[tuple[str, list[str]]]:
    """(folder, its file names) of each folder the rule of :func:`files_under` enters."""
    seen = set()
    for root, dirs, names in os.walk(folder, followlinks=True):
        seen.add(os.path.realpath(root))
        kept = []
        for name in sorted(dirs):
            real = os.path.realpath(os.path.join(root, name))
            if name.startswith(".") or real in seen:
                continue
            seen.add(real)  # a second link to the same folder, met later in this walk, is not entered again
            kept.append(name)
        dirs[:] = kept
        yield root, names
