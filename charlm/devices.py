"""Turning a device name from a flag or an environment variable into a torch.device this machine has."""

from __future__ import annotations

import torch

from charlm.errors import DeviceError

DEVICE_NAMES = "auto, cpu, cuda, cuda:N or mps"


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
