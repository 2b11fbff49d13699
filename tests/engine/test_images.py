import os
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from vis.engine import load_image, save_image
from vis.engine._images import check_image_output, check_output
from vis.errors import InputFileError, OutputAppearedError, OutputExistsError, OutputPathError


@pytest.mark.parametrize("kind,shape", [("rgb", (37, 53, 3)), ("grey", (41, 29, 3)), ("rgba", (30, 31, 3)), ("deep", (20, 22, 3))])
def test_load_any_image_as_rgb_float(image_files, kind, shape) -> None:
    image = load_image(image_files[kind])
    assert image.shape == shape and image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() <= 1.0


def test_load_flips_bgr_to_rgb(tmp_path) -> None:
    import cv2

    bgr = np.zeros((4, 4, 3), np.uint8)
    bgr[..., 2] = 255  # red in OpenCV's order
    cv2.imwrite(str(tmp_path / "red.png"), bgr)
    assert np.allclose(load_image(tmp_path / "red.png")[0, 0], [1, 0, 0])


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_exif_orientation_turns_the_image_upright_as_pillow_does(tmp_path, orientation, suffix) -> None:
    """A phone photo is stored sideways with an EXIF tag saying how to turn it: vis reads it the way Pillow's
    exif_transpose shows it (the reference), for all eight orientations, PNG (exact) and JPEG."""
    from PIL import Image, ImageOps

    stored = (np.random.default_rng(orientation).random((6, 10, 3)) * 255).astype(np.uint8)
    stored[:3, :5] = 0  # a dark corner: a JPEG's blur keeps it findable
    path = tmp_path / f"o{orientation}{suffix}"
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(stored).save(path, exif=exif, quality=100)
    with Image.open(path) as picture:
        want = np.asarray(ImageOps.exif_transpose(picture).convert("RGB"), np.float32) / 255
    got = load_image(path)
    assert got.shape == want.shape == ((6, 10, 3) if orientation < 5 else (10, 6, 3))
    assert np.abs(got - want).max() <= (0.5 / 255 if suffix == ".png" else 0.02)


def test_exif_orientation_keeps_alpha_and_16_bits(tmp_path) -> None:

    import cv2
    from PIL import Image

    rgba = np.zeros((4, 6, 4), np.uint16)
    rgba[..., 3] = 65535
    rgba[0, 5, 2] = 65535  # red (BGRA order) in the top right corner as stored
    path = tmp_path / "deep.png"
    cv2.imwrite(str(path), rgba)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned 90 degrees counter-clockwise: shown turned back clockwise
    # Pillow cannot write 16-bit RGBA PNGs: the tag goes in as an eXIf chunk after IHDR, the pixels untouched.
    data = path.read_bytes()
    payload = exif.tobytes()
    chunk = struct.pack(">I", len(payload)) + b"eXIf" + payload
    chunk += struct.pack(">I", zlib.crc32(b"eXIf" + payload) & 0xFFFFFFFF)
    ihdr_end = 8 + 8 + 13 + 4
    path.write_bytes(data[:ihdr_end] + chunk + data[ihdr_end:])
    got = load_image(path)
    assert got.shape == (6, 4, 3)
    assert np.allclose(got[5, 3], [1, 0, 0]) and np.isclose(got.sum(), 1.0)  # the corner went to the bottom right


def test_alpha_comes_apart_from_the_composited_colours(tmp_path) -> None:
    """load_image_alpha gives load_image's RGB (over white) and the alpha in [0, 1]; an opaque alpha is no alpha."""
    import cv2

    from vis.engine._images import load_image_alpha, with_alpha

    bgra = np.zeros((5, 7, 4), np.uint8)
    bgra[..., 0] = 255  # blue
    bgra[:, :3, 3] = 255
    bgra[:, 3:, 3] = 51  # 0.2
    cv2.imwrite(str(tmp_path / "cut.png"), bgra)
    rgb, alpha, bits = load_image_alpha(tmp_path / "cut.png")
    assert bits == 8
    assert np.array_equal(rgb, load_image(tmp_path / "cut.png"))
    assert np.allclose(alpha[:, :3], 1.0) and np.allclose(alpha[:, 3:], 0.2)
    assert np.allclose(rgb[0, 6], [0.8, 0.8, 1.0])  # 20% blue over white
    bgra[..., 3] = 255
    cv2.imwrite(str(tmp_path / "opaque.png"), bgra)
    assert load_image_alpha(tmp_path / "opaque.png")[1] is None
    assert load_image_alpha(tmp_path / "opaque.png")[0].shape == (5, 7, 3)
    halved = with_alpha(np.zeros((3, 4, 3), np.float32), np.repeat(alpha, 2, axis=0)[:6, :])
    assert halved.shape == (3, 4, 4) and halved.dtype == np.float32
    assert with_alpha(rgb, None) is rgb


