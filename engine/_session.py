"""ONNX Runtime sessions: provider choice, thread settings, a cache, and IOBinding runs."""

from __future__ import annotations

import functools
import hashlib
import importlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import onnx
import onnxruntime as ort

from vis._cache import cache_dir
from vis.errors import UnknownNameError, VisError

PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}


class ProviderUnavailableError(VisError):
    """The execution provider asked for is not in this onnxruntime build or has no device."""


def available_providers() -> list[str]:
    """vis names of the providers this onnxruntime offers (``cpu``, ``cuda``, ``tensorrt``).

    onnxruntime-gpu lists TensorRT whether or not TensorRT itself is installed; it counts here only when its library
    loads, so ``--provider tensorrt`` fails up front rather than mid-run.
    """
    have = set(ort.get_available_providers())
    return [name for name, full in PROVIDERS.items() if full in have and (name != "tensorrt" or tensorrt_loads())]


@functools.lru_cache(maxsize=1)
def tensorrt_loads() -> bool:
    """Whether TensorRT's runtime library (what ORT's TensorRT provider needs) can be loaded."""
    import ctypes

    try:  # TensorRT from pip keeps its libraries in the tensorrt_libs package, off the loader's path until imported
        importlib.import_module("tensorrt")
        return True
    except Exception:  # noqa: BLE001 - absent, or present and broken: try the system's libraries
        pass
    for name in ("libnvinfer.so.10", "libnvinfer.so", "nvinfer_10.dll", "nvinfer.dll"):
        try:
            ctypes.CDLL(name)
            return True
        except OSError:
            continue
    return False


class CudaGraphError(VisError):
    """CUDA graph capture was asked for where it cannot work (not the cuda provider)."""


def provider_list(provider: str, *, cuda_graph: bool = False, device_id: int = 0,
                  trt_cache: str | None = None) -> list[str | tuple[str, dict[str, str]]]:
    """The ORT provider list (with provider options) for a resolved vis provider name; checks no availability.

    ``cuda_graph`` sets the CUDA provider's ``enable_cuda_graph``: ORT then captures the first runs of a session and
    replays them, which needs every input and output bound at the same device address on every run (see
    :class:`vis.engine._device_dream.DeviceDreamer`). Only the cuda provider has it: asking elsewhere is an error.
    """
    if provider not in PROVIDERS:
        raise UnknownNameError("provider", provider, ["auto", *PROVIDERS])
    if cuda_graph and provider != "cuda":
        raise CudaGraphError(f"CUDA graphs need the cuda execution provider, not {provider}: use --provider cuda "
                             "or leave CUDA graphs off")
    if device_id < 0:
        raise VisError(f"device id must be >= 0, got {device_id}")
    cuda: str | tuple[str, dict[str, str]] = PROVIDERS["cuda"]
    if cuda_graph or device_id:
        # ORT reads provider options as strings
        options = {"device_id": str(device_id)}
        if cuda_graph:
            options["enable_cuda_graph"] = "1"
        cuda = (PROVIDERS["cuda"], options)
    if provider == "tensorrt":
        trt = {"trt_fp16_enable": True, "trt_engine_cache_enable": True,
               "trt_engine_cache_path": trt_cache or str(cache_dir() / "trt")}
        if device_id:
            trt["device_id"] = str(device_id)
        return [(PROVIDERS["tensorrt"], trt), cuda, PROVIDERS["cpu"]]
    if provider == "cuda":
        return [cuda, PROVIDERS["cpu"]]
    return [PROVIDERS["cpu"]]


def check_provider_name(provider: str) -> None:
    """Raise :class:`UnknownNameError` unless ``provider`` is ``auto`` or one of :data:`PROVIDERS`."""
    if provider != "auto" and provider not in PROVIDERS:
        likely = ["cuda", "tensorrt"] if provider.lower() in ("gpu", "nvidia") else []  # providers name the library
        raise UnknownNameError("provider", provider, ["auto", *PROVIDERS], near=likely)


