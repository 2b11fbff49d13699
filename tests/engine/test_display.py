"""The preview window refuses clearly where it cannot open, naming the ways to see the dream that need no window."""

from __future__ import annotations

import cv2
import pytest

from vis.engine._display import NoDisplayError, Preview


def test_no_display_names_the_other_ways_to_watch(monkeypatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(NoDisplayError, match=r"no DISPLAY set\); watch the dream in a browser with --serve PORT, "
                                             r"write it to a file with -o, or send it to a virtual camera"):
        Preview()


def test_headless_opencv_says_how_to_get_a_window(monkeypatch) -> None:
    def headless(*args, **kwargs):
        raise cv2.error("The function is not implemented. Rebuild the library with GTK+ support")

    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(cv2, "namedWindow", headless)
    with pytest.raises(NoDisplayError, match="pip install opencv-python; or watch it in a browser with --serve PORT"):
        Preview()
