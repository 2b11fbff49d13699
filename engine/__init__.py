"""Runtime: ORT sessions, the loops (dream, maximize, inspect), the torch backend, image and video IO."""

from vis.engine._images import IMAGE_SUFFIXES, load_image, save_image
from vis.engine._predict import Prediction, predict

__all__ = ["IMAGE_SUFFIXES", "Prediction", "load_image", "predict", "save_image"]
