"""CUDA graphs benchmark: the same run with each scale's evaluation replayed as one CUDA graph and
with every kernel launched from Python, side by side, alternating, each in a fresh process.

    python benchmarks/cuda_graphs.py [--steps 500] [--size 512] [--repeats 2] [--precision auto]

Modes: graphs off or on, each with cuDNN's heuristics or (``-timed``) its benchmark mode. Each run
is ``stylize()`` at one scale (``start_size = size``), ``--steps`` steps, no early stop (Tübingen ×
The Starry Night). Printed per mode: the whole call, the median step (between progress events,
after the first ten), the GPU's own time per step (torch profiler over ten steps: the kernels'
summed time) and the final loss. Needs a CUDA GPU; writes
benchmarks/results/cuda-graphs-cuda.md.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, SHARED, dispatch, parser, peak_memory_mb, run_child, write_results  # noqa: E402

MODES = ("off-timed", "on-timed", "off", "on")
CONTENT, STYLE = SHARED / "tubingen.jpg", SHARED / "starry_night.jpg"


def child_main(argv: list[str]) -> int:
    from brushwork import Config, devices, stylize_iter

    mode, size, steps, precision = argv[0], int(argv[1]), int(argv[2]), argv[3]
    graphs, devices.CUDNN_BENCHMARK = mode.startswith("on"), mode.endswith("timed")
    cfg = Config(size=size, start_size=size, iterations=steps, tolerance=0, device="cuda", precision=precision)
    cfg = cfg.replace(cuda_graphs=graphs)
    start = time.perf_counter()
    marks, last = [], None
    for last in stylize_iter(CONTENT, [STYLE], cfg, image_every=0):  # noqa: B007 (the last one)
        torch.cuda.synchronize()
        marks.append(time.perf_counter())
    call_s = time.perf_counter() - start
    assert last is not None
    step_s = statistics.median(b - a for a, b in zip(marks[10:], marks[11:], strict=False))
    gpu_ms = _gpu_ms_per_step(cfg.replace(iterations=30))
    print(
        json.dumps(
            {
                "call_s": call_s,
                "step_s": step_s,
                "gpu_ms": gpu_ms,
                "loss": last.losses["total"],
                "steps": last.step,
                "peak_mb": peak_memory_mb("cuda"),
            }
        )
    )
    return 0


def _gpu_ms_per_step(cfg) -> float:
    """The kernels' summed GPU time per step over steps 11-20 of a short run (torch profiler)."""
    from torch.profiler import ProfilerActivity, profile

    from brushwork import stylize_iter

    it = iter(stylize_iter(CONTENT, [STYLE], cfg, image_every=0))
    for _ in range(10):
        next(it)
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(10):
            next(it)
        torch.cuda.synchronize()
    kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    return sum(e.device_time for e in kernels) / 1000 / 10


def main(argv=None) -> int:
    return dispatch(argv, child_main, parent_main)


def parent_main(argv: list[str]) -> int:
    p = parser(__doc__)
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--precision", default="auto")
    p.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    args = p.parse_args(argv)
    rows: dict[str, list[dict]] = {mode: [] for mode in MODES}
    for _ in range(args.repeats):
        for mode in MODES:
            res = run_child(__file__, [mode, str(args.size), str(args.steps), args.precision])
            rows[mode].append(res)
            print(mode, json.dumps(res), flush=True)
    lines = [
        f"`stylize()` at {args.size} px, one scale, {args.steps} steps, precision `{args.precision}`, "
        f"Tübingen × The Starry Night; each run a fresh process, modes alternating, best of {args.repeats}.",
        "",
        "Modes: CUDA graphs on or off; `timed`: cuDNN's benchmark mode (each convolution shape's algorithm "
        "timed at its first use) instead of its heuristics.",
        "",
        "| mode | whole call s | step ms | GPU time per step ms | GPU busy | peak MB | final loss |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for mode in MODES:
        best = min(rows[mode], key=lambda r: r["call_s"])
        lines.append(
            f"| {mode} | {best['call_s']:.2f} | {1000 * best['step_s']:.2f} | {best['gpu_ms']:.2f} | "
            f"{best['gpu_ms'] / (1000 * best['step_s']):.0%} | {best['peak_mb']:.0f} | {best['loss']:.4f} |"
        )
    print("\n".join(lines))
    write_results(args.results, "cuda-graphs", "cuda", "CUDA graphs benchmark", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
