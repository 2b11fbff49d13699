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
