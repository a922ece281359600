"""Helpers shared by the benchmark scripts: the test images and a description of the machine."""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
# The test images; BRUSHWORK_IMAGES points elsewhere (a GPU machine without ../shared).
SHARED = Path(os.environ.get("BRUSHWORK_IMAGES", ROOT.parent / "shared" / "images")).resolve()


# The project's own benchmark pictures (a portrait), beside the shared ones.
OWN = ROOT / "benchmarks" / "images"


def test_images(*folders: Path) -> tuple[list[Path], list[Path]]:
    """(photos, paintings) named in the folders' LICENSES.md (default: the shared images and the
    project's own): rows whose description starts with "photograph" are photos, the rest
    paintings; a file name found twice counts once."""
    photos: list[Path] = []
    paintings: list[Path] = []
    seen: set[str] = set()
    for folder in folders or (SHARED, OWN):
        licences = folder / "LICENSES.md"
        for line in licences.read_text().splitlines() if licences.is_file() else []:
            m = re.match(r"\|\s*([\w.-]+\.(?:jpe?g|png))\s*\|\s*([^|]*)\|", line)
            if m and (folder / m.group(1)).is_file() and m.group(1) not in seen:
                seen.add(m.group(1))
                is_photo = m.group(2).strip().lower().startswith("photograph")
                (photos if is_photo else paintings).append(folder / m.group(1))
    return photos, paintings


def parser(doc: str | None) -> argparse.ArgumentParser:
    """A benchmark's command line, its module docstring as the help, laid out as written."""
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def dispatch(
    argv: list[str] | None, child_main: Callable[[list[str]], int], parent_main: Callable[[list[str]], int]
) -> int:
    """Run ``argv`` (default: the command line): after ``--child`` (a process ``run_child`` started)
    by ``child_main``, else by ``parent_main``, which starts those children."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child_main(argv[1:])
    return parent_main(argv)


def run_child(script: str, args: list[str]) -> dict:
    """Run ``script --child ARGS`` in a fresh Python process; its last stdout line is JSON."""
    out = subprocess.run([sys.executable, script, "--child", *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def peak_memory_mb(device: str) -> float:
    """This process's peak: allocated GPU memory on CUDA, else the resident set."""
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# The CPU flags that decide which kernels run: vector width, and native bfloat16.
SIMD_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def machine(device: str) -> str:
    """The device's name; for a CPU its model, the SIMD flags that matter, threads and cores."""
    if device.startswith("cuda"):
        return f"{torch.cuda.get_device_name()} (torch {torch.__version__})"
    cpu, flags = platform.processor() or platform.machine(), []
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = [f for f in SIMD_FLAGS if f in line.split(":", 1)[1].split()]
                break
    except OSError:
        pass
    shown = ", ".join(flags) or "none of " + "/".join(SIMD_FLAGS)
    return (
        f"{cpu} (flags: {shown}), {torch.get_num_threads()} threads, {os.cpu_count()} cores (torch {torch.__version__})"
    )


def write_results(folder: Path, name: str, device: str, title: str, lines: list[str]) -> Path:
    """Write a benchmark's table as ``folder/<name>-<device kind>.md`` with the machine's
    description, print where it went, and return the path."""
    text = "\n".join([f"# {title}", "", f"Machine: {machine(device)}  ", *lines, ""])
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{name}-{device.split(':')[0]}.md"
    out.write_text(text)
    print(f"written to {out}")
    return out
