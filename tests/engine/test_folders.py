"""Which files a folder input stands for (vis dream FOLDER, vis patches, vis embed)."""

from __future__ import annotations

import os

from vis.engine._folders import files_under, list_folder


def _touch(path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")


def test_linked_folders_are_followed_once_and_hidden_files_left_out(tmp_path) -> None:
    root, elsewhere = tmp_path / "photos", tmp_path / "elsewhere"
    for rel in ["a.png", "sub/b.png", ".DS_Store", ".cache/c.png", "sub/.partial.png"]:
        _touch(root / rel)
    _touch(elsewhere / "d.png")
    os.symlink(elsewhere, root / "linked")      # a folder kept elsewhere: followed
    os.symlink(elsewhere, root / "sub" / "again")  # the same real folder a second time: not read twice
    os.symlink(root, root / "sub" / "loop")     # a link back up: the walk ends
    os.symlink(tmp_path / "gone.png", root / "broken.png")  # a link to nothing is no file
    os.symlink(elsewhere / "d.png", root / "e.png")  # a linked file is a file
    found = [str(p.relative_to(root)) for p in files_under(root)]
    assert found == ["a.png", "e.png", "linked/d.png", "sub/b.png"]


def test_a_listing_names_each_folder_read_with_its_real_place(tmp_path) -> None:
    root, out = tmp_path / "photos", tmp_path / "dreams"
    _touch(root / "a.png")
    _touch(out / "sub" / "a.png")
    os.symlink(out, root / "to-dreams")
    os.symlink(out / "sub", root / "to-sub")
    walked = {str(seen.relative_to(root)): real for seen, real in list_folder(root).folders}
    assert walked == {".": root, "to-dreams": out, "to-sub": out / "sub"}  # dreams/sub read once, by its nearer link
    found = [str(p.relative_to(root)) for p in files_under(root)]
    assert found == ["a.png", "to-sub/a.png"]
