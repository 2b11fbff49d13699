import numpy as np
import pytest

from vis.models import classification_input, model_spec


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
