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


def test_outputs_that_differ_only_in_case_get_names_of_their_own() -> None:
    """D.jpg and d.JPG are two files on Linux and one on macOS or Windows: the second is numbered in its own format,
    past a name another input keeps (d-2.JPG), and a .png written for a GIF keeps clear of both."""
    from pathlib import Path

    from vis.engine._folders import _outputs_for

    rels = [Path(n) for n in ["D.jpg", "d-2.JPG", "d.JPG", "d.gif", "sub/x.png", "SUB/X.PNG"]]
    names = [p.relative_to("out").as_posix() for p in _outputs_for(rels, Path("out"))]
    assert names == ["D.jpg", "d-2.JPG", "d-3.JPG", "d.png", "sub/x.png", "SUB/X-2.PNG"]
    assert len({n.casefold() for n in names}) == len(names)