def resolve_provider(provider: str) -> str:
    """``auto|cpu|cuda|tensorrt`` -> the vis name of an available provider; a missing one is an error, not a fallback."""
    check_provider_name(provider)
    if provider == "auto":
        have = available_providers()
        provider = "cuda" if "cuda" in have else "cpu"
    if provider not in available_providers():
        raise ProviderUnavailableError(
            f"the {provider} execution provider is not available in this onnxruntime "
            f"({ort.__version__}, providers: {', '.join(ort.get_available_providers())}). "
            + ("Install onnxruntime-gpu on a machine with an NVIDIA GPU, or use --provider cpu." if provider != "cpu" else "")
        )
    return provider


def resolve_providers(provider: str, trt_cache: str | None = None, *, cuda_graph: bool = False,
                      device_id: int = 0) -> list[str | tuple[str, dict]]:
    """The ORT provider list for ``auto|cpu|cuda|tensorrt``; asking for a missing one is an error, not a fallback."""
    return provider_list(resolve_provider(provider), cuda_graph=cuda_graph, device_id=device_id, trt_cache=trt_cache)


@dataclass(frozen=True)
class SessionConfig:
    """Provider and threads of a session. ``threads`` 0 lets ORT use every core.

    Attributes:
        cuda_graph: capture and replay CUDA graphs (cuda provider only; inputs and outputs must stay bound at fixed
            device addresses, so only fixed-shape loops such as the device dream loop may use it).
        device_id: the GPU of the cuda and tensorrt providers.
    """

    provider: str = "auto"
    threads: int = 0
    optimization: str = "all"  # all | basic | none
    cuda_graph: bool = False
    device_id: int = 0

    def providers(self) -> list[str | tuple[str, dict]]:
        """The ORT provider list with options; raises for a missing provider or CUDA graphs off cuda."""
        return resolve_providers(self.provider, cuda_graph=self.cuda_graph, device_id=self.device_id)

    def device(self) -> tuple[str, int]:
        """Where OrtValues of this config's sessions live: ``("cuda", id)`` on cuda/tensorrt, else ``("cpu", 0)``."""
        return ("cuda", self.device_id) if resolve_provider(self.provider) in ("cuda", "tensorrt") else ("cpu", 0)


_CACHE: dict[tuple[str, SessionConfig, tuple | None], ort.InferenceSession] = {}


def graph_key(proto: onnx.ModelProto) -> str:
    return hashlib.sha1(proto.SerializeToString()).hexdigest()


def create_session(proto: onnx.ModelProto, config: SessionConfig = SessionConfig(), shape: tuple | None = None) -> ort.InferenceSession:
    """A cached session for ``proto``; the cache key is (graph, the whole config, input shape). A session that
    captures CUDA graphs is not cached: ORT replays a captured graph id without looking at the bindings, so a
    second user of the session numbering its graphs from 1 again would run on the first one's buffers."""
    key = (graph_key(proto), config, shape)
    if key in _CACHE:
        return _CACHE[key]
    options = ort.SessionOptions()
    options.intra_op_num_threads = config.threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = {
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    }[config.optimization]
    options.log_severity_level = 3
    providers = config.providers()
    if isinstance(providers[0], tuple) and providers[0][0] == PROVIDERS["tensorrt"]:
        providers[0] = (providers[0][0], {**providers[0][1], "trt_engine_cache_path": _trt_cache_for(proto)})
    if providers == [PROVIDERS["cpu"]]:
        # The planned memory pattern keeps one block sized for every tensor of the gradient graph alive: on CPU the
        # arena without it peaks ~40% lower (GoogLeNet to inception4c at 512: 430 -> 270 MiB) at the same speed.
        options.enable_mem_pattern = False
        # Idle ORT threads spin between runs by default, taking the cores the video loop's flow, decoder and encoder
        # threads need: a 20-frame 640x360 video dream ran 1.33x faster without (quiet host), 1.73x with one other job
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        proto = _with_native_kernels(proto, options)
    else:
        from vis.exporters._rewrite import symmetric_conv_transpose_pads

        proto = symmetric_conv_transpose_pads(proto)  # else those ConvTransposes leave the GPU
    session = ort.InferenceSession(proto.SerializeToString(), options, providers=providers)
    wanted = providers[0] if isinstance(providers[0], str) else providers[0][0]
    if wanted not in session.get_providers():
        # ORT logs the failure and quietly runs on the CPU instead: say so rather than dream 50x slower
        raise ProviderUnavailableError(
            f"onnxruntime {ort.__version__} could not start the {config.provider} provider (its CUDA, cuDNN or TensorRT "
            "libraries did not load: install onnxruntime-gpu with the CUDA libraries it was built for, e.g. "
            "`pip install onnxruntime-gpu[cuda,cudnn]`), or use --provider cpu")
    if not config.cuda_graph:
        _CACHE[key] = session
    return session