@pytest.mark.parametrize("kind,match", [("missing", "not found"), ("text", "not a readable image")])
def test_bad_images(image_files, kind, match) -> None:
    with pytest.raises(InputFileError, match=match):
        load_image(image_files[kind])


def _png_header(path: Path, width: int, height: int) -> Path:
    """A PNG that announces ``width`` x ``height`` pixels and holds none: what a reader sees before decoding."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    return path


def test_a_photo_above_pillows_limit_is_opened_as_opencv_opens_it(tmp_path, recwarn) -> None:
    """Pillow (EXIF, animations) refuses above 179 megapixels and warns above 89; OpenCV decodes up to 2^30 pixels,
    so a 14000x14000 photo is opened, without a warning, and only a larger one is refused, in one line."""
    from PIL import Image

    from vis.engine._animated import is_animated
    from vis.engine._images import open_picture

    big = _png_header(tmp_path / "big.png", 14000, 14000)
    with pytest.raises(Image.DecompressionBombError):
        Image.open(big)
    with open_picture(big) as picture:
        assert picture.size == (14000, 14000)
    assert not is_animated(big) and not recwarn.list
    assert Image.MAX_IMAGE_PIXELS == 89478485  # Pillow's own limit is left as it was
    with pytest.raises(InputFileError, match="too large to read: OpenCV decodes at most 1073741824 pixels"):
        load_image(_png_header(tmp_path / "bomb.png", 40000, 40000))


def test_save_roundtrip_and_no_overwrite(tmp_path) -> None:
    image = np.random.default_rng(1).random((9, 11, 3), dtype=np.float32)
    path = save_image(tmp_path / "sub" / "out.png", image)
    assert np.abs(load_image(path) - image).max() <= 1 / 255
    with pytest.raises(OutputExistsError, match="--overwrite"):
        save_image(path, image)
    save_image(path, image, overwrite=True)


@pytest.mark.parametrize("hard_links", [True, False])
def test_a_file_that_appears_during_the_work_is_kept_and_the_result_written_beside_it(tmp_path, monkeypatch,
                                                                                       hard_links) -> None:
    """write_image's path was checked before the work; another run wrote it meanwhile: not replaced, even where the
    file system has no hard links (FAT), and a third result takes the next name."""
    from vis.engine._images import write_image

    if not hard_links:
        def no_links(*args, **kwargs):
            raise PermissionError(1, "Operation not permitted")
        monkeypatch.setattr(os, "link", no_links)
    image = np.random.default_rng(1).random((9, 11, 3), dtype=np.float32)
    path = tmp_path / "out.png"
    path.write_bytes(b"the other run's")
    for n in (2, 3):
        with pytest.raises(OutputAppearedError, match="out.png exists \\(written by another run while this one") as e:
            write_image(path, image, overwrite=False)
        assert e.value.kept_in == tmp_path / f"out-{n}.png"
        assert np.abs(load_image(e.value.kept_in) - image).max() <= 1 / 255
    assert path.read_bytes() == b"the other run's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out-2.png", "out-3.png", "out.png"]  # no partial file
    write_image(tmp_path / "new.png", image, overwrite=False)  # a free name is simply written
    assert np.abs(load_image(tmp_path / "new.png") - image).max() <= 1 / 255


def test_a_failed_write_keeps_the_older_file_and_leaves_no_partial_one(tmp_path, monkeypatch) -> None:
    import builtins
    import errno

    import vis.engine._images as images

    old = np.zeros((9, 11, 3), np.float32)
    path = save_image(tmp_path / "out.png", old)
    before = path.read_bytes()

    class FillsTheDisk:
        def __init__(self, name):
            self.file = builtins.open(name, "wb")

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

        def write(self, data):
            self.file.write(data[:9])  # some bytes land before the disk fills
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def open_(name, mode="r"):  # the temporary file finds the disk full; the check before writes nothing
        return FillsTheDisk(name) if ".partial-" in str(name) else builtins.open(name, mode)

    monkeypatch.setattr(images, "open", open_, raising=False)
    with pytest.raises(OutputPathError, match="could not write .*out.png: No space left on device"):
        save_image(path, np.ones((9, 11, 3), np.float32), overwrite=True)
    with pytest.raises(OutputPathError):
        save_image(tmp_path / "new.png", old)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def ramp(height: int = 4, width: int = 2000, channels: int = 3) -> np.ndarray:
    """A smooth float ramp of ``width`` levels, each channel its own, between 16-bit levels: 8 bits cannot hold it,
    and only a rounding quantisation keeps it to half a 16-bit level."""
    levels = np.linspace(0.0, 1.0, width, dtype=np.float32)
    return np.stack([np.tile(np.roll(levels, 301 * c), (height, 1)) for c in range(channels)], axis=2)


@pytest.mark.parametrize("suffix", [".png", ".tif", ".tiff", ".ppm"])
def test_16_bits_round_trip_to_half_a_level(tmp_path, suffix) -> None:
    import cv2

    image = ramp()
    path = save_image(tmp_path / f"deep{suffix}", image, bits=16)
    stored = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert stored.dtype == np.uint16 and stored.shape == image.shape
    assert len(np.unique(stored)) > 256
    assert np.abs(load_image(path) - image).max() <= 0.51 / 65535  # rounded, not cut: at most half a level
    assert np.array_equal(stored[..., ::-1], np.round(image.astype(np.float64) * 65535).astype(np.uint16))


@pytest.mark.parametrize("suffix", [".png", ".pgm"])
def test_16_bit_grey_stays_grey_and_deep(tmp_path, suffix) -> None:
    import cv2

    image = ramp(channels=1)[..., 0]
    stored = cv2.imread(str(save_image(tmp_path / f"grey{suffix}", image, bits=16)), cv2.IMREAD_UNCHANGED)
    assert stored.dtype == np.uint16 and stored.shape == image.shape and len(np.unique(stored)) > 256
    assert np.abs(stored / 65535 - image).max() <= 0.51 / 65535


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_alpha_is_written_and_read_back(tmp_path, suffix) -> None:
    """A cut-out keeps its alpha at 16 bits, and load_image_alpha says the file is 16-bit."""
    import cv2

    from vis.engine._images import load_image_alpha

    rgba = ramp(channels=4)
    path = save_image(tmp_path / f"cut{suffix}", rgba, bits=16)
    stored = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert stored.dtype == np.uint16 and stored.shape == rgba.shape and len(np.unique(stored[..., 3])) > 256
    still = load_image_alpha(path)
    assert still.bits == 16
    assert np.abs(still.alpha - rgba[..., 3]).max() <= 0.51 / 65535
    assert np.abs(stored[..., 2] / 65535 - rgba[..., 0]).max() <= 0.51 / 65535  # red, in OpenCV's BGRA order


@pytest.mark.parametrize("suffix", [".jpg", ".webp", ".bmp"])
def test_16_bits_asked_of_an_8_bit_format_write_8(tmp_path, suffix) -> None:
    import cv2

    image = ramp(height=16, width=64)
    stored = cv2.imread(str(save_image(tmp_path / f"flat{suffix}", image, bits=16)), cv2.IMREAD_UNCHANGED)
    assert stored.dtype == np.uint8 and stored.shape == image.shape
    assert np.abs(stored[..., ::-1] / 255 - image).mean() <= 0.02  # the picture, not 16-bit levels cut to 255


def test_a_depth_other_than_8_or_16_is_refused_before_any_folder_is_made(tmp_path) -> None:
    from vis.errors import VisError

    with pytest.raises(VisError, match="8 or 16 bits a channel, not 12"):
        save_image(tmp_path / "new" / "o.png", ramp(), bits=12)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif", ".webp", ".bmp", ".ppm", ".pgm"])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_8_bits_are_written_as_before(tmp_path, suffix, channels) -> None:
    """The default (and bits=8) writes the bytes the 8-bit writer always wrote: OpenCV's encoding of the image
    rounded half up to 8 bits, in BGR(A) order."""
    import cv2

    from vis.engine._image_array import as_rgb
    from vis.engine._images import ALPHA_SUFFIXES

    if suffix == ".ppm" and channels == 1:
        pytest.skip("OpenCV writes no grey PPM")
    image = np.random.default_rng(channels).random((13, 17, channels), dtype=np.float32)
    flat = as_rgb(image) if channels == 4 and suffix not in ALPHA_SUFFIXES else image
    levels = (np.clip(flat, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    old = levels[..., 0] if channels == 1 else levels[..., [2, 1, 0, 3][: levels.shape[2]]]
    if suffix == ".pgm" and old.ndim == 3:
        old = cv2.cvtColor(old, cv2.COLOR_BGR2GRAY)
    want = cv2.imencode(suffix, old)[1].tobytes()
    if suffix == ".tif" and channels == 4:  # and the tag that says the fourth channel is alpha
        from vis.engine._tiff import with_alpha_tag

        want = with_alpha_tag(want)
    assert save_image(tmp_path / f"default{suffix}", image).read_bytes() == want
    assert save_image(tmp_path / f"eight{suffix}", image, bits=8).read_bytes() == want


def test_an_8_bit_png_read_and_written_again_is_the_same_file(tmp_path) -> None:
    import cv2

    cv2.imwrite(str(tmp_path / "in.png"), np.random.default_rng(4).integers(0, 256, (13, 17, 3), dtype=np.uint8))
    written = save_image(tmp_path / "out.png", load_image(tmp_path / "in.png"), bits=8)
    assert written.read_bytes() == (tmp_path / "in.png").read_bytes()


def test_load_image_alpha_says_how_deep_the_file_is(tmp_path) -> None:
    """8 for 8-bit files, 16 for 16-bit ones and for float TIFFs (deeper than vis writes: its 16 bits keep most)."""
    import cv2

    from vis.engine._images import load_image_alpha

    grey = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    cv2.imwrite(str(tmp_path / "u8.png"), (grey * 255).astype(np.uint8))
    cv2.imwrite(str(tmp_path / "u16.png"), (grey * 65535).astype(np.uint16))
    cv2.imwrite(str(tmp_path / "u16.tif"), np.dstack([(grey * 65535).astype(np.uint16)] * 3))
    cv2.imwrite(str(tmp_path / "f32.tif"), grey)
    cv2.imwrite(str(tmp_path / "u8.jpg"), (grey * 255).astype(np.uint8))
    depths = {name: load_image_alpha(tmp_path / name).bits for name in ("u8.png", "u16.png", "u16.tif", "f32.tif",
                                                                        "u8.jpg")}
    assert depths == {"u8.png": 8, "u16.png": 16, "u16.tif": 16, "f32.tif": 16, "u8.jpg": 8}


def test_a_colour_image_saved_as_pgm_is_its_luminance(tmp_path) -> None:
    """.pgm holds grey only: OpenCV cannot encode colour into it (the dream was lost after the work)."""
    import cv2

    image = np.random.default_rng(2).random((9, 11, 3), dtype=np.float32)
    grey = cv2.imread(str(save_image(tmp_path / "out.pgm", image)), cv2.IMREAD_UNCHANGED)
    expected = cv2.cvtColor((image[..., ::-1] * 255 + 0.5).astype(np.uint8), cv2.COLOR_BGR2GRAY)
    assert grey.shape == (9, 11) and np.array_equal(grey, expected)


def test_check_output_refuses_paths_that_cannot_be_written_before_any_work(tmp_path) -> None:
    (tmp_path / "folder.png").mkdir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputPathError, match="is a folder"):
        check_output(tmp_path / "folder.png", overwrite=True)
    with pytest.raises(OutputPathError, match="file is a file, not a folder"):
        check_output(tmp_path / "file" / "deeper" / "o.png", overwrite=False)
    probe = check_output(tmp_path / "new" / "o.png", overwrite=False)
    assert probe.parent.is_dir() and not probe.exists()  # the probe file is removed again
    existing = tmp_path / "file"
    assert check_output(existing, overwrite=True) == existing and existing.read_text() == "x"  # probed, unchanged


def test_check_output_refuses_a_folder_it_cannot_write_into(tmp_path) -> None:
    if sys.platform.startswith("linux"):
        target = Path("/proc/vis-output-test.png")  # no file can be created in /proc, not even by root
    elif os.geteuid() != 0:
        (tmp_path / "locked").mkdir(mode=0o500)
        target = tmp_path / "locked" / "o.png"
    else:
        pytest.skip("root writes anywhere outside Linux's /proc")
    with pytest.raises(OutputPathError, match="cannot write"):
        check_output(target, overwrite=False)


def test_save_image_refuses_a_suffix_before_writing(tmp_path) -> None:
    with pytest.raises(OutputPathError, match="cannot write an image as .txt"):
        check_image_output(tmp_path / "o.txt", overwrite=False)
    assert list(tmp_path.iterdir()) == []


def test_a_refused_image_suffix_is_told_every_suffix_written(tmp_path) -> None:
    """A .gif for a still (vis style) was told to use .png or .jpg, though .tif, .webp, .bmp ... are written too."""
    with pytest.raises(OutputPathError, match=r"as .gif: use .bmp, .jpeg, .jpg, .pgm, .png, .ppm, .tif, .tiff or "
                                              r".webp$"):
        check_image_output(tmp_path / "o.gif", overwrite=False)


def test_a_png_with_an_odd_colour_profile_is_read_without_libpng_s_warning(tmp_path, capfd) -> None:
    """libpng printed "libpng warning: iCCP: ... invalid rendering intent" on stderr, past OpenCV's log level: the
    profile, which OpenCV does not apply, is left out of what it decodes."""
    from PIL import Image

    from vis.engine._media_kinds import sniff_kind

    ImageCms = pytest.importorskip("PIL.ImageCms")
    profile = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    profile[64:68] = (0x01000000).to_bytes(4, "big")  # the rendering intent: 0..3 are valid
    pixels = np.random.default_rng(0).integers(0, 255, (9, 7, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "odd.png", icc_profile=bytes(profile))
    assert sniff_kind(tmp_path / "odd.png") == "image"
    np.testing.assert_array_equal(np.round(load_image(tmp_path / "odd.png") * 255), pixels)
    assert capfd.readouterr().err == ""
