"""Turning the ``device`` option into a torch.device that exists on this machine."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

import torch

from .config import PRECISIONS, parse_device


class DeviceError(RuntimeError):
    """A device that this machine does not have."""


def resolve(name: str) -> torch.device:
    """``auto`` -> cuda, then mps, then cpu; anything else is checked to exist."""
    if parse_device(name)[0] == "auto":
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


_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX); without it oneDNN emulates
    bfloat16 and float32 is faster."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
        return "avx512_bf16" in flags or "amx_bf16" in flags
    except OSError:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def resolve_precision(name: str, device: torch.device) -> torch.dtype:
    """The dtype the network runs in: ``auto`` picks bf16 where the hardware computes it
    natively (CUDA with bf16, CPUs with AVX512-BF16/AMX) and fp32 elsewhere (on CUDA, fp32
    convolutions use TF32). Costs, Grams and the optimizer always stay in float32."""
    if name not in PRECISIONS:
        raise DeviceError(f"--precision must be one of {', '.join(PRECISIONS)}, not {name!r}")
    if name == "auto":
        if device.type == "cuda":
            name = "bf16" if torch.cuda.is_bf16_supported() else "fp32"
        elif device.type == "cpu":
            name = "bf16" if cpu_has_bf16() else "fp32"
        else:
            name = "fp32"  # MPS: not measured here; --precision fp16 is there to try
    if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise DeviceError("this GPU has no bfloat16; use --precision fp16 or fp32")
    return _DTYPES[name]


# cuDNN's benchmark mode times every algorithm for each new convolution shape: measured on an H200
# (benchmarks/cuda_graphs.py) it costs about a second of set-up per scale for no faster step.
CUDNN_BENCHMARK = False


def tune(device: torch.device) -> None:
    """Backend settings for speed: cuDNN's choice of algorithm (``CUDNN_BENCHMARK``); on the
    CPU, freed activations stay in the process's heap for the next step (``keep_freed_memory``)."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = CUDNN_BENCHMARK
    elif device.type == "cpu":
        keep_freed_memory()


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt() parameters (malloc.h)


@functools.cache
def keep_freed_memory() -> None:
    """Make glibc's malloc keep freed blocks of up to 32 MB (its largest setting) for reuse, where
    by default it hands each large block back to the system and maps it afresh: a step at 512 px
    allocates ~200 MB of activations and gradients, and touching fresh pages cost 30–50 thousand
    page faults a step, a quarter of its time (benchmarks/speed.py). Once per process; nothing on
    other C libraries."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, 32 * 2**20)
    mallopt(_M_TRIM_THRESHOLD, 2**30)  # and keep up to 1 GB freed at the heap's top, not trimmed