def _trt_cache_for(proto: onnx.ModelProto) -> str:
    """A TensorRT engine cache folder of this graph's own (made here: TensorRT makes no parent folders). Its cache
    names hash the graph's names and shapes, not the weights: a shared folder would hand a random-weight GoogLeNet's
    engine to the ImageNet one."""
    folder = cache_dir() / "trt" / graph_key(proto)[:16]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise VisError(f"cannot make TensorRT's engine cache folder {folder}: {e.strerror or e} (set VIS_CACHE to a "
                       "writable folder)") from None
    return str(folder)


def _with_native_kernels(proto: onnx.ModelProto, options: ort.SessionOptions) -> onnx.ModelProto:
    """``proto`` with its recorded backward routes on vis's native CPU kernels, when the library is available."""
    from vis.engine._native import library_path
    from vis.exporters._native_routes import apply_native_routes, native_routes

    if not native_routes(proto):
        return proto
    library = library_path()
    if library is None:
        return proto
    rewritten, applied = apply_native_routes(proto)
    if not applied:
        return proto
    try:
        options.register_custom_ops_library(str(library))
    except Exception:  # a library this onnxruntime cannot load: the standard graph is just slower
        return proto
    return rewritten


def clear_session_cache() -> None:
    _CACHE.clear()


def ping_pong_bindings(session: ort.InferenceSession, buffers: tuple[ort.OrtValue, ort.OrtValue],
                       inputs: Mapping[str, ort.OrtValue], objective: ort.OrtValue,
                       graph_ids: tuple[int, int] | None = None) -> tuple[list, list]:
    """The two directions of a step session's ping-pong, each bound once: direction k reads ``buffers[k]`` as
    ``image`` and writes ``buffers[1 - k]`` as ``image_out``; ``inputs`` and the ``objective`` output are the same
    for both. With ``graph_ids`` each direction gets run options naming its own CUDA graph (ORT's ``gpu_graph_id``;
    0 is ORT's default id, so callers start at 1).

    Returns the two bindings and their run options (``None`` without CUDA graphs).
    """
    bindings, options = [], []
    for k in (0, 1):
        binding = session.io_binding()
        binding.bind_ortvalue_input("image", buffers[k])
        for name, value in inputs.items():
            binding.bind_ortvalue_input(name, value)
        binding.bind_ortvalue_output("image_out", buffers[1 - k])
        binding.bind_ortvalue_output("objective", objective)
        bindings.append(binding)
        run_options = None
        if graph_ids is not None:
            run_options = ort.RunOptions()
            run_options.add_run_config_entry("gpu_graph_id", str(graph_ids[k]))
        options.append(run_options)
    return bindings, options


class BoundRunner:
    """Runs a session through IOBinding with OrtValues, so inputs and outputs can stay on the session's device.

    On CPU the OrtValues are host memory; on CUDA they live on the GPU and only ``fetch`` copies back.
    """

    def __init__(self, session: ort.InferenceSession, device: str = "cpu", device_id: int = 0):
        self.session = session
        self.device, self.device_id = device, device_id
        self.binding = session.io_binding()
        self.outputs = [o.name for o in session.get_outputs()]

    def to_device(self, array: np.ndarray) -> ort.OrtValue:
        return ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(array), self.device, self.device_id)

    def run(self, inputs: Mapping[str, np.ndarray | ort.OrtValue]) -> list[ort.OrtValue]:
        """Bind ``inputs`` (arrays are copied to the device once), run, and return the outputs as OrtValues."""
        self.binding.clear_binding_inputs()
        self.binding.clear_binding_outputs()
        for name, value in inputs.items():
            if isinstance(value, np.ndarray):
                value = self.to_device(value)
            self.binding.bind_ortvalue_input(name, value)
        for name in self.outputs:
            self.binding.bind_output(name, self.device, self.device_id)
        self.session.run_with_iobinding(self.binding)
        return self.binding.get_outputs()
