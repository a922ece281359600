"""Picture-quality benchmark: paint each photo of ../shared/images in the style of each painting
with each style loss at its defaults, and score the outputs with brushwork.quality (content_dist,
style_dist, swd_dist, color_dist; lower is better).

    python benchmarks/quality.py [--size 512] [--device auto] [--set iterations=200 ...]
                                 [--style-losses gram,w2,swd,nn] [--pairs N] [--resume]
                                 [--save DIR [--sheet FILE.jpg]]
    python benchmarks/quality.py --score OUT.png --content PHOTO --style PAINTING

Prints a table and writes it to benchmarks/results/quality-<device>.md after each pair. --resume
keeps the rows of that file's table (if its settings are the same) and paints only what it lacks,
so a long run can go in chunks: --pairs 2 --resume after --pairs 1 paints the second pair alone.
--sheet puts the pictures saved in --save side by side, a row per pair of --sheet-pairs and a
column per style loss, each captioned with its time (README, "Style losses").
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
from brushwork.config import STYLE_WEIGHTS  # noqa: E402
from brushwork.devices import resolve  # noqa: E402
from brushwork.network import network  # noqa: E402
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
    p.add_argument("--resume", action="store_true", help="keep the rows of the earlier table; paint what it lacks")
    p.add_argument("--sheet", type=Path, default=None, help="a side-by-side JPEG of the pictures in --save")
    p.add_argument(
        "--sheet-pairs",
        default="tubingen/starry_night,astronaut/the_scream,tubingen/shipwreck",
        help="the sheet's rows: photo/painting (file stems), comma-separated",
    )
    p.add_argument("--sheet-tile", type=int, default=384, help="longest side of each picture on the sheet")
    args = p.parse_args(argv)
    device = str(resolve(args.device))
    if args.score:
        print("  ".join(f"{k} {v:.3f}" for k, v in scores(args.score, args.content, args.style, device).items()))
        return 0
    base = load_preset(args.preset) if args.preset else Config()
    config = dataclasses.replace(base, size=args.size, device=device, **parse_set(args.set))
    photos, paintings = test_images(*[args.images] if args.images else [])
    every = [(photo, painting) for photo in photos for painting in paintings]
    losses = args.style_losses.split(",")
    changed = {k: v for k, v in dataclasses.asdict(config).items() if v != getattr(Config(), k)}
    settings = f"Settings changed from the defaults: `{json.dumps(changed, sort_keys=True)}`"
    out = args.results / f"quality-{device.split(':')[0]}.md"
    done = _earlier(out, settings) if args.resume else {}
    print(HEAD[0], HEAD[1], *done.values(), sep="\n", flush=True)
    network(config, resolve(device))  # loaded before the clock starts: the first picture pays no more
    for photo, painting in every[: args.pairs]:
        for loss in losses:
            key = (photo.name, painting.name, loss)
            if key in done and (not args.save or (args.save / _file(photo, painting, loss)).is_file()):
                continue  # (with --save, a picture not saved before is painted again)
            start = time.perf_counter()
            result = stylize(photo, [painting], config.replace(style_loss=loss))
            sync(device)
            wall = time.perf_counter() - start
            got = scores(result.image, photo, painting, device)
            done[key] = _row(photo.name, painting.name, loss, got, f"{wall:.1f}")
            print(done[key], flush=True)
            if args.save:
                args.save.mkdir(parents=True, exist_ok=True)
                result.save(args.save / _file(photo, painting, loss))
        itself = (f"({photo.name} itself)", painting.name, "—")
        if itself not in done:
            photo_t = images.load(photo)
            got = scores(images.resize(photo_t, images.fit(config.size, *photo_t.shape[-2:])), photo, painting, device)
            done[itself] = _row(*itself, got, "")
            print(done[itself], flush=True)
        # The earlier table's other losses stay: --style-losses nn --resume paints only the nn rows it lacks.
        shown = losses + [x for x in STYLE_WEIGHTS if x not in losses and any(k[2] == x for k in done)]
        order = [(p.name, q.name, x) for p, q in every for x in shown] + [
            (f"({p.name} itself)", q.name, "—") for p, q in every
        ]
        rows = sorted((done[k] for k in order if k in done), key=lambda r: _rank(r, every, shown))
        betas = ", ".join(f"{k} {config.replace(style_loss=k).beta:g}" for k in shown)
        lines = [f"{settings}; each style loss with β {betas}.", "", *HEAD, *rows]
        write_results(args.results, "quality", device, "Quality benchmark", lines)
    if args.sheet:
        sheet(args.save, args.sheet, [tuple(p.split("/")) for p in args.sheet_pairs.split(",")], losses, done, args)
    return 0


HEAD = [
    "| photo | painting | style loss | content_dist | style_dist | swd_dist | color_dist | wall s |",
    "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
]


def _rank(row: str, every: list, losses: list[str]) -> tuple[int, int]:
    """Where a row goes: by pair, the style losses in their order, then the photo itself."""
    photo, painting, loss = (c.strip() for c in row.split("|")[1:4])
    pair = next(i for i, (p, q) in enumerate(every) if photo in (p.name, f"({p.name} itself)") and q.name == painting)
    return pair, losses.index(loss) if loss in losses else len(losses)


def _file(photo: Path, painting: Path, loss: str) -> str:
    return f"{photo.stem}_{painting.stem}_{loss}.png"


def _earlier(path: Path, settings: str) -> dict[tuple[str, str, str], str]:
    """The rows of an earlier table at ``path`` made with the same settings, by (photo, painting, loss)."""
    text = path.read_text() if path.is_file() else ""
    if settings + ";" not in text:
        return {}
    rows = [line for line in text.splitlines() if line.startswith("| ") and line.count("|") == 9]
    keyed = {tuple(c.strip() for c in row.split("|")[1:4]): row for row in rows}
    return {k: row for k, row in keyed.items() if k[0] not in ("photo", "---")}  # not the head


def sheet(folder: Path, out: Path, shown: list, losses: list[str], done: dict, args) -> None:
    """``out``: a row per (photo, painting) of ``shown`` and a column per style loss, the pictures
    saved in ``folder`` at most ``args.sheet_tile`` px a side, each captioned with its time."""
    from PIL import Image, ImageDraw

    tile, pad = args.sheet_tile, 22
    pics = {
        (p, q, loss): Image.open(folder / f"{p}_{q}_{loss}.png").convert("RGB") for p, q in shown for loss in losses
    }
    for im in pics.values():
        im.thumbnail((tile, tile))
    w, h = max(im.width for im in pics.values()), max(im.height for im in pics.values())
    board = Image.new("RGB", (len(losses) * w, len(shown) * (h + pad)), "white")
    draw = ImageDraw.Draw(board)
    for i, (p, q) in enumerate(shown):
        for j, loss in enumerate(losses):
            board.paste(pics[p, q, loss], (j * w, i * (h + pad) + pad))
            key = next(k for k in done if k[2] == loss and Path(k[0]).stem == p and Path(k[1]).stem == q)
            seconds = float(done[key].rstrip(" |").rsplit("|", 1)[1])
            draw.text((j * w + 4, i * (h + pad) + 5), f"{p} x {q}: {loss}, {seconds:.0f} s", fill="black")
    out.parent.mkdir(parents=True, exist_ok=True)
    board.save(out, quality=82, optimize=True)
    print(f"sheet written to {out} ({out.stat().st_size // 1024} KB)")


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
