"""Runtime: ORT sessions, the loops (dream, maximize, inspect), the torch backend, image and video IO."""

from vis.engine._backend import BACKENDS, Backend, make_backend
from vis.engine._images import IMAGE_SUFFIXES, load_image, save_image
from vis.engine._predict import Prediction, predict
from vis.engine._session import (
    BoundRunner,
    ProviderUnavailableError,
    SessionConfig,
    available_providers,
    create_session,
    resolve_providers,
)

__all__ = [
    "BACKENDS",
    "Backend",
    "BoundRunner",
    "IMAGE_SUFFIXES",
    "Prediction",
    "ProviderUnavailableError",
    "SessionConfig",
    "available_providers",
    "create_session",
    "load_image",
    "make_backend",
    "predict",
    "resolve_providers",
    "save_image",
]
