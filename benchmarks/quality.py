"""Picture-quality benchmark: paint each photo of ../shared/images in the style of each painting
and score the outputs with brushwork.quality (content_dist, style_dist; lower is better).

    python benchmarks/quality.py [--size 512] [--device auto] [--set iterations=200 ...]
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
        out[key] = json.loads(value) if value[:1] in "[{0123456789-.tfn\"" else value
        if isinstance(out[key], list):
            out[key] = tuple(out[key])
    return out


def main(argv=None) -> int:
    p = parser(__doc__)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--device", default="auto")
    p.add_argument("--preset", default=None, help="start from a preset")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="Config fields to change")
    p.add_argument("--images", type=Path, default=None, help="a folder of pictures with a LICENSES.md "
                   "(default: ../shared/images and benchmarks/images)")
    p.add_argument("--save", type=Path, default=None, help="folder to keep the painted pictures in")
    p.add_argument("--score", type=Path, help="only score this output")
    p.add_argument("--content", type=Path)
    p.add_argument("--style", type=Path)
    p.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    args = p.parse_args(argv)
    device = str(resolve(args.device))
    if args.score:
        print(f"content_dist {quality.content_dist(args.score, args.content, device):.3f}  "
              f"style_dist {quality.style_dist(args.score, args.style, device):.3f}")
        return 0
    base = load_preset(args.preset) if args.preset else Config()
    config = dataclasses.replace(base, size=args.size, device=device, **parse_set(args.set))
    photos, paintings = test_images(*[args.images] if args.images else [])
    rows = ["| photo | painting | content_dist | style_dist | wall s |", "| --- | --- | ---: | ---: | ---: |"]
    print(rows[0], rows[1], sep="\n", flush=True)
    for photo in photos:
        for painting in paintings:
            start = time.perf_counter()
            result = stylize(photo, [painting], config)
            sync(device)
            wall = time.perf_counter() - start
            cd = quality.content_dist(result.image, photo, device)
            sd = quality.style_dist(result.image, painting, device)
            rows.append(f"| {photo.name} | {painting.name} | {cd:.3f} | {sd:.3f} | {wall:.1f} |")
            print(rows[-1], flush=True)
            if args.save:
                args.save.mkdir(parents=True, exist_ok=True)
                result.save(args.save / f"{photo.stem}_{painting.stem}.png")
            photo_itself = images.resize(images.load(photo), tuple(result.image.shape[-2:]))
            rows.append(f"| ({photo.name} itself) | {painting.name} | 0.000 | "
                        f"{quality.style_dist(photo_itself, painting, device):.3f} | |")
            print(rows[-1], flush=True)
    changed = {k: v for k, v in dataclasses.asdict(config).items() if v != getattr(Config(), k)}
    write_results(args.results, "quality", device, "Quality benchmark",
                  [f"Settings changed from the defaults: `{json.dumps(changed, sort_keys=True)}`", "", *rows])
    return 0


if __name__ == "__main__":
    sys.exit(main())
