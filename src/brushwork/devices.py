"""Turning the ``device`` option into a torch.device that exists on this machine."""

from __future__ import annotations

import torch


class DeviceError(RuntimeError):
    """A device that this machine does not have."""


def resolve(name: str) -> torch.device:
    """``auto`` -> cuda, then mps, then cpu; anything else is checked to exist."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {name!r} asked for, but this machine has no CUDA GPU; use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"device {name!r} asked for, but only {torch.cuda.device_count()} CUDA GPU(s) exist")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError("device 'mps' asked for, but MPS is not available here; use --device cpu")
    return device
