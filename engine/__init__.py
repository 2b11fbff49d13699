"""Runtime: ORT sessions, the loops (dream, maximize, inspect), the torch backend, image and video IO."""

from vis.engine._attribution import Attribution, SaliencyConfig
from vis.engine._backend import BACKENDS, Backend, make_backend
from vis.engine._device_dream import DeviceDreamer
from vis.engine._dream import DreamConfig, VideoDreamConfig, dream, dream_frames, dream_zoom
from vis.engine._images import IMAGE_SUFFIXES, load_image, save_image
from vis.engine._inspect import feature_maps, filter_weights, scan_images
from vis.engine._maximize import MaximizeConfig, atlas, maximize, maximize_units
from vis.engine._predict import Prediction, predict
from vis.engine._session import (
    BoundRunner,
    CudaGraphError,
    ProviderUnavailableError,
    SessionConfig,
    available_providers,
    create_session,
    resolve_providers,
)
from vis.engine._style import StyleConfig, style_transfer
from vis.engine._train import TrainConfig, train_lenet
from vis.engine._video import VideoSink, VideoSource, WebcamSource

__all__ = [
    "BACKENDS",
    "Attribution",
    "Backend",
    "BoundRunner",
    "CudaGraphError",
    "DeviceDreamer",
    "DreamConfig",
    "IMAGE_SUFFIXES",
    "MaximizeConfig",
    "Prediction",
    "ProviderUnavailableError",
    "SaliencyConfig",
    "SessionConfig",
    "StyleConfig",
    "TrainConfig",
    "VideoDreamConfig",
    "VideoSink",
    "VideoSource",
    "WebcamSource",
    "atlas",
    "available_providers",
    "create_session",
    "dream",
    "dream_frames",
    "dream_zoom",
    "feature_maps",
    "filter_weights",
    "load_image",
    "make_backend",
    "maximize",
    "maximize_units",
    "predict",
    "resolve_providers",
    "save_image",
    "scan_images",
    "style_transfer",
    "train_lenet",
]
