"""vis's native CPU kernels for ONNX Runtime: built from source on first use, cached, optional.

``_native_src/vis_ops.cc`` holds MaxPoolGrad and ReluGrad as ORT custom ops (see its header comment). The first CPU
session that can use them compiles the file with the system's C++ compiler (about a second) into vis's cache
directory; later sessions load the cached library. Without a compiler, or with ``VIS_NATIVE=0``, graphs run as
exported (standard ONNX, 1.2-1.56x slower gradients for GoogLeNet), and nothing else changes.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from vis._cache import cache_dir as vis_cache_dir

SOURCE = Path(__file__).with_name("_native_src") / "vis_ops.cc"
DISABLE_ENV = "VIS_NATIVE"


def enabled() -> bool:
    """False when the user switched the native kernels off (``VIS_NATIVE=0``)."""
    return os.environ.get(DISABLE_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def describe() -> str:
    """One line on whether CPU sessions use the native kernels, and why not when they do not."""
    if not enabled():
        return f"off ({DISABLE_ENV}=0)"
    if sys.platform != "linux":
        return "unavailable (built on Linux only; standard ONNX graphs run)"
    built = _build()
    if isinstance(built, str):
        return f"unavailable ({built}; standard ONNX graphs run)"
    return f"in use ({built})"


def cache_dir() -> Path:
    return vis_cache_dir() / "native"


def library_path() -> Path | None:
    """The native kernel library for this machine (built if needed), or None when it cannot be had."""
    if not enabled() or sys.platform != "linux":
        return None
    built = _build()
    return None if isinstance(built, str) else built


@functools.lru_cache(maxsize=1)
def _build() -> Path | str:
    """The library, or why there is none (kept for ``describe``: a failed build only makes gradients slower)."""
    compiler = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    if not compiler or not shutil.which(compiler):
        return f"no C++ compiler{f' at CXX={compiler}' if compiler else ''}"
    flags = ["-O3", "-march=native", "-std=c++17", "-shared", "-fPIC", "-fvisibility=hidden"]
    # -march=native code is for this CPU only: the key names the CPU so a shared home directory stays safe.
    key = hashlib.sha256(SOURCE.read_bytes() + " ".join([compiler, *flags, _cpu_id()]).encode()).hexdigest()[:16]
    target = cache_dir() / f"libvis_ops-{key}.so"
    if target.exists():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            built = Path(tmp) / target.name
            subprocess.run([compiler, *flags, "-o", str(built), str(SOURCE)], check=True, capture_output=True, timeout=120)
            os.replace(built, target)  # atomic: a concurrent session sees the whole file or none
    except subprocess.CalledProcessError as e:
        said = e.stderr.decode(errors="replace").strip().splitlines()
        return f"{compiler} failed (exit {e.returncode}){f': {said[0][:160]}' if said else ''}"
    except subprocess.TimeoutExpired:
        return f"{compiler} took over 120 s"
    except OSError as e:
        return f"cannot build in {target.parent}: {e.strerror or e}"
    return target


def _cpu_id() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.machine()
    wanted = [ln for ln in lines if ln.startswith(("model name", "flags"))][:2]
    return platform.machine() + "|".join(wanted)
