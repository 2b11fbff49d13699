"""File names that are no UTF-8 (a Linux name may hold any bytes; Python keeps the others as surrogates): OpenCV's
binding crashed the process on them (a segfault sniffing the input), the temporary name of an output raised
UnicodeEncodeError after the work was done, and matplotlib refused them as labels."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

FAST = ["--model", "efficientnet_lite0", "--octaves", "1", "--iterations", "1", "--threads", "1", "-q"]
BAD = b"\xff"  # no UTF-8 byte at all


def vis(*args: str | bytes, cwd: Path) -> subprocess.CompletedProcess:
    """The CLI in a process of its own: a crash of OpenCV's must fail the test, not end the test run."""
    cmd = [sys.executable, "-c", "from vis.cli import main; main()", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, timeout=300)


@pytest.fixture
def odd(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    img = (rng.random((64, 80, 3)) * 255).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "img.png"), img)
    writer = cv2.VideoWriter(str(tmp_path / "vid.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 12, (80, 64))
    for i in range(4):
        writer.write(np.roll(img, 4 * i, axis=1))
    writer.release()
    raw = os.fsencode(tmp_path)
    shutil.copy(raw + b"/img.png", raw + b"/in" + BAD + b".png")
    shutil.copy(raw + b"/vid.mp4", raw + b"/v" + BAD + b".mp4")
    os.makedirs(raw + b"/fold")
    shutil.copy(raw + b"/img.png", raw + b"/fold/a.png")
    shutil.copy(raw + b"/img.png", raw + b"/fold/b" + BAD + b".png")
    return tmp_path


@pytest.mark.parametrize("source, output", [(b"in" + BAD + b".png", b"out.png"), (b"v" + BAD + b".mp4", b"out.mp4"),
                                            (b"img.png", b"out" + BAD + b".png")])
def test_dream_reads_and_writes_names_that_are_no_utf8(odd, source, output) -> None:
    result = vis("dream", source, "-o", output, *FAST, cwd=odd)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert (os.fsencode(odd) + b"/" + output) in [os.fsencode(p) for p in odd.iterdir()]
    assert not [p for p in os.listdir(os.fsencode(odd)) if b"partial" in p]


def test_a_folder_dream_mirrors_such_names(odd) -> None:
    result = vis("dream", "fold", "-o", "dreams", *FAST, cwd=odd)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert sorted(os.listdir(os.fsencode(odd / "dreams"))) == [b"a.png", b"b" + BAD + b".png"]


def test_figures_label_such_names(odd) -> None:
    features = vis("features", "efficientnet_lite0", b"in" + BAD + b".png", "--layer", "block1", "--threads", "1",
                   "-o", "maps.png", cwd=odd)
    assert features.returncode == 0, features.stderr.decode(errors="replace")
    patches = vis("patches", "efficientnet_lite0", "--layer", "block1", "--channel", "0", "--images", "fold", "-k", "2",
                  "--threads", "1", "-q", "-o", "patches.png", cwd=odd)
    assert patches.returncode == 0, patches.stderr.decode(errors="replace")
    assert (odd / "maps.png").stat().st_size > 0 and (odd / "patches.png").stat().st_size > 0
