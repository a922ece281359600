"""Picture-quality benchmark: paint each photo of ../shared/images in the style of each painting
with each style loss at its defaults, and score the outputs with brushwork.quality (content_dist,
style_dist, swd_dist, color_dist; lower is better).

    python benchmarks/quality.py [--size 512] [--device auto] [--set iterations=200 ...]
                                 [--style-losses gram,w2,swd,nn] [--pairs N]
    python benchmarks/quality.py --score OUT.png --content PHOTO --style PAINTING

Prints a table and writes it to benchmarks/results/quality-<device>.md.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, parser, sync, test_images, write_results  # noqa: E402

from brushwork import Config, images, quality, stylize  # noqa: E402
from brushwork.devices import resolve  # noqa: E402
from brushwork.presets import load_preset  # noqa: E402


def parse_set(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        key, value = pair.split("=", 1)
        out[key] = json.loads(value) if value[:1] in '[{0123456789-.tfn"' else value
        if isinstance(out[key], list):
            out[key] = tuple(out[key])
    return out


def main(argv=None) -> int:
    p = parser(__doc__)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--device", default="auto")
    p.add_argument("--preset", default=None, help="start from a preset")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="Config fields to change")
    p.add_argument(
        "--images",
        type=Path,
        default=None,
        help="a folder of pictures with a LICENSES.md (default: ../shared/images and benchmarks/images)",
    )
    p.add_argument("--save", type=Path, default=None, help="folder to keep the painted pictures in")
    p.add_argument("--score", type=Path, help="only score this output")
    p.add_argument("--content", type=Path)
    p.add_argument("--style", type=Path)
    p.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    p.add_argument("--style-losses", default="gram,w2,swd,nn", help="style losses to paint with, each at its defaults")
    p.add_argument("--pairs", type=int, default=None, help="only the first N (photo, painting) pairs")
    args = p.parse_args(argv)
    device = str(resolve(args.device))
    if args.score:
        print("  ".join(f"{k} {v:.3f}" for k, v in scores(args.score, args.content, args.style, device).items()))
        return 0
    base = load_preset(args.preset) if args.preset else Config()
    config = dataclasses.replace(base, size=args.size, device=device, **parse_set(args.set))
    photos, paintings = test_images(*[args.images] if args.images else [])
    pairs = [(photo, painting) for photo in photos for painting in paintings][: args.pairs]
    rows = [
        "| photo | painting | style loss | content_dist | style_dist | swd_dist | color_dist | wall s |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    print(rows[0], rows[1], sep="\n", flush=True)
    for photo, painting in pairs:
        for loss in args.style_losses.split(","):
            start = time.perf_counter()
            result = stylize(photo, [painting], config.replace(style_loss=loss))
            sync(device)
            wall = time.perf_counter() - start
            got = scores(result.image, photo, painting, device)
            rows.append(_row(photo.name, painting.name, loss, got, f"{wall:.1f}"))
            print(rows[-1], flush=True)
            if args.save:
                args.save.mkdir(parents=True, exist_ok=True)
                result.save(args.save / f"{photo.stem}_{painting.stem}_{loss}.png")
        photo_itself = images.resize(images.load(photo), tuple(result.image.shape[-2:]))
        got = scores(photo_itself, photo, painting, device)
        rows.append(_row(f"({photo.name} itself)", painting.name, "—", got, ""))
        print(rows[-1], flush=True)
    changed = {k: v for k, v in dataclasses.asdict(config).items() if v != getattr(Config(), k)}
    betas = ", ".join(f"{k} {config.replace(style_loss=k).beta:g}" for k in args.style_losses.split(","))
    write_results(
        args.results,
        "quality",
        device,
        "Quality benchmark",
        [
            f"Settings changed from the defaults: `{json.dumps(changed, sort_keys=True)}`; "
            f"each style loss with β {betas}.",
            "",
            *rows,
        ],
    )
    return 0


def scores(out, photo, painting, device: str) -> dict[str, float]:
    """The four measures of one painted picture."""
    return {
        "content_dist": quality.content_dist(out, photo, device),
        "style_dist": quality.style_dist(out, painting, device),
        "swd_dist": quality.swd_dist(out, painting, device),
        "color_dist": quality.color_dist(out, painting),
    }


def _row(photo: str, painting: str, loss: str, s: dict[str, float], wall: str) -> str:
    return (
        f"| {photo} | {painting} | {loss} | {s['content_dist']:.3f} | {s['style_dist']:.3f} | "
        f"{s['swd_dist']:.3f} | {s['color_dist']:.1f} | {wall} |"
    )


if __name__ == "__main__":
    sys.exit(main())
