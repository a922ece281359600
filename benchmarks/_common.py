"""Helpers shared by the benchmark scripts: the test images and a description of the machine."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "images"


def test_images(folder: Path = SHARED) -> tuple[list[Path], list[Path]]:
    """(photos, paintings) named in the folder's LICENSES.md: rows whose description starts
    with "photograph" are photos, the rest paintings."""
    photos, paintings = [], []
    for line in (folder / "LICENSES.md").read_text().splitlines():
        m = re.match(r"\|\s*([\w.-]+\.(?:jpe?g|png))\s*\|\s*([^|]*)\|", line)
        if m and (folder / m.group(1)).is_file():
            (photos if m.group(2).strip().lower().startswith("photograph") else paintings).append(folder / m.group(1))
    return photos, paintings


def machine(device: str) -> str:
    if device.startswith("cuda"):
        return f"{torch.cuda.get_device_name()} (torch {torch.__version__})"
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {torch.get_num_threads()} threads, {os.cpu_count()} cores (torch {torch.__version__})"
