"""Turning a device name from a flag or an environment variable into a torch.device this machine has."""

from __future__ import annotations

from pathlib import Path

import torch

from charlm.errors import DeviceError

DEVICE_NAMES = "auto, cpu, cuda, cuda:N or mps"
# One name per precision everywhere (the engine's weights, training's autocast, the benches, the
# command lines): PyTorch's own dtype names. "auto" beside them means: pick for this device.
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "int8": torch.int8}


def resolve_device(name: str | torch.device) -> torch.device:
    """`auto` is CUDA where it works, else the CPU; any other name must be a device present here.

    torch.device() accepts names of hardware this machine lacks; the failure would only come at the
    first tensor moved there, as a long traceback. Checking here turns it into one sentence.
    """
    if isinstance(name, torch.device):
        name = str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise DeviceError(f"{name!r} is not a device name; use {DEVICE_NAMES}.") from None
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"{name} was asked for, but this machine (or this build of torch) "
                              "has no usable CUDA GPU; use cpu or auto.")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise DeviceError(f"{name} does not exist: this machine has {count} CUDA device(s).")
        return device
    if device.type == "mps":
        if not torch.backends.mps.is_available():
            raise DeviceError(f"{name} was asked for, but this machine has no usable Apple GPU; "
                              "use cpu or auto.")
        return device
    raise DeviceError(f"{name!r} is not supported; use {DEVICE_NAMES}.")


def _cpu_has_any_flag(*names: str) -> bool:
    """True where /proc/cpuinfo lists any of these instruction-set flags."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(name in flags for name in names)


def cpu_has_native_bf16() -> bool:
    """True where the CPU multiplies bf16 natively (AVX512-BF16 or AMX); elsewhere bf16 is emulated
    and slower than float32."""
    return _cpu_has_any_flag("avx512_bf16", "amx_bf16")


def cpu_has_int8_dot() -> bool:
    """True where the CPU has int8 dot-product instructions (VNNI or AMX), which `torch._int_mm`
    uses; without them int8 products are not promised to be faster."""
    return _cpu_has_any_flag("avx512_vnni", "avx_vnni", "amx_int8")


def bf16_is_native(device: torch.device) -> bool:
    """True where `device` multiplies bf16 in hardware: a CPU with AVX512-BF16 or AMX, or a CUDA GPU
    that supports it (Ampere and later)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and cpu_has_native_bf16()
