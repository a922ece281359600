"""Speed benchmark: brushwork's optimization step against pastiche's, on the same pictures.

    python benchmarks/speed.py [--sizes 256,512,1024] [--steps 10] [--repeats 2] [--device auto]
                               [--end-to-end] [--style-losses gram,w2,swd,nn]

Each measurement runs in a fresh child process (so peak memory belongs to one tool and one
size), and the two tools alternate, repeat after repeat, so that a busy machine slows both alike.
A step is one L-BFGS iteration (one forward and backward pass); its time is the median over the
repeats of (time of ``steps`` steps after two warm-up steps) / ``steps``. Peak memory is the child's
peak resident set (CPU) or peak allocated GPU memory (CUDA). TFLOP/s counts the convolutions of
the network a step runs (forward and the backward to the image; see ``conv_flops``). The floor row
times those convolutions alone (brushwork's network, precision and layout, on the activations of
the same picture; ``child_floor``): "step vs floor" is what the rest of a step costs on top.
``--end-to-end`` also times ``stylize()`` for 500 steps at 512 px, one scale, in a fresh process.
``--style-losses`` adds a brushwork row per style loss besides gram (tool ``brushwork-swd`` …), with
its step time and peak memory against brushwork's gram ("vs gram").

Prints a table and writes it to benchmarks/results/speed-<device>.md.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, SHARED, dispatch, parser, peak_memory_mb, run_child, sync, write_results  # noqa: E402

from brushwork import images  # noqa: E402
from brushwork.devices import resolve  # noqa: E402
from brushwork.layers import CONV_SHAPES, LAYERS  # noqa: E402

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


def child_brushwork(size: int, steps: int, device: str, precision: str, style_loss: str = "gram") -> dict:
    from brushwork import Config, stylize_iter

    n = steps + 2
    cfg = Config(
        size=size, start_size=size, iterations=n, device=device, precision=precision, style_loss=style_loss, tolerance=0
    )
    # Above 512 px a scale takes fewer steps than ``iterations`` (Config.steps): ask for more.
    cfg = cfg.replace(iterations=next(i for i in range(n, 100 * n) if cfg.replace(iterations=i).steps()[-1] >= n))
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


def child_floor(size: int, steps: int, device: str, precision: str) -> dict:
    """The convolutions of one step alone, in the step's own order: each conv of brushwork's own
    network (same precision, layout and picture) forward, on the activations a real forward pass
    feeds it, then the gradients to their inputs from the deepest back; the median over ``steps``
    repeats after two warm-ups."""
    from brushwork import Config
    from brushwork.devices import resolve as resolve_device
    from brushwork.network import network

    dev = resolve_device(device)
    net, _ = network(Config(size=size, start_size=size, device=device, precision=precision), dev)
    h, w = images.fit(size, *images.load(CONTENT).shape[-2:])
    picture = images.resize(images.load(CONTENT), (h, w)).to(dev)
    layout = torch.channels_last if net.channels_last else torch.contiguous_format
    feeds = [n for n in net.names if not n.startswith("conv")]
    with torch.no_grad():
        acts = net(picture, feeds)  # each conv's input: the layer before it (its scale taken back out)
        acts = {n: a / net.unfolded_scale(n) for n, a in acts.items()}
    acts["input"] = net.preprocess(picture).to(net.dtype).contiguous(memory_format=layout)
    seen = {
        name: acts[net.names[i - 1] if i else "input"] for i, name in enumerate(net.names) if name.startswith("conv")
    }
    autocast = torch.autocast(dev.type, dtype=net.dtype, enabled=net.dtype != torch.float32)
    with autocast, torch.no_grad():
        grads = {name: torch.randn_like(conv(seen[name])) for name, conv in net.convs.items()}
    times = []
    for i in range(steps + 2):
        sync(device)
        start = time.perf_counter()
        with autocast:
            outs = [
                (seen[name].requires_grad_(True), conv(seen[name]), grads[name]) for name, conv in net.convs.items()
            ]
            for a, out, g in reversed(outs):
                torch.autograd.grad(out, a, g)
        sync(device)
        if i >= 2:
            times.append(time.perf_counter() - start)
        del outs
    return {"step_s": statistics.median(times)}


def child_end_to_end(device: str, precision: str) -> dict:
    from brushwork import Config, stylize

    start = time.perf_counter()
    result = stylize(
        CONTENT, [STYLE], Config(size=512, start_size=512, iterations=500, device=device, precision=precision)
    )
    return {"call_s": time.perf_counter() - start, "loss": result.losses["total"]}


def child_main(argv: list[str]) -> int:
    kind, size, steps, device, precision = argv[0], int(argv[1]), int(argv[2]), argv[3], argv[4]
    start = time.perf_counter()
    if kind.startswith("brushwork"):  # brushwork-LOSS: another style loss than gram
        res = child_brushwork(size, steps, device, precision, kind.partition("-")[2] or "gram")
    elif kind == "floor":
        res = child_floor(size, steps, device, precision)
    elif kind == "pastiche":
        res = child_pastiche(size, steps, device)
    else:
        res = child_end_to_end(device, precision)
    res.update(peak_mb=peak_memory_mb(device), process_s=time.perf_counter() - start)
    print(json.dumps(res))
    return 0


def main(argv=None) -> int:
    return dispatch(argv, child_main, parent_main)


def parent_main(argv: list[str]) -> int:
    p = parser(__doc__)
    p.add_argument("--sizes", default="256,512,1024")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="auto", help="brushwork's --precision")
    p.add_argument("--tools", default="pastiche,brushwork")
    p.add_argument("--end-to-end", action="store_true")
    p.add_argument("--style-losses", default="gram", help="brushwork's style losses to time, e.g. gram,w2,swd,nn")
    p.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    args = p.parse_args(argv)
    device = str(resolve(args.device))
    tools = args.tools.split(",")
    if "brushwork" in tools:
        tools += [f"brushwork-{loss}" for loss in args.style_losses.split(",") if loss != "gram"]
    kinds = tools + ["floor"]  # the convolutions alone, in brushwork's precision and layout
    rows = [
        "| size | picture | tool | step s | TFLOP/s | peak MB | step vs floor | step vs pastiche "
        "| memory vs pastiche | step, memory vs gram |",
        "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    print(*rows, sep="\n", flush=True)
    gpu = torch.cuda.get_device_name() if device.startswith("cuda") else ""
    peak = next((v for k, v in PEAK_TFLOPS.items() if k in gpu), None)
    for size in (int(s) for s in args.sizes.split(",")):
        got: dict[str, list[dict]] = {k: [] for k in kinds}
        for _ in range(args.repeats):
            for kind in kinds:
                got[kind].append(run_child(__file__, [kind, str(size), str(args.steps), device, args.precision]))
        rows += _size_rows(size, kinds, got)
        print(*rows[-len(kinds) :], sep="\n", flush=True)
    notes = []
    if peak:
        notes.append(f"TFLOP/s against the card's dense bf16 peak of {peak:.0f} TFLOP/s.")
    if args.end_to_end:
        r = run_child(__file__, ["end_to_end", "512", "500", device, args.precision])
        notes.append(
            f"End to end, 500 steps at 512 px, one scale: `stylize()` {r['call_s']:.2f} s, the "
            f"whole child process after import {r['process_s']:.2f} s, peak {r['peak_mb']:.0f} MB, "
            f"final loss {r['loss']:.3f}."
        )
        print(notes[-1])
    write_results(
        args.results,
        "speed",
        device,
        "Speed benchmark",
        [
            f"brushwork precision: `{args.precision}`; {args.steps} steps × {args.repeats} repeats, alternating; "
            f"pictures: {CONTENT.name} in the style of {STYLE.name}.",
            "",
            *rows,
            "",
            *notes,
        ],
    )
    return 0


def _size_rows(size: int, kinds: list[str], got: dict[str, list[dict]]) -> list[str]:
    """One table row per tool (and the floor) at one size: medians of the step, the peak memory, ratios."""
    h, w = images.fit(size, *images.load(CONTENT).shape[-2:])
    step = {k: statistics.median(r["step_s"] for r in got[k]) for k in kinds}
    mem = {k: max(r["peak_mb"] for r in got[k]) for k in kinds}
    rows = []
    for kind in kinds:
        vs_floor = f"{step[kind] / step['floor']:.2f}×" if kind != "floor" else "—"
        ratio = mem_ratio = "—"
        if "pastiche" in step and kind not in ("pastiche", "floor"):
            ratio = f"{step['pastiche'] / step[kind]:.2f}× faster"
            mem_ratio = f"{mem[kind] / mem['pastiche']:.2f}×"
        name = "convolutions alone (floor)" if kind == "floor" else kind
        vs_gram = (
            f"{step[kind] / step['brushwork']:.2f}×, {mem[kind] / mem['brushwork']:.2f}×"
            if kind.startswith("brushwork-") and "brushwork" in step
            else "—"
        )
        rows.append(
            f"| {size} | {w}×{h} | {name} | {step[kind]:.4f} | {conv_flops(h, w) / step[kind] / 1e12:.3g} | "
            f"{mem[kind]:.0f} | {vs_floor} | {ratio} | {mem_ratio} | {vs_gram} |"
        )
    return rows


if __name__ == "__main__":
    sys.exit(main())
