import numpy as np
import pytest

from vis.models import classification_input, model_spec
from vis.models._preprocess import crop_in_image


@pytest.mark.parametrize("name,shape", [("googlenet", (1, 3, 224, 224)), ("lenet5", (1, 1, 28, 28))])
@pytest.mark.parametrize("hw", [(37, 53), (500, 300), (224, 224)])
def test_classification_input_shape(name, shape, hw) -> None:
    image = np.random.default_rng(0).random((*hw, 3), dtype=np.float32)
    batch = classification_input(image, model_spec(name).preprocessing)
    assert batch.shape == shape and batch.dtype == np.float32
    assert 0.0 <= batch.min() and batch.max() <= 1.0


def test_grey_conversion_uses_luma() -> None:
    image = np.zeros((28, 28, 3), np.float32)
    image[..., 1] = 1.0
    batch = classification_input(image, model_spec("lenet5").preprocessing)
    assert np.allclose(batch, 0.587, atol=1e-6)


@pytest.mark.parametrize("name,hw,expected", [("googlenet", (427, 640), (374, 374)), ("googlenet", (100, 100), (88, 88)),
                                              ("lenet5", (120, 200), (120, 120))])
def test_crop_in_image_is_the_region_the_model_sees(name, hw, expected) -> None:
    """A picture bright inside the predicted region and dark outside reaches the model bright all over."""
    pre = model_spec(name).preprocessing
    assert crop_in_image(hw, pre) == expected
    image = np.zeros((*hw, 3), np.float32)
    (h, w), (ch, cw) = hw, expected
    image[(h - ch) // 2:(h - ch) // 2 + ch, (w - cw) // 2:(w - cw) // 2 + cw] = 1.0
    batch = classification_input(image, pre)[0]
    assert batch[:, 1:-1, 1:-1].min() > 0.99  # the outermost row may mix in the dark rim when resized
    image[:] = 0.0
    image[(h - ch) // 2 + ch + 2:] = 1.0  # a bright band just below the region stays outside
    assert classification_input(image, pre).max() < 0.01


def _resize_then_crop(image: np.ndarray, pre) -> np.ndarray:
    """The evaluation transform as first written: the whole image resized, then the centre crop."""
    import cv2

    h, w = image.shape[:2]
    scale = pre.resize / min(h, w)
    nh, nw = round(h * scale), round(w * scale)
    resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    top, left = (nh - pre.crop) // 2, (nw - pre.crop) // 2
    return resized[top:top + pre.crop, left:left + pre.crop].transpose(2, 0, 1)[None]


@pytest.mark.parametrize("shape", [(300, 451), (451, 300), (20, 300), (301, 20), (2000, 50), (3, 3000)])
def test_long_strips_are_cut_before_the_resize_with_the_same_crop(shape) -> None:
    """A 2x3000 strip resized whole became 256x384000 (1.2 GB); cutting its long side first keeps the crop."""
    import cv2

    from vis.models import classification_input, evaluation_resize, model_spec

    pre = model_spec("efficientnet_lite0").preprocessing
    image = cv2.GaussianBlur(np.random.default_rng(0).random((*shape, 3)).astype(np.float32), (0, 0), 2)
    batch = classification_input(image, pre)
    assert batch.shape == (1, 3, 224, 224)
    assert np.abs(batch - _resize_then_crop(image, pre)).max() < 1e-3
    kept = evaluation_resize(image, pre)  # what a folder scan keeps: the same batch again, exactly
    assert min(kept.shape[:2]) == pre.resize and max(kept.shape[:2]) <= 2.1 * pre.resize
    assert np.array_equal(classification_input(kept, pre), batch)
