"""Peak memory of ``brushwork video`` on a long full-HD clip: a generated 1920×1080 clip (moving
shapes over a texture, H.264) is painted at a tiny size with one step per frame, so what is
measured is what the clip itself costs (decoding, resizing, holding frames), not the painting.
The peak is the resident set of the ``brushwork video`` process (``wait4``'s ``ru_maxrss``).

    python benchmarks/video_memory.py [--frames 300] [--size 64] [--label after]

``--label`` names the code measured in the results table (``benchmarks/results/video-memory-cpu.md``
keeps one row per label, so a run on the code before a change and one after sit side by side).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import ROOT, write_results  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
W, H = 1920, 1080


def write_clip(path: Path, n: int, rate: int = 30) -> Path:
    """``n`` frames of 1920×1080, made one at a time (the generator holds one frame)."""
    import av

    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    background = np.stack([128 + 60 * np.sin(x / 25), 110 + 50 * np.cos(y / 20), 150 + 40 * np.sin((x + y) / 35)], -1)
    background = background.astype(np.uint8)
    with av.open(str(path), "w") as box:
        vs = box.add_stream("libx264", rate=rate)
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
        vs.options = {"preset": "ultrafast", "crf": "23"}
        for t in range(n):
            f = background.copy()
            cx, cy = 200 + 5 * t, H // 2 + int(200 * np.sin(t / 15))
            f[max(0, cy - 80) : cy + 80, max(0, cx - 80) : cx + 80] = (230, 60, 40)
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts, vf.time_base = t, Fraction(1, rate)
            box.mux(vs.encode(vf))
        box.mux(vs.encode(None))
    return path


DATA = ROOT / "src" / "brushwork" / "data"
TINY = ["--iterations", "1", "--device", "cpu", "-q"]


def measure(args: list[str]) -> tuple[float, float, str]:
    """(peak resident MiB, seconds, stderr's last line) of one ``brushwork ARGS`` run."""
    cmd = [sys.executable, "-m", "brushwork", *args]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"brushwork {args[0]} failed:\n{err[-3000:]}")
    return usage.ru_maxrss / 1024, seconds, (err.strip().splitlines() or [""])[-1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--label", default="this code")
    args = ap.parse_args()
    size = ["--size", str(args.size)]
    with tempfile.TemporaryDirectory() as tmp:
        clip = write_clip(Path(tmp) / "in.mp4", args.frames)
        peak, seconds, said = measure(
            [
                "video",
                str(clip),
                "--style",
                str(DATA / "starry_night.jpg"),
                "-o",
                str(Path(tmp) / "out.mp4"),
                *size,
                "--frame-iterations",
                "1",
                *TINY,
            ]
        )
        still, _, _ = measure(
            [
                "paint",
                str(DATA / "tubingen.jpg"),
                str(DATA / "starry_night.jpg"),
                "-o",
                str(Path(tmp) / "still.png"),
                *size,
                *TINY,
            ]
        )
    print(f"{args.label}: peak {peak:.0f} MiB, {seconds:.1f} s ({said}); a still picture: {still:.0f} MiB", flush=True)
    rows = _rows(RESULTS / "video-memory-cpu.md")
    rows[args.label] = f"| {args.label} | {args.frames} | {peak:.0f} | {still:.0f} | {seconds:.1f} |"
    lines = [
        f"`brushwork video` on a generated {W}×{H} H.264 clip at 30 fps, painted at --size {args.size} "
        f"with one step per frame (`python benchmarks/video_memory.py --frames N --label L`). "
        f"Peak: the resident set of the brushwork process, in MiB; beside it the peak of `brushwork paint` "
        f"of one photo at the same size and steps in the same run (torch, VGG19 and the photo: what any "
        f"run costs). Seconds are wall time on a machine shared with other work: not comparable.",
        "",
        "| code | frames | peak MiB | a still picture, MiB | seconds |",
        "| --- | ---: | ---: | ---: | ---: |",
        *rows.values(),
    ]
    write_results(RESULTS, "video-memory", "cpu", "Video memory", lines)
    return 0


def _rows(path: Path) -> dict[str, str]:
    """The table rows already in the results file, by label (kept when another label is measured)."""
    if not path.is_file():
        return {}
    rows = [
        line
        for line in path.read_text().splitlines()
        if line.startswith("| ") and not line.startswith(("| code", "| ---"))
    ]
    return {line.split("|")[1].strip(): line for line in rows}


if __name__ == "__main__":
    sys.exit(main())
