"""The files a folder input stands for: the same rule for `vis dream FOLDER`, `vis patches` and `vis embed`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional


def files_under(folder: Path, avoid: Optional[Path] = None) -> list[Path]:
    """Every file under ``folder``, sorted, as paths below ``folder``. Hidden files and folders are left out (.DS_Store,
    a partial write); linked folders are followed, each real folder once, so a link back up ends rather than loops.
    ``avoid`` is a folder never entered, not even through a link (a run's own output folder)."""
    avoid_real = os.path.realpath(avoid) if avoid is not None else None
    seen = set()
    found = []
    for root, dirs, names in os.walk(folder, followlinks=True):
        seen.add(os.path.realpath(root))
        kept = []
        for name in sorted(dirs):
            real = os.path.realpath(os.path.join(root, name))
            if name.startswith(".") or real in seen or _within(real, avoid_real):
                continue
            seen.add(real)  # a second link to the same folder, met later in this walk, is not entered again
            kept.append(name)
        dirs[:] = kept
        found += (Path(root, name) for name in names if not name.startswith("."))
    return sorted(path for path in found if path.is_file())


def _within(path: str, folder: Optional[str]) -> bool:
    return folder is not None and (path == folder or path.startswith(folder.rstrip(os.sep) + os.sep))
