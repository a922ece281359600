"""Schedule benchmark: the old default schedule against the new default, pair by pair.

    python benchmarks/schedule.py [--sizes 512,1024] [--device auto] [--pairs 6] [--save DIR]
                                  [--new KEY=VALUE ...] [--beyond 30]

For each size and each pair (each photo × each painting of the test images: ../shared/images and
benchmarks/images), two fresh child processes run one after the other, old then new, pair after
pair: the default schedule brushwork had before the convergence study (``OLD_DEFAULT``, given as
explicit options) and today's ``Config()`` (``--new`` changes fields of it, for trying
candidates). Each child times the whole run (network, style targets, every step), as a user waits
for it, and scores the picture off the clock with ``brushwork.quality`` (content_dist, style_dist;
lower is better). The new run goes on ``--beyond`` steps past its last scale's cap, its picture
scored every 5 steps (off the clock) from as many steps before the cap: its time and picture are
those at the cap, and the extra snapshots tell where it first comes within 5 % of the old picture
(the time a run capped there would take), so one run also says whether a lower or higher cap would do.

Prints a table (time ratio new/old, each score's ratio new/old, whether the new picture is within
5 % of the old on both, and where it first is) and writes it to benchmarks/results/schedule-<device>.md.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, dispatch, parser, run_child, sync, test_images, write_results  # noqa: E402
from quality import parse_set  # noqa: E402

from brushwork import Config, Result, quality, stylize_iter  # noqa: E402
from brushwork.devices import resolve  # noqa: E402

# The default schedule before the convergence study (brushwork 0.1.0): coarse to fine from 256 px,
# 300 L-BFGS steps at every scale up to 512 px (×(512/size)² above), step size 1, no early stop, each
# larger scale starting from the smaller one's picture resized (no detail added), L-BFGS on the pixels.
# Given as explicit options, with the steps per scale spelled out (``old_default(size)``): the old
# rule's 300·(512/size)² above 512 px is no longer what --iterations gives there.
OLD_DEFAULT = {
    "start_size": 256,
    "tolerance": 0.0,
    "scale_detail": 0.0,
    "learning_rate": 1.0,
    "lbfgs_history": 100,
    "lbfgs_fine": 1.0,  # on the pixels themselves
}


def old_default(size: int) -> dict:
    """``OLD_DEFAULT`` for a run at ``size`` px, with the old steps per scale: 300 at each scale up to
    512 px, 300·(512/scale)² above (300, 300, 75 at 1024 px)."""
    sizes = Config(size=size, start_size=256).schedule()
    return {**OLD_DEFAULT, "scale_iterations": tuple(round(300 * min(1.0, (512 / s) ** 2)) for s in sizes)}


WITHIN = 1.05  # the new picture's scores may be at most 5 % above the old one's


def trace(
    photo: str, painting: str, config: Config, marks: set[int], device: str, save: str = "", save_at: int | None = None
) -> list[dict]:
    """Run ``config`` on the pair; at each step of the last scale in ``marks``, and at the end, score
    the picture as it stands (the scale's best, colours applied) off the clock. Returns one row per
    snapshot: the last scale's step, wall and CPU seconds so far, both scores. ``save``: where to write
    the picture at step ``save_at`` of the last scale, or the last one if it ends sooner."""
    last = len(config.schedule()) - 1
    rows: list[dict] = []
    spent = spent_cpu = 0.0
    start, cpu = time.perf_counter(), time.process_time()
    run = stylize_iter(photo, [painting], config, image_every=0)
    for event in run:
        if event.scale != last or not (event.scale_step in marks or event.done):
            continue
        sync(device)
        scoring, scoring_cpu = time.perf_counter(), time.process_time()
        image = event.image if event.done else run.current_image()
        rows.append(
            {
                "step": event.scale_step,
                "steps": event.step,
                "seconds": scoring - start - spent,
                "cpu": scoring_cpu - cpu - spent_cpu,
                "content_dist": quality.content_dist(image, photo, device),
                "style_dist": quality.style_dist(image, painting, device),
            }
        )
        if save and (event.scale_step == save_at or (event.done and (save_at is None or event.scale_step < save_at))):
            Result(image, event.losses, event.step, event.elapsed, config).save(save)
        spent += time.perf_counter() - scoring
        spent_cpu += time.process_time() - scoring_cpu
    return rows


def child_main(argv: list[str]) -> int:
    """``old|new SIZE PHOTO PAINTING DEVICE SAVE NEW_FIELDS BEYOND``: the old default once; the new
    one with its last scale run ``BEYOND`` steps past its cap, scored every 5 steps from ``BEYOND``
    before it, so one run also tells where the new picture first comes within 5 % of the old."""
    which, size, photo, painting, device, save = argv[0], int(argv[1]), argv[2], argv[3], argv[4], argv[5]
    config = Config(size=size, device=device)
    if which == "old":
        rows = trace(photo, painting, config.replace(**old_default(size)), set(), device, save)
        print(json.dumps({"cap": None, "rows": rows}))
        return 0
    config = config.replace(**parse_set(json.loads(argv[6])))
    cap, beyond = config.steps()[-1], int(argv[7])
    factor = cap / config.iterations  # the last scale's share of --iterations (1 up to 512 px)
    longer = config.replace(iterations=math.ceil((cap + beyond) / factor))
    marks = {cap, *range(max(5, cap - beyond), longer.steps()[-1] + 1, 5)}
    rows = trace(photo, painting, longer, {m for m in marks if m <= longer.steps()[-1]}, device, save, cap)
    print(json.dumps({"cap": cap, "rows": rows}))
    return 0


def main(argv=None) -> int:
    return dispatch(argv, child_main, parent_main)


def parent_main(argv: list[str]) -> int:
    p = parser(__doc__)
    p.add_argument("--sizes", default="512,1024")
    p.add_argument("--device", default="auto")
    p.add_argument("--pairs", type=int, default=0, help="only the first N pairs (0: all)")
    p.add_argument("--new", nargs="*", default=[], metavar="KEY=VALUE", help="Config fields to change in the new run")
    p.add_argument("--save", type=Path, default=None, help="folder to keep both pictures of every pair in")
    p.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    p.add_argument("--name", default="schedule", help="results file name (<name>-<device>.md)")
    p.add_argument(
        "--beyond",
        type=int,
        default=30,
        help="the new run goes on this many steps past its last scale's cap, to find where it first "
        "comes within 5 %% (steps after its cap are not part of its time or picture)",
    )
    args = p.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]
    try:  # at every size, before any run: a bad --new fails now, not after the first pair's minutes
        new = [Config(size=size).replace(**parse_set(args.new)) for size in sizes][-1]
    except (ValueError, TypeError) as e:  # a value Config refuses (ConfigError), a malformed or unknown field
        p.error(f"--new {' '.join(args.new)}: {e}")
    device = str(resolve(args.device))
    photos, paintings = test_images()
    # Diagonal order: the first few pairs already use every photo and most paintings, so a short
    # run (--pairs 3) is still varied.
    order = sorted(
        ((i, j) for i in range(len(photos)) for j in range(len(paintings))),
        key=lambda ij: ((ij[1] - ij[0]) % len(paintings), ij[0]),
    )
    pairs = [(photos[i], paintings[j]) for i, j in order][: args.pairs or None]
    rows = [
        "| size | photo × painting | old s | new s | new/old time | new/old CPU time | old steps | new steps | "
        "old content | new content | ratio | old style | new style | ratio | within 5 % | first within 5 % |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- "
        "| --- |",
    ]
    print(*rows, sep="\n", flush=True)
    worst = {"time": 0.0, "content": 0.0, "style": 0.0}
    shown: list = []  # (title, {"old": …, "new": …}) of the pairs painted, for the contact sheet
    runs = [(size, photo, painting) for size in sizes for photo, painting in pairs]
    for done, (size, photo, painting) in enumerate(runs, 1):
        got = {}
        for which in ("old", "new"):
            save = args.save / f"{photo.stem}_{painting.stem}_{size}_{which}.png" if args.save else ""
            if args.save:
                args.save.mkdir(parents=True, exist_ok=True)
            got[which] = run_child(
                __file__,
                [
                    which,
                    str(size),
                    str(photo),
                    str(painting),
                    device,
                    str(save),
                    json.dumps(args.new),
                    str(args.beyond),
                ],
            )
            got[which]["file"] = Path(save).name
        rows.append(_row(size, photo.stem, painting.stem, got["old"], got["new"], worst))
        print(rows[-1], flush=True)
        if args.save:
            shown.append((f"{photo.stem} × {painting.stem}, {size} px", got))
            _sheet(shown, args.save, size)
        # After each pair: a long run can be cut short.
        _write(args, new, device, rows, worst, f"{done} of {len(runs)} runs")
    return 0


def _write(args, new: Config, device: str, rows: list[str], worst: dict, progress: str) -> None:
    summary = (
        f"Worst over the pairs ({progress}): time ×{worst['time']:.3f}, content_dist ×{worst['content']:.3f}, "
        f"style_dist ×{worst['style']:.3f} (new/old)."
    )
    print(summary)
    changed = {k: getattr(new, k) for k, v in OLD_DEFAULT.items() if getattr(new, k) != v}
    changed.update(iterations=new.iterations, coarse_iterations=new.coarse_iterations)
    with_new = " with " + " ".join(args.new) if args.new else ""
    write_results(
        args.results,
        args.name,
        device,
        "Schedule benchmark: old default against new default",
        [
            f"Old: `{json.dumps(OLD_DEFAULT)}` with `scale_iterations` 300, 300 at 512 px and 300, 300, 75 at "
            f"1024 px (the old caps: 300 up to 512 px, ×(512/size)² above); new: `Config()`{with_new} "
            f"(new values: `{json.dumps(changed)}`). Each run is the whole `stylize()` call in a fresh process, old "
            f"then new for each pair; scores off the clock. Time: wall clock; CPU time: the process's, all threads.",
            "",
            *rows,
            "",
            summary,
        ],
    )


def _sheet(shown: list, folder: Path, size: int) -> None:
    """``folder/sheet.jpg``: one row per pair, the old default's picture beside the new one's, each
    captioned with its time (the README's side-by-side)."""
    from PIL import Image, ImageDraw

    pics = [[Image.open(folder / f"{got[w]['file']}") for w in ("old", "new")] for _, got in shown]
    w, h, pad = max(p.width for r in pics for p in r), max(p.height for r in pics for p in r), 24
    sheet = Image.new("RGB", (2 * w, len(pics) * (h + pad)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, ((title, got), row) in enumerate(zip(shown, pics, strict=True)):
        for j, (which, pic) in enumerate(zip(("old", "new"), row, strict=True)):
            sheet.paste(pic, (j * w, i * (h + pad) + pad))
            label = f"{title}: {which} default, {_at_cap(got[which])['seconds']:.0f} s"
            draw.text((j * w + 4, i * (h + pad) + 6), label, fill="black")
    sheet.save(folder / "sheet.jpg", quality=88)


def _at_cap(got) -> dict:
    """The snapshot a run's user gets: the old run's end; the new run's at its cap (or its end, sooner)."""
    if got["cap"] is None:
        return got["rows"][-1]
    return next((r for r in got["rows"] if r["step"] >= got["cap"]), got["rows"][-1])


def _row(size: int, photo: str, painting: str, old_run: dict, new: dict, worst: dict) -> str:
    old, at = _at_cap(old_run), _at_cap(new)
    t = at["seconds"] / old["seconds"]
    c = at["content_dist"] / old["content_dist"]
    s = at["style_dist"] / old["style_dist"]
    worst.update(time=max(worst["time"], t), content=max(worst["content"], c), style=max(worst["style"], s))
    ok = "yes" if c <= WITHIN and s <= WITHIN else "no"
    first = next(
        (
            r
            for r in new["rows"]
            if r["content_dist"] <= WITHIN * old["content_dist"] and r["style_dist"] <= WITHIN * old["style_dist"]
        ),
        None,
    )
    where = (
        f"step {first['step']} of the last scale, time ×{first['seconds'] / old['seconds']:.3f}"
        if first
        else f"not by step {new['rows'][-1]['step']}"
    )
    return (
        f"| {size} | {photo} × {painting} | {old['seconds']:.0f} | {at['seconds']:.0f} | {t:.3f} | "
        f"{at['cpu'] / old['cpu']:.3f} | {old['steps']} | {at['steps']} | "
        f"{old['content_dist']:.3f} | {at['content_dist']:.3f} | {c:.3f} | {old['style_dist']:.3f} | "
        f"{at['style_dist']:.3f} | {s:.3f} | {ok} | {where} |"
    )


if __name__ == "__main__":
    sys.exit(main())
