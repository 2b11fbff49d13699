"""Which pixels and which places decide a class: saliency (plain and SmoothGrad), Grad-CAM and CAM on ONNX Runtime.

Two kinds of gradient graph, each built once per model (and layer) and run through cached ORT sessions:

- ``image, class_weights -> objective, grad, logits`` with ``objective = sum(class_weights * logits)``: with a
  one-hot ``class_weights`` the objective is the class score S_c, so one graph serves every class.
- Grad-CAM cuts the network at layer L: ``image -> A_L, logits`` (forward) and the head
  ``activation, class_weights -> objective, grad, logits`` whose ``grad`` is dS_c/dA_L (the autodiff
  differentiates the head with respect to its input).

Papers: Simonyan et al. 2014 (saliency, https://arxiv.org/abs/1312.6034), Smilkov et al. 2017 (SmoothGrad,
https://arxiv.org/abs/1706.03825), Zhou et al. 2016 (CAM, https://arxiv.org/abs/1512.04150), Selvaraju et al.
2017 (Grad-CAM, https://arxiv.org/abs/1610.02391).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import onnx
import torch
from onnx import TensorProto, helper
from torch import nn

from vis._text import dims
from vis.engine._inspect import layer_info, model_batch
from vis.engine._session import SessionConfig, create_session
from vis.errors import UnknownNameError, VisError
from vis.exporters import ExportConfig, export_onnx
from vis.exporters._onnx_export import INPUT_NAME, check
from vis.models import StagedNet, check_model, model_spec

CLASS_WEIGHTS = "class_weights"
OBJECTIVE = "objective"
GRAD = "grad"
ACTIVATION = "activation"
LOGITS = "logits"

# Global-average-pooled nets: (last spatial layer, the linear classifier right after the pooling). Plain CAM needs
# exactly this structure; the other nets have none.
GAP_HEADS: dict[str, tuple[str, str]] = {
    "googlenet": ("inception5b", "fc"),
    "efficientnet_lite0": ("head", "fc"),
}


@dataclass(frozen=True)
class SaliencyConfig:
    """Options of :meth:`Attribution.saliency`.

    Attributes:
        samples: 0 for Simonyan's plain gradient; N > 0 for SmoothGrad over N noisy copies.
        noise: SmoothGrad's noise standard deviation as a fraction of the image's value spread (max - min).
        batch: noisy copies per ORT run.
        seed: seed of the noise.
    """

    samples: int = 0
    noise: float = 0.15
    batch: int = 8
    seed: int = 0


@dataclass(frozen=True)
class SaliencyMap:
    """Saliency of one image.

    Attributes:
        map: (H, W) max over channels of |dS_c/dI| (SmoothGrad: the mean of that over the noisy copies).
        gradient: (C, H, W) dS_c/dI of the clean image.
        class_index: the class c explained.
        logits: (K,) the model's logits for the clean image.
    """

    map: np.ndarray
    gradient: np.ndarray
    class_index: int
    logits: np.ndarray


@dataclass(frozen=True)
class CamMap:
    """A class activation map of one image.

    Attributes:
        cam: (h, w) the raw map at layer resolution: Grad-CAM ReLU(sum_k alpha_k A_k), CAM sum_k w_ck A_k.
        heatmap: (H, W) the map bilinearly upsampled to the input size and normalised to [0, 1].
        weights: (C,) the channel weights alpha_k (Grad-CAM: spatial mean of dS_c/dA; CAM: fc weights of c).
        class_index: the class c explained.
        logits: (K,) the model's logits.
        layer: the layer L.
    """

    cam: np.ndarray
    heatmap: np.ndarray
    weights: np.ndarray
    class_index: int
    logits: np.ndarray
    layer: str


class _Head(nn.Module):
    """The stages after ``layer``: activation of ``layer`` -> logits."""

    def __init__(self, model: StagedNet, layer: str):
        super().__init__()
        self.model = model
        names = model.layer_names()
        self.start = names.index(layer) + 1

    def forward(self, act: torch.Tensor) -> torch.Tensor:
        h = act
        for stage in self.model.stages()[self.start:]:
            h = stage.fn(h)
        return h


def head_graph(model_name: str, model: StagedNet, layer: str, shape: tuple[int, ...], dynamic: bool = False,
               opset: int = 17) -> onnx.ModelProto:
    """``activation (N, *shape) -> logits``: the network after ``layer`` as an ONNX graph.

    The batch is dynamic; height and width too when ``dynamic`` (nets without a fixed-size classifier).
    """
    wrapper = _Head(model, layer).eval()
    axes = {0: "batch", 2: "height", 3: "width"} if dynamic else {0: "batch"}
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(wrapper, (torch.rand(1, *shape),), buf, dynamo=False, opset_version=opset,
                              input_names=[ACTIVATION], output_names=[LOGITS],
                              dynamic_axes={ACTIVATION: axes, LOGITS: {0: "batch"}}, do_constant_folding=True)
    except Exception as e:  # the exporter raises many unrelated types
        raise VisError(f"exporting the head of {model_name} after {layer} failed: {e}") from e
    return onnx.load_from_string(buf.getvalue())


def score_gradient_graph(proto: onnx.ModelProto, wrt: str, logits: str) -> onnx.ModelProto:
    """Add ``objective = sum(class_weights * logits)`` and its gradient with respect to the input ``wrt``.

    The result has inputs ``wrt`` and ``class_weights`` (1, K) and outputs ``objective``, ``grad`` and ``logits``.
    """
    from vis.exporters._autodiff import add_input_gradient

    proto = _copy(proto)
    graph = proto.graph
    classes = model_dims(graph, logits)[-1]
    graph.input.append(helper.make_tensor_value_info(CLASS_WEIGHTS, TensorProto.FLOAT, [1, classes]))
    graph.node.extend([
        helper.make_node("Mul", [logits, CLASS_WEIGHTS], ["vis_attr/weighted"], name="vis_attr/mul"),
        helper.make_node("ReduceSum", ["vis_attr/weighted"], [OBJECTIVE], name="vis_attr/sum", keepdims=0),
    ])
    logits_vi = next(vi for vi in graph.output if vi.name == logits)
    out = add_input_gradient(proto, wrt=wrt, objective=OBJECTIVE, grad_name=GRAD)
    extra = onnx.ValueInfoProto()
    extra.CopyFrom(logits_vi)
    out.graph.output.append(extra)
    check(out)
    return out


def model_dims(graph: onnx.GraphProto, name: str) -> list[int | str]:
    vi = next(v for v in graph.output if v.name == name)
    return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in vi.type.tensor_type.shape.dim]


def _copy(proto: onnx.ModelProto) -> onnx.ModelProto:
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    return out


def upsample(cam: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear (half-pixel, as torch's align_corners=False) resize of an (h, w) map to ``size`` (H, W)."""
    return cv2.resize(np.ascontiguousarray(cam, np.float32), (size[1], size[0]), interpolation=cv2.INTER_LINEAR)


