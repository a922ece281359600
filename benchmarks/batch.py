"""Batch throughput: pictures per minute at one size, painted in this process and on a local Dask
cluster of N single-thread workers (127.0.0.1), side by side, with the ratio.

    python benchmarks/batch.py [--size 256] [--iterations 30] [--pictures 4] [--dask-workers 2]
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import ROOT, test_images, write_results  # noqa: E402

from brushwork import Config, batch, cache  # noqa: E402
from brushwork.executors import cores, executor  # noqa: E402


def run(contents, style, outdir: Path, config: Config, **where) -> tuple[float, int]:
    cache.clear()
    outdir.mkdir()
    with executor(**where) as (pool, threads):
        jobs = batch.plan(contents, [style], outdir, config, threads)
        start = time.perf_counter()
        outcomes = list(batch.stylize_many(jobs, pool))
        seconds = time.perf_counter() - start
    done = sum(o.status == "done" for o in outcomes)
    if done < len(jobs):
        raise SystemExit("failed: " + "; ".join(o.error for o in outcomes if o.status == "failed"))
    return seconds, done


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--pictures", type=int, default=4)
    ap.add_argument("--dask-workers", type=int, default=2)
    args = ap.parse_args()
    photos, paintings = test_images()
    contents = [photos[i % len(photos)] for i in range(args.pictures)]
    config = Config(size=args.size, start_size=args.size, iterations=args.iterations, device="cpu")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        # Copies under distinct names, so no output is skipped as already painted.
        named = []
        for i, c in enumerate(contents):
            p = Path(tmp) / f"in{i}{c.suffix}"
            p.write_bytes(c.read_bytes())
            named.append(p)
        dask = f"local:{args.dask_workers}"
        for label, where in [
            (f"one process ({cores()} threads)", {}),
            (f"Dask {dask} (1 thread each)", {"dask": dask}),
        ]:
            seconds, done = run(named, paintings[0], Path(tmp) / label.split()[0], config, **where)
            rows.append((label, seconds, done))
            print(f"{label}: {done} pictures in {seconds:.1f} s", flush=True)
    base = rows[0][2] / rows[0][1] * 60
    lines = [
        f"{args.pictures} pictures at {args.size} px, {args.iterations} L-BFGS steps each, one scale, "
        f"style {paintings[0].name}; wall time from the first job sent to the last picture written "
        f"(cluster start-up not counted).",
        "",
        "| where | seconds | pictures / minute | vs one process |",
        "| --- | ---: | ---: | ---: |",
    ]
    for label, seconds, done in rows:
        ppm = done / seconds * 60
        lines.append(f"| {label} | {seconds:.1f} | {ppm:.2f} | {ppm / base:.2f}× |")
    print("\n".join(lines))
    write_results(ROOT / "benchmarks" / "results", "batch", "cpu", "Batch throughput", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
