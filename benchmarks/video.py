"""Flicker of a painted video: each frame painted on its own (what the other tools do) against
Ruder et al.'s temporal consistency at several weights γ, on the generated clip of the tests.
Flicker = mean absolute change (0–255 levels) between consecutive painted frames after following
the input's optical flow, outside occlusions (``temporal.flicker``).

    python benchmarks/video.py [--frames 16] [--size 64] [--iterations 30] [--weights 50,200,1000]
"""

import argparse
import sys
import time
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _common import ROOT, write_results  # noqa: E402

from brushwork import Config, temporal, video  # noqa: E402
from brushwork.data import STARRY_NIGHT  # noqa: E402

import clips  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--weights", default="50,200,1000")
    args = ap.parse_args()
    clip = video.Clip(clips.frames(args.frames, args.size), Fraction(12), "generated")
    config = Config(iterations=args.iterations, device="cpu")
    rows = []
    for gamma in [0.0, *map(float, args.weights.split(","))]:
        start = time.perf_counter()
        painted = video.paint(clip, [STARRY_NIGHT], config, video.VideoOptions(temporal_weight=gamma))
        rows.append((gamma, temporal.flicker(clip.frames, painted), time.perf_counter() - start))
        print(f"γ={gamma:g}: flicker {rows[-1][1]:.2f} ({rows[-1][2]:.1f} s)", flush=True)
    base = rows[0][1]
    itself = temporal.flicker(clip.frames, clip.frames)
    lines = [
        f"Generated clip: {args.frames} frames, {args.size} px, moving shapes; {args.iterations} L-BFGS steps "
        f"per frame; The Starry Night. The input itself measures {itself:.2f}.",
        "",
        "| frames painted | flicker | vs independent | seconds |",
        "| --- | ---: | ---: | ---: |",
    ]
    for gamma, f, s in rows:
        label = "independently" if gamma == 0 else f"temporal, γ = {gamma:g}"
        lines.append(f"| {label} | {f:.2f} | {f / base:.2f}× | {s:.1f} |")
    print("\n".join(lines))
    write_results(ROOT / "benchmarks" / "results", "video", "cpu", "Video flicker", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
