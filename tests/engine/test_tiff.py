"""RGBA TIFFs: written with the ExtraSamples tag (so that readers going by the tags see the fourth channel as
alpha), and read in straight colours whether the tag is there or not (OpenCV premultiplies a tagged 8-bit one)."""

from __future__ import annotations

import io
import struct

import cv2
import numpy as np
import pytest
from PIL import Image

from vis.engine import save_image
from vis.engine._image_array import as_rgb
from vis.engine._images import load_image_alpha
from vis.engine._tiff import EXTRA_SAMPLES, with_alpha_tag


@pytest.mark.parametrize("bits", [8, 16])
def test_an_rgba_tiff_says_its_fourth_channel_is_alpha_and_reads_back(tmp_path, bits) -> None:
    rgba = np.random.default_rng(0).random((5, 7, 4)).astype(np.float32)
    path = save_image(tmp_path / "a.tif", rgba, bits=bits)
    with Image.open(path) as image:
        assert image.tag_v2.get(EXTRA_SAMPLES) == (2,)  # unassociated alpha
    top = 2 ** bits - 1
    back = load_image_alpha(path)
    assert back.bits == bits
    assert np.abs(np.round(back.alpha * top) - np.round(rgba[..., 3] * top)).max() <= 1
    assert np.abs(back.rgb - as_rgb(rgba)).max() <= 1 / top  # the colours too (composited over white, as loaded)
    if bits == 8:  # Pillow, an independent reader, sees the colours as written
        with Image.open(path) as image:
            stored = np.asarray(image.convert("RGBA")).astype(int)
        assert np.abs(stored - np.round(rgba * 255)).max() <= 1


def test_a_tagged_rgba_tiff_of_another_program_reads_in_straight_colours(tmp_path) -> None:
    """Pillow writes RGBA TIFFs with ExtraSamples as GIMP does; OpenCV alone would return the colours multiplied by
    the alpha (then composited over white once more), so a half-transparent red came out pink-grey, not pink."""
    rgba = np.zeros((4, 6, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 128
    Image.fromarray(rgba, "RGBA").save(tmp_path / "straight.tif")
    # a premultiplied one (ExtraSamples 1, associated alpha), which Pillow does not write: the tag set by hand
    premultiplied = rgba.copy()
    premultiplied[..., 0] = 100  # 200 * 128 / 255
    unassociated = struct.pack("<HHIHH", EXTRA_SAMPLES, 3, 1, 2, 0)
    tagged = with_alpha_tag(cv2.imencode(".tif", premultiplied[..., [2, 1, 0, 3]])[1].tobytes())
    assert tagged.count(unassociated) == 1
    (tmp_path / "premultiplied.tif").write_bytes(tagged.replace(unassociated, struct.pack("<HHIHH", EXTRA_SAMPLES, 3, 1, 1, 0)))
    for name in ("straight.tif", "premultiplied.tif"):
        still = load_image_alpha(tmp_path / name)
        assert still.alpha == pytest.approx(128 / 255)
        over_white = 200 / 255 * 128 / 255 + (1 - 128 / 255)  # the red channel composited over white, once
        assert still.rgb[..., 0] == pytest.approx(over_white, abs=2 / 255), name


def test_the_tag_leaves_the_pixels_as_opencv_wrote_them() -> None:
    bgra = np.random.default_rng(1).integers(0, 256, (9, 11, 4), dtype=np.uint8)
    plain = cv2.imencode(".tif", bgra)[1].tobytes()
    tagged = with_alpha_tag(plain)
    assert tagged[8:len(plain)] == plain[8:]  # only the header's pointer changes, the new directory is appended
    with Image.open(io.BytesIO(tagged)) as image:
        assert np.array_equal(np.asarray(image.convert("RGBA")), bgra[..., [2, 1, 0, 3]])
    assert with_alpha_tag(tagged) == tagged  # once is enough


def test_rgb_tiffs_and_other_formats_get_no_tag(tmp_path) -> None:
    path = save_image(tmp_path / "rgb.tif", np.zeros((4, 4, 3), np.float32))
    with Image.open(path) as image:
        assert EXTRA_SAMPLES not in image.tag_v2
    with pytest.raises(ValueError, match="not a classic TIFF"):
        with_alpha_tag(cv2.imencode(".png", np.zeros((4, 4, 4), np.uint8))[1].tobytes())