def normalize_map(m: np.ndarray, shift_min: bool = False) -> np.ndarray:
    """Scale to [0, 1] by the maximum (after subtracting the minimum if ``shift_min``); all-zero stays zero."""
    m = m - m.min() if shift_min else np.maximum(m, 0.0)
    top = float(m.max())
    return (m / top if top > 0 else np.zeros_like(m)).astype(np.float32)


class Attribution:
    """Saliency, Grad-CAM and CAM for one model on ONNX Runtime; graphs and sessions are built on first use.

    Images are one HxWx3 RGB image or a list of them, any size (taken through the model's evaluation transform,
    :func:`vis.engine._inspect.model_batch`), or an (N, C, H, W) float32 batch of model inputs as they are; results
    are per image.
    """

    def __init__(self, model_name: str, model: StagedNet, session: SessionConfig = SessionConfig(), weights: str = ""):
        check_model(model_name, model)
        self.model_name, self.model = model_name, model
        self.spec = model_spec(model_name)
        self.logits_layer = self.spec.logits_layer()
        self.classes = len(self.spec.categories)
        self.session_config = session
        self.weights = weights
        self._sessions: dict[tuple[str, str], object] = {}

    def batch(self, images: np.ndarray | list[np.ndarray]) -> np.ndarray:
        """The (N, C, H, W) model inputs of ``images`` (see the class)."""
        if isinstance(images, np.ndarray) and images.ndim == 4:
            channels = self.spec.preprocessing.channels
            if images.shape[1] != channels:
                raise VisError(f"a batch of {self.model_name} inputs is (N, {channels}, H, W); got "
                               f"{dims(images.shape)} (pass HxWx3 images as a list instead)")
            return np.asarray(images, np.float32)
        return model_batch(self.model_name, images)

    # ------------------------------------------------------------------ sessions

    def graph(self, kind: str, layer: str = "") -> onnx.ModelProto:
        """The ONNX graph behind one kind of session.

        Args:
            kind: ``"saliency"`` (image, class_weights -> objective, grad, logits), ``"forward"`` (image -> the
                activation of ``layer``) or ``"head"`` (activation of ``layer``, class_weights -> objective, grad,
                logits; ``grad`` is dS/dA).
            layer: the Grad-CAM layer of ``"forward"`` and ``"head"``.
        """
        if kind == "saliency":
            fwd = export_onnx(self.model_name, self.model, ExportConfig(layers=(self.logits_layer,), weights=self.weights))
            return score_gradient_graph(fwd, INPUT_NAME, self.logits_layer)
        if kind == "forward":
            return export_onnx(self.model_name, self.model, ExportConfig(layers=(layer,), weights=self.weights))
        if kind == "head":
            shape = layer_info(self.model_name, layer, spatial=True).shape
            dynamic = self.spec.dynamic_size([self.logits_layer])
            return score_gradient_graph(head_graph(self.model_name, self.model, layer, shape, dynamic=dynamic),
                                        ACTIVATION, LOGITS)
        raise UnknownNameError("attribution graph", kind, ("saliency", "forward", "head"))

    def _session(self, kind: str, layer: str = ""):
        key = (kind, layer)
        if key not in self._sessions:
            self._sessions[key] = create_session(self.graph(kind, layer), self.session_config)
        return self._sessions[key]

    def _onehot(self, index: int) -> np.ndarray:
        if not 0 <= index < self.classes:
            raise VisError(f"class {index} is out of range: {self.model_name} has {self.classes} classes (0..{self.classes - 1})")
        w = np.zeros((1, self.classes), np.float32)
        w[0, index] = 1.0
        return w

    def _classify(self, head, acts: np.ndarray, class_index: int | None) -> tuple[int, np.ndarray]:
        """The class to explain (given, or the top one) and the logits, from the head graph."""
        _, _, logits = head.run(None, {ACTIVATION: acts, CLASS_WEIGHTS: np.zeros((1, self.classes), np.float32)})
        return (int(np.argmax(logits[0])) if class_index is None else class_index), logits

    # ------------------------------------------------------------------ saliency

    def saliency(self, images: np.ndarray, class_index: int | None = None, config: SaliencyConfig = SaliencyConfig(),
                 progress: Callable[[int, int], None] | None = None) -> list[SaliencyMap]:
        """Simonyan's saliency map (or SmoothGrad) of each image for class ``class_index`` (default: predicted).

        Args:
            images: see the class.
            class_index: the class c; None explains each image's top class.
            config: plain or SmoothGrad.
            progress: SmoothGrad calls ``progress(done, total)`` after each batch of noisy copies (of all images).
        """
        images = self.batch(images)
        sess = self._session("saliency")
        out = []
        rng = np.random.default_rng(config.seed)
        for x in images:
            x = x[None]
            if class_index is None:
                _, _, logits = sess.run(None, {INPUT_NAME: x, CLASS_WEIGHTS: np.zeros((1, self.classes), np.float32)})
                c = int(np.argmax(logits[0]))
            else:
                c = class_index
            onehot = self._onehot(c)
            _, grad, logits = sess.run(None, {INPUT_NAME: x, CLASS_WEIGHTS: onehot})
            grad = grad[0]
            if config.samples > 0:
                sigma = config.noise * float(x.max() - x.min())
                total = np.zeros(x.shape[2:], np.float64)
                done = 0
                while done < config.samples:
                    n = min(config.batch, config.samples - done)
                    noisy = (x + rng.normal(0.0, sigma, (n, *x.shape[1:]))).astype(np.float32)
                    _, g, _ = sess.run(None, {INPUT_NAME: noisy, CLASS_WEIGHTS: onehot})
                    total += np.abs(g).max(axis=1).sum(axis=0)
                    done += n
                    if progress is not None:
                        progress(len(out) * config.samples + done, len(images) * config.samples)
                smap = (total / config.samples).astype(np.float32)
            else:
                smap = np.abs(grad).max(axis=0)
            out.append(SaliencyMap(smap, grad, c, logits[0]))
        return out

    # ------------------------------------------------------------------ CAM

    def grad_cam(self, images: np.ndarray, layer: str, class_index: int | None = None) -> list[CamMap]:
        """Grad-CAM at ``layer``: alpha_k = mean_ij dS_c/dA_k,ij, CAM = ReLU(sum_k alpha_k A_k), upsampled."""
        layer_info(self.model_name, layer, spatial=True)

        def weigh(head, acts: np.ndarray, c: int) -> np.ndarray:  # noqa: ANN001
            _, grad, _ = head.run(None, {ACTIVATION: acts, CLASS_WEIGHTS: self._onehot(c)})
            return grad[0].mean(axis=(1, 2))

        return self._class_maps(images, layer, class_index, weigh, relu=True)

    def cam_layer(self) -> str:
        """The layer plain CAM reads (the one before the global average pooling)."""
        return plain_cam_layer(self.model_name)

    def cam(self, images: np.ndarray, class_index: int | None = None) -> list[CamMap]:
        """Zhou et al.'s CAM: sum_k w_ck A_k with w the classifier's weights and A the last conv maps."""
        layer = self.cam_layer()
        fc = dict((s.name, s.fn) for s in self.model.stages())[GAP_HEADS[self.model_name][1]]
        if not isinstance(fc, nn.Linear):
            raise VisError(f"{self.model_name}'s classifier is not one linear layer; plain CAM does not apply")
        w = fc.weight.detach().cpu().numpy()
        return self._class_maps(images, layer, class_index, lambda head, acts, c: w[c], relu=False)

    def _class_maps(self, images: np.ndarray, layer: str, class_index: int | None, weigh, relu: bool) -> list[CamMap]:  # noqa: ANN001
        """sum_k weight_k A_k per image, with ``weigh(head, acts, class) -> (K,)``; Grad-CAM keeps the positive
        part and scales by the maximum, plain CAM scales min..max."""
        if class_index is not None:
            self._onehot(class_index)
        images = self.batch(images)
        fwd, head = self._session("forward", layer), self._session("head", layer)
        out = []
        for x in images:
            (acts,) = fwd.run(None, {INPUT_NAME: x[None]})
            c, logits = self._classify(head, acts, class_index)
            weights = np.asarray(weigh(head, acts, c), np.float32)
            cam = np.tensordot(weights, acts[0], axes=1).astype(np.float32)
            if relu:
                cam = np.maximum(cam, 0.0)
            heat = normalize_map(upsample(cam, x.shape[1:]), shift_min=not relu)
            out.append(CamMap(cam, heat, weights, c, logits[0], layer))
        return out

    def default_cam_layer(self) -> str:
        """Grad-CAM's usual choice: the last convolutional maps (relu5_4 of VGG-19, inception5b of GoogLeNet), not a
        pooling of them after (VGG-19's 7x7 avgpool would halve the map's resolution)."""
        from vis.models import layer_table

        return [r.name for r in layer_table(self.model_name)
                if len(r.shape) == 3 and r.kind not in ("pool", "pad", "dropout")][-1]


def plain_cam_layer(model_name: str) -> str:
    """The layer plain CAM reads of ``model_name`` (known without its weights).

    Raises:
        VisError: the model's classifier is not global average pooling and one linear layer.
    """
    if model_name not in GAP_HEADS:
        raise VisError(f"plain CAM needs a global-average-pooled net ({', '.join(GAP_HEADS)}); {model_name} "
                       f"has a different classifier: use Grad-CAM (--method gradcam)")
    return GAP_HEADS[model_name][0]
