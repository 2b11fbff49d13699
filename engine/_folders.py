"""The files a folder input stands for: the same rule for `vis dream FOLDER`, `vis patches` and `vis embed`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FolderListing:
    """What one walk of a folder found.

    Attributes:
        files: every file, sorted, as paths below the folder.
        folders: (path below the folder, real path) of every folder entered, the folder itself first: what lies
            inside any of them, through a link too, is read as part of the folder.
    """

    files: list[Path]
    folders: list[tuple[Path, Path]]


def list_folder(folder: Path) -> FolderListing:
    """The files and folders under ``folder``. Hidden files and folders are left out (.DS_Store, a partial write);
    linked folders are followed, each real folder once, so a link back up ends rather than loops."""
    seen = set()
    found, folders = [], []
    for root, dirs, names in os.walk(folder, followlinks=True):
        real_root = os.path.realpath(root)
        seen.add(real_root)
        folders.append((Path(root), Path(real_root)))
        kept = []
        for name in sorted(dirs):
            real = os.path.realpath(os.path.join(root, name))
            if name.startswith(".") or real in seen:
                continue
            seen.add(real)  # a second link to the same folder, met later in this walk, is not entered again
            kept.append(name)
        dirs[:] = kept
        found += (Path(root, name) for name in names if not name.startswith("."))
    return FolderListing(sorted(path for path in found if path.is_file()), folders)


def files_under(folder: Path) -> list[Path]:
    """The files of :func:`list_folder`."""
    return list_folder(folder).files
