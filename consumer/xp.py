"""Choose the array module (CuPy on a GPU, NumPy otherwise) that stage 3 computes with.

Every feature kernel is written once against an ``xp`` argument; this module decides
which library that is and how results come back to host memory.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

DEVICES = ("auto", "cpu", "gpu")


def _cupy_with_device() -> tuple[ModuleType, str] | None:
    """CuPy and a device label, or None when CuPy is missing or sees no GPU."""
    try:
        import cupy  # optional dependency, imported only when asked for
    except Exception:  # ImportError, or a CUDA library that fails to load
        return None
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None
        device_id = cupy.cuda.Device().id
        name = cupy.cuda.runtime.getDeviceProperties(device_id)["name"]
    except Exception:  # cupy present but no driver / no device
        return None
    if isinstance(name, bytes):
        name = name.decode(errors="replace")
    return cupy, f"cuda:{device_id} {name}"


def array_module(device: str = "auto") -> tuple[ModuleType, str]:
    """Return ``(xp, label)`` for ``device`` in {"auto", "cpu", "gpu"}.

    "auto" picks CuPy when it imports and finds a device, NumPy otherwise;
    "gpu" insists on CuPy and raises RuntimeError when it cannot have it.
    """
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    if device == "cpu":
        return np, "cpu"
    found = _cupy_with_device()
    if found is not None:
        return found
    if device == "gpu":
        raise RuntimeError(
            "--device gpu needs CuPy and a visible CUDA device; install the `gpu` extra "
            "(pip install '.[gpu]') on a machine with a GPU, or run with --device cpu"
        )
    return np, "cpu"


def to_host(a: Any) -> np.ndarray:
    """Copy an xp array to a NumPy array (a no-op for NumPy input)."""
    get = getattr(a, "get", None)  # cupy.ndarray.get() copies device -> host
    return np.asarray(get() if callable(get) else a)
