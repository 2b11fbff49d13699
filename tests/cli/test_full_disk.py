"""Writers that hide a full disk's error (matplotlib's PDF backend, torch.save, numpy) behind their own: the file size
limit (RLIMIT_FSIZE, with SIGXFSZ ignored) makes every write past it fail as a full disk does, in a process of its
own. Each output must fail with one message naming the file and the cause, and leave nothing behind."""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

def limited(*args: str, cwd: Path, limit: int) -> subprocess.CompletedProcess:
    """The CLI with no file growing past ``limit`` bytes."""
    def fill_at_limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails (EFBIG) instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    cmd = [sys.executable, "-c", "from vis.cli import main; main()", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300, preexec_fn=fill_at_limit)


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    cv2.imwrite(str(tmp_path / "in.png"), (rng.random((64, 64, 3)) * 255).astype(np.uint8))
    return tmp_path / "in.png"


@pytest.mark.parametrize("args, output, limit", [
    (["features", "efficientnet_lite0", "in.png", "--layer", "block1", "-o", "maps.pdf"], "maps.pdf", 3000),
    # the figure (75 kB) fits, its numbers (16 maps of 56x56 floats, 200 kB) do not
    (["features", "efficientnet_lite0", "in.png", "--layer", "block1", "-o", "maps.jpg", "--npy", "maps"], "maps.npy",
     150_000),
    (["train", "lenet", "-o", "lenet.pt", "--epochs", "1", "--no-download", "-q"], "lenet.pt", 3000),
])
def test_a_full_disk_is_one_message_and_leaves_nothing(photo, args, output, limit) -> None:
    result = limited(*args, "--threads", "1", cwd=photo.parent, limit=limit)
    assert result.returncode == 2, result.stderr
    assert f"error: could not write {output}: File too large" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not (photo.parent / output).exists()
    assert not [p for p in photo.parent.iterdir() if "partial" in p.name]


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".gif"])
def test_a_video_that_the_disk_cut_before_its_first_frame_is_not_left(photo, suffix) -> None:
    """The muxer took the first frame, the disk had room for the header and half of it: no player opens that."""
    writer = cv2.VideoWriter(str(photo.parent / "in.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 12, (64, 64))
    for i in range(4):
        writer.write(np.roll(cv2.imread(str(photo)), 8 * i, axis=1))
    writer.release()
    out = "out" + suffix
    result = limited("dream", "in.mp4", "-o", out, "--model", "efficientnet_lite0", "--octaves", "1", "--iterations",
                     "1", "--threads", "1", "-q", cwd=photo.parent, limit=1000)
    assert result.returncode == 2, result.stderr
    if (photo.parent / out).exists():  # a GIF's first frame may fit: then it plays
        import av

        with av.open(str(photo.parent / out)) as c:
            assert next(c.decode(video=0), None) is not None
        assert "holds the frames done so far" in result.stderr
    else:
        assert "no frame was finished, nothing written" in result.stderr, result.stderr
