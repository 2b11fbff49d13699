import numpy as np
import pytest

from vis.engine import load_image, save_image
from vis.errors import InputFileError, OutputExistsError


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


@pytest.mark.parametrize("kind,match", [("missing", "not found"), ("text", "not a readable image")])
def test_bad_images(image_files, kind, match) -> None:
    with pytest.raises(InputFileError, match=match):
        load_image(image_files[kind])


def test_save_roundtrip_and_no_overwrite(tmp_path) -> None:
    image = np.random.default_rng(1).random((9, 11, 3), dtype=np.float32)
    path = save_image(tmp_path / "sub" / "out.png", image)
    assert np.abs(load_image(path) - image).max() <= 1 / 255
    with pytest.raises(OutputExistsError, match="--overwrite"):
        save_image(path, image)
    save_image(path, image, overwrite=True)
