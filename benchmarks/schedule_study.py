"""Schedule study: how fast each candidate schedule's picture comes within 5 % of the old default's.

    python benchmarks/schedule_study.py --pair tubingen:the_scream [--size 512] [--upto 100]
        [--every 5] [--from 30] --candidate NAME:KEY=VALUE,KEY=VALUE ...

For one photo × painting, the old default (``schedule.old_default``) runs once, then each candidate
(``Config()`` with the fields given) with its last scale's cap raised to ``--upto`` and no early
stop, each in a fresh process. Every ``--every`` steps of the last scale from ``--from`` on, the
picture as it stands (the scale's best) is scored off the clock. Prints, per candidate and
snapshot, the time so far and both scores as ratios to the old default's final picture, marking
the first snapshot within 5 % on both; writes benchmarks/results/<--name>-<device>.md.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, dispatch, parser, run_child, test_images, write_results  # noqa: E402
from schedule import WITHIN, old_default, trace  # noqa: E402

from brushwork import Config  # noqa: E402
from brushwork.devices import resolve  # noqa: E402


def child_main(argv: list[str]) -> int:
    photo, painting, size, device = argv[0], argv[1], int(argv[2]), argv[3]
    config = Config(size=size, device=device).replace(**json.loads(argv[4]))
    print(json.dumps(trace(photo, painting, config, set(json.loads(argv[5])), device)))
    return 0


def main(argv=None) -> int:
    return dispatch(argv, child_main, parent_main)


def _old(args, child_args: list[str]) -> dict:
    """The old default's final scores, from ``--old-cache`` when it has this pair, size and device
    (the old run is the study's longest: 3 min at 1024 px), else run now (and cached)."""
    key = f"{args.pair}@{args.size}@{child_args[3]}"
    cache = json.loads(args.old_cache.read_text()) if args.old_cache and args.old_cache.exists() else {}
    if key not in cache:
        cache[key] = run_child(__file__, child_args)[-1]
        if args.old_cache:
            args.old_cache.write_text(json.dumps(cache, indent=1))
    return cache[key]


def parent_main(argv: list[str]) -> int:
    p = parser(__doc__)
    p.add_argument("--pair", required=True, help="PHOTO:PAINTING, file stems of the test images")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--upto", type=int, default=100, help="steps of each candidate's last scale")
    p.add_argument("--every", type=int, default=5)
    p.add_argument("--from", dest="first", type=int, default=30)
    p.add_argument("--candidate", nargs="+", required=True, metavar="NAME:KEY=VALUE,…")
    p.add_argument("--device", default="auto")
    p.add_argument("--name", default="schedule-study")
    p.add_argument(
        "--old-cache",
        type=Path,
        default=None,
        help="JSON file keeping the old default's scores per pair and size: read if it has them, else written",
    )
    args = p.parse_args(argv)
    device = str(resolve(args.device))
    images = {path.stem: path for group in test_images() for path in group}
    photo, painting = (str(images[stem]) for stem in args.pair.split(":"))
    old_fields = old_default(args.size)
    old = _old(args, [photo, painting, str(args.size), device, json.dumps(old_fields), "[]"])
    rows = [
        f"Old default `{json.dumps(old_fields)}`: content_dist {old['content_dist']:.4f}, style_dist "
        f"{old['style_dist']:.4f}, {old['seconds']:.0f} s.",
        "",
        "| candidate | last-scale step | seconds | content ×old | style ×old | within 5 % |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    print(*rows, sep="\n", flush=True)
    for spec in args.candidate:
        name, _, fields = spec.partition(":")
        # KEY=VALUE pairs split at the commas that start a next KEY= (a value may be a list: [100,25,45])
        pairs = re.split(r",(?=[a-z_]+=)", fields)
        changes = {k: json.loads(v) for k, v in (f.split("=", 1) for f in pairs if f)}
        changes.update(iterations=args.upto, tolerance=0.0)
        marks = list(range(args.first, args.upto + 1, args.every))
        first = True
        for r in run_child(__file__, [photo, painting, str(args.size), device, json.dumps(changes), json.dumps(marks)]):
            c, s = r["content_dist"] / old["content_dist"], r["style_dist"] / old["style_dist"]
            ok = c <= WITHIN and s <= WITHIN
            rows.append(
                f"| {name} | {r['step']} | {r['seconds']:.0f} | {c:.3f} | {s:.3f} | "
                f"{'**first**' if ok and first else 'yes' if ok else ''} |"
            )
            first = first and not ok
            print(rows[-1], flush=True)
    write_results(
        ROOT / "benchmarks" / "results",
        args.name,
        device,
        f"Schedule study: {args.pair.replace(':', ' × ')} at {args.size} px",
        rows,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
