"""Images handed over from Python: the layouts and scales vis converts, and clear errors for the rest (a uint8 photo
was dreamed as noise, and a channels-first array failed deep in ONNX Runtime)."""

from __future__ import annotations

import numpy as np
import pytest

from vis.engine import Attribution, DreamConfig, dream, load_image, make_backend, predict, save_image
from vis.engine._image_array import as_rgb
from vis.engine._inspect import model_batch
from vis.errors import VisError
from vis.exporters import parse_objective
from vis.models import get_model

MODEL = "efficientnet_lite0"


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.random((40, 56, 3)) * 255).astype(np.uint8)


def test_uint8_uint16_and_floats_mean_the_same_picture(photo) -> None:
    floats = photo.astype(np.float32) / 255
    assert np.array_equal(as_rgb(photo), floats)
    assert np.allclose(as_rgb(photo.astype(np.uint16) * 257), floats, atol=1e-6)
    assert as_rgb(floats) is floats or np.array_equal(as_rgb(floats), floats)
    assert np.array_equal(as_rgb(np.clip(floats * 1.01, 0, 1.01)), np.clip(floats * 1.01, 0, 1))  # overshoot clipped


def test_grey_and_rgba_are_converted(photo) -> None:
    grey = photo[..., 0]
    assert np.array_equal(as_rgb(grey), np.repeat(grey[..., None] / np.float32(255), 3, axis=2))
    assert np.array_equal(as_rgb(grey[..., None]), as_rgb(grey))
    rgba = np.concatenate([photo, np.zeros_like(photo[..., :1])], axis=2)
    assert np.array_equal(as_rgb(rgba), np.ones(photo.shape, np.float32))  # transparent is white, as files are read
    rgba[..., 3] = 255
    assert np.array_equal(as_rgb(rgba), as_rgb(photo))


@pytest.mark.parametrize("bad, words", [
    (np.zeros((3, 40, 56), np.float32), "channels first; vis takes HxWx3 RGB: pass image.transpose(1, 2, 0)"),
    (np.zeros((2, 40, 56, 3), np.float32), "a batch"),
    (np.zeros((40, 56, 5), np.float32), "40x56x5"),
    (np.zeros((0, 56, 3), np.float32), "no pixels"),
    (np.full((40, 56, 3), 200.0, np.float32), "up to 200; vis takes floats in [0, 1] (divide 0..255 by 255"),
    (np.full((40, 56, 3), -1.0, np.float32), "down to -1"),
    (np.full((40, 56, 3), np.nan, np.float32), "not finite"),
    (np.zeros((40, 56, 3), np.int64), "int64 pixels"),
])
def test_what_is_no_image_is_said(bad, words) -> None:
    with pytest.raises(VisError, match=None) as e:
        as_rgb(bad)
    assert words in str(e.value)


@pytest.fixture(scope="module")
def net():
    return get_model(MODEL, "imagenet")


def test_dream_takes_uint8_as_its_floats(net, photo) -> None:
    backend = make_backend("ort", MODEL, net, parse_objective("block10", MODEL), threads=1)
    config = DreamConfig(octaves=1, iterations=2)
    from_uint8 = dream(backend, photo, config, rng=3)  # a seed is taken for the generator
    from_floats = dream(backend, photo.astype(np.float32) / 255, config, rng=np.random.default_rng(3))
    assert np.array_equal(from_uint8, from_floats)
    with pytest.raises(VisError, match="channels first"):
        dream(backend, photo.transpose(2, 0, 1), config)


def test_predict_takes_uint8_and_says_what_it_wants(net, photo) -> None:
    floats = photo.astype(np.float32) / 255
    (a,), (b,) = predict(MODEL, net, [photo], top=3), predict(MODEL, net, [floats], top=3)
    assert [c[0] for c in a.classes] == [c[0] for c in b.classes]
    assert np.allclose([c[2] for c in a.classes], [c[2] for c in b.classes])
    with pytest.raises(VisError, match=r"pass \[image\]"):
        predict(MODEL, net, floats)
    with pytest.raises(VisError, match="at least 1"):
        predict(MODEL, net, [floats], top=0)
    with pytest.raises(VisError, match="go up to 25"):
        predict(MODEL, net, [photo.astype(np.float32)])


def test_attribution_takes_images_as_model_batch_makes_them(net, photo) -> None:
    from vis.engine import SessionConfig

    attribution = Attribution(MODEL, net, SessionConfig("cpu", 1))
    batch = model_batch(MODEL, [photo])
    one = attribution.saliency(photo, class_index=5)[0]
    listed = attribution.saliency([photo], class_index=5)[0]
    as_batch = attribution.saliency(batch, class_index=5)[0]
    assert np.array_equal(one.map, as_batch.map) and np.array_equal(listed.map, as_batch.map)
    cam = attribution.grad_cam(photo, "block10", class_index=5)[0]
    assert np.array_equal(cam.heatmap, attribution.grad_cam(batch, "block10", class_index=5)[0].heatmap)
    with pytest.raises(VisError, match=r"\(N, 3, H, W\)"):
        attribution.saliency(batch[:, :1])


def test_save_image_writes_uint8_rgba_and_grey_as_they_look(tmp_path, photo) -> None:
    save_image(tmp_path / "u8.png", photo)
    assert np.array_equal(load_image(tmp_path / "u8.png"), as_rgb(photo))
    red = np.zeros((8, 8, 4), np.float32)
    red[..., 0] = red[..., 3] = 1
    red[:4, :, 3] = 0  # the top half transparent
    save_image(tmp_path / "red.png", red)
    import cv2

    bgra = cv2.imread(str(tmp_path / "red.png"), cv2.IMREAD_UNCHANGED)
    assert bgra.shape == (8, 8, 4) and (bgra[4:, :, 2] == 255).all() and (bgra[4:, :, :2] == 0).all()
    assert (bgra[:4, :, 3] == 0).all() and (bgra[4:, :, 3] == 255).all()
    save_image(tmp_path / "red.jpg", red)  # no alpha in JPEG: composited over white, as it is read back
    back = load_image(tmp_path / "red.jpg")
    assert back[:2].min() > 0.9 and back[6:, :, 0].min() > 0.9 and back[6:, :, 1:].max() < 0.1
    save_image(tmp_path / "grey.png", photo[..., 0])
    assert cv2.imread(str(tmp_path / "grey.png"), cv2.IMREAD_UNCHANGED).ndim == 2
    with pytest.raises(VisError, match="go up to 25"):
        save_image(tmp_path / "bright.png", photo.astype(np.float32))
    with pytest.raises(VisError, match="channels first"):
        save_image(tmp_path / "chw.png", photo.transpose(2, 0, 1))
