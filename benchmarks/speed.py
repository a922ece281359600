"""Speed benchmark: brushwork's optimization step against pastiche's, on the same pictures.

    python benchmarks/speed.py [--sizes 256,512,1024] [--steps 10] [--repeats 2] [--device auto]
                               [--end-to-end]

Each measurement runs in a fresh child process (so peak memory belongs to one tool and one
size), and the two tools alternate, repeat after repeat, so that a busy machine slows both alike.
A step is one L-BFGS iteration (one forward and backward pass); its time is the median over the
repeats of (time of ``steps`` steps after two warm-up steps) / ``steps``. Peak memory is the child's
peak resident set (CPU) or peak allocated GPU memory (CUDA). TFLOP/s counts the convolutions of
the network a step runs (forward and the backward to the image; see ``conv_flops``).
``--end-to-end`` also times ``stylize()`` for 500 steps at 512 px, one scale, in a fresh process.

Prints a table and writes it to benchmarks/results/speed-<device>.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, SHARED, peak_memory_mb, run_child, sync, write_results  # noqa: E402

from brushwork import images  # noqa: E402
from brushwork.devices import resolve  # noqa: E402
from brushwork.vgg import CONV_SHAPES, LAYERS  # noqa: E402

CONTENT, STYLE = SHARED / "tubingen.jpg", SHARED / "starry_night.jpg"
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}  # dense bf16 tensor-core peaks


def conv_flops(h: int, w: int, last: str = "relu5_1") -> float:
    """FLOPs of one step: each convolution up to ``last`` forward (2·C_in·C_out·9·H·W) and once more
    for its gradient with respect to its input (no weight gradients are needed)."""
    total, f = 0.0, 1
    for name in LAYERS[: LAYERS.index(last) + 1]:
        if name.startswith("pool"):
            f *= 2
        elif name.startswith("conv"):
            c_out, c_in = CONV_SHAPES[name][:2]
            total += 2 * c_in * c_out * 9 * (h // f) * (w // f)
    return 2 * total


def child_brushwork(size: int, steps: int, device: str, precision: str) -> dict:
    from brushwork import Config, stylize_iter

    n = steps + 2
    cfg = Config(size=size, start_size=size, iterations=n, device=device, precision=precision)
    # Above 512 px a scale takes fewer steps than ``iterations`` (Config.steps_at): ask for more.
    cfg = cfg.replace(iterations=next(i for i in range(n, 100 * n) if cfg.replace(iterations=i).steps_at(size) >= n))
    times = [ev.elapsed for ev in stylize_iter(CONTENT, [STYLE], cfg, image_every=0)]
    return {"step_s": (times[n - 1] - times[1]) / (n - 2)}


def child_pastiche(size: int, steps: int, device: str) -> dict:
    from pastiche.pastiche import PasticheArtist

    artist = PasticheArtist(str(CONTENT), [str(STYLE)], size=size, device=device)
    for _ in range(2):
        artist.draw()
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        artist.draw()  # reads the loss back every step, so the time is synchronized
    return {"step_s": (time.perf_counter() - start) / steps}


def child_end_to_end(device: str, precision: str) -> dict:
    from brushwork import Config, stylize

    start = time.perf_counter()
    result = stylize(CONTENT, [STYLE], Config(size=512, start_size=512, iterations=500, device=device,
                                               precision=precision))
    return {"call_s": time.perf_counter() - start, "loss": result.losses["total"]}


def child_main(argv: list[str]) -> int:
    kind, size, steps, device, precision = argv[0], int(argv[1]), int(argv[2]), argv[3], argv[4]
    start = time.perf_counter()
    if kind == "brushwork":
        res = child_brushwork(size, steps, device, precision)
    elif kind == "pastiche":
        res = child_pastiche(size, steps, device)
    else:
        res = child_end_to_end(device, precision)
    res.update(peak_mb=peak_memory_mb(device), process_s=time.perf_counter() - start)
    print(json.dumps(res))
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child_main(argv[1:])
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="256,512,1024")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="auto", help="brushwork's --precision")
    p.add_argument("--tools", default="pastiche,brushwork")
    p.add_argument("--end-to-end", action="store_true")
    p.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    args = p.parse_args(argv)
    device = str(resolve(args.device))
    tools = args.tools.split(",")
    rows = ["| size | picture | tool | step s | TFLOP/s | peak MB | step vs pastiche | memory vs pastiche |",
            "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    print(*rows, sep="\n", flush=True)
    gpu = torch.cuda.get_device_name() if device.startswith("cuda") else ""
    peak = next((v for k, v in PEAK_TFLOPS.items() if k in gpu), None)
    for size in (int(s) for s in args.sizes.split(",")):
        got: dict[str, list[dict]] = {t: [] for t in tools}
        for _ in range(args.repeats):
            for tool in tools:
                got[tool].append(run_child(__file__, [tool, str(size), str(args.steps), device, args.precision]))
        h, w = images.fit(size, *images.load(CONTENT).shape[-2:])
        base = got.get("pastiche")
        for tool in tools:
            step = statistics.median(r["step_s"] for r in got[tool])
            mem = max(r["peak_mb"] for r in got[tool])
            tflops = conv_flops(h, w) / step / 1e12
            ratio = mem_ratio = "—"
            if base and tool != "pastiche":
                ratio = f"{statistics.median(r['step_s'] for r in base) / step:.2f}× faster"
                mem_ratio = f"{mem / max(r['peak_mb'] for r in base):.2f}×"
            rows.append(f"| {size} | {w}×{h} | {tool} | {step:.4f} | {tflops:.3g} | {mem:.0f} | {ratio} | {mem_ratio} |")
            print(rows[-1], flush=True)
    notes = []
    if peak:
        notes.append(f"TFLOP/s against the card's dense bf16 peak of {peak:.0f} TFLOP/s.")
    if args.end_to_end:
        r = run_child(__file__, ["end_to_end", "512", "500", device, args.precision])
        notes.append(f"End to end, 500 steps at 512 px, one scale: `stylize()` {r['call_s']:.2f} s, the "
                     f"whole child process after import {r['process_s']:.2f} s, peak {r['peak_mb']:.0f} MB, "
                     f"final loss {r['loss']:.3f}.")
        print(notes[-1])
    write_results(args.results, "speed", device, "Speed benchmark", [
        f"brushwork precision: `{args.precision}`; {args.steps} steps × {args.repeats} repeats, alternating; "
        f"pictures: {CONTENT.name} in the style of {STYLE.name}.", "", *rows, "", *notes])
    return 0


if __name__ == "__main__":
    sys.exit(main())
