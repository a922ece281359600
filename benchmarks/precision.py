"""Accuracy of the bfloat16 Gram products against float32 ones, on whole paintings.

    python benchmarks/precision.py [--pairs tubingen:starry_night,...] [--size 512] [--steps 200]

For each photo × painting, one scale of ``--steps`` L-BFGS steps (no early stop) runs twice in
fresh processes, alternating: with the Gram products in bfloat16 (``costs.GRAM_BLOCK``, the
default) and with the activations cast to float32 first (``GRAM_BLOCK = 0``, the exact path).
Prints each run's final total cost, its terms, time per step and peak memory, and the ratio of the
final costs; saves both pictures side by side under ``--save`` to compare by eye. Writes
benchmarks/results/precision-<device>.md.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, dispatch, parser, peak_memory_mb, run_child, test_images, write_results  # noqa: E402

from brushwork import Config, costs, images, stylize_iter  # noqa: E402
from brushwork.devices import resolve  # noqa: E402

PAIRS = "tubingen:starry_night,astronaut:the_scream,tubingen:shipwreck"


def child_main(argv: list[str]) -> int:
    photo, painting, size, steps, block, device, out = (
        argv[0],
        argv[1],
        int(argv[2]),
        int(argv[3]),
        int(argv[4]),
        argv[5],
        argv[6],
    )
    costs.GRAM_BLOCK = block
    cfg = Config(size=size, start_size=size, iterations=steps, tolerance=0, device=device)
    start, last = time.perf_counter(), None
    for ev in stylize_iter(photo, [painting], cfg, image_every=steps):
        last = ev
    assert last is not None and last.image is not None
    images.save(last.image, out)
    print(
        json.dumps(
            {"losses": last.losses, "step_s": (time.perf_counter() - start) / steps, "peak_mb": peak_memory_mb(device)}
        )
    )
    return 0


def main(argv=None) -> int:
    return dispatch(argv, child_main, parent_main)


def parent_main(argv: list[str]) -> int:
    p = parser(__doc__)
    p.add_argument("--pairs", default=PAIRS, help="PHOTO:PAINTING,… (file stems of the test images)")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--device", default="auto")
    p.add_argument("--save", type=Path, default=Path("precision-pictures"))
    args = p.parse_args(argv)
    device = str(resolve(args.device))
    stems = {path.stem: path for group in test_images() for path in group}
    args.save.mkdir(parents=True, exist_ok=True)
    rows = [
        "| photo × painting | Gram products | final cost | content | style | tv | step s | peak MB | bf16/f32 cost |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    print(*rows, sep="\n", flush=True)
    for pair in args.pairs.split(","):
        photo, painting = (stems[s] for s in pair.split(":"))
        got = {}
        for name, block in (("bfloat16", costs.GRAM_BLOCK), ("float32", 0)):
            out = args.save / f"{photo.stem}-{painting.stem}-{name}.png"
            got[name] = run_child(
                __file__, [str(photo), str(painting), str(args.size), str(args.steps), str(block), device, str(out)]
            )
        ratio = got["bfloat16"]["losses"]["total"] / got["float32"]["losses"]["total"]
        for name, r in got.items():
            L = r["losses"]
            rows.append(
                f"| {photo.stem} × {painting.stem} | {name} | {L['total']:.4f} | {L['content']:.4f} | "
                f"{L['style']:.4f} | {L.get('tv', 0.0):.4f} | {r['step_s']:.3f} | {r['peak_mb']:.0f} | "
                f"{f'{ratio:.4f}' if name == 'bfloat16' else '—'} |"
            )
            print(rows[-1], flush=True)
    write_results(
        ROOT / "benchmarks" / "results",
        "precision",
        device,
        "Gram products in bfloat16 against float32",
        [
            f"{args.steps} L-BFGS steps at {args.size} px, one scale, no early stop; `precision auto`; each run a "
            "fresh process. Final cost: the total after the last step (lower is better).",
            "",
            *rows,
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
