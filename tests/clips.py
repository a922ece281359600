"""A short generated video for the video tests and benchmarks/video.py: shapes moving over a
textured background, with a sine-tone audio track."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np


def frames(n: int = 16, size: int = 64) -> list[np.ndarray]:
    h, w = size * 3 // 4, size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    background = np.stack([128 + 60 * np.sin(x / 5), 110 + 50 * np.cos(y / 4), 150 + 40 * np.sin((x + y) / 7)], -1)
    out = []
    for t in range(n):
        f = background.copy()
        cx, cy = 10 + 2 * t, h / 2 + 6 * np.sin(t / 3)  # a disc moving right, bobbing
        f[(x - cx) ** 2 + (y - cy) ** 2 < 64] = (230, 60, 40)
        bx = w - 20 - 1.5 * t  # a square moving left
        f[(x > bx) & (x < bx + 10) & (y > 6) & (y < 16)] = (30, 40, 200)
        out.append(np.clip(f, 0, 255).astype(np.uint8))
    return out


def write(path: Path, n: int = 16, size: int = 64, rate: int = 12, audio: bool | str = True) -> Path:
    """The clip of ``frames`` as H.264, with a 440 Hz tone in AAC (or the ``audio`` codec named)."""
    import av

    with av.open(str(path), "w") as box:
        vs = box.add_stream("libx264", rate=rate)
        vs.height, vs.width = size * 3 // 4, size
        vs.pix_fmt, vs.options = "yuv420p", {"crf": "10"}
        if audio:
            a = box.add_stream("aac" if audio is True else audio, rate=16000)
            a.layout = "mono"
        for i, f in enumerate(frames(n, size)):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts, vf.time_base = i, Fraction(1, rate)
            box.mux(vs.encode(vf))
        box.mux(vs.encode(None))
        if audio:
            samples = (0.3 * np.sin(2 * np.pi * 440 * np.arange(16000 * n // rate) / 16000)).astype(np.float32)
            fmt = "fltp" if audio is True else "s16"
            if fmt == "s16":
                samples = (samples * 32767).astype(np.int16)
            for k in range(0, len(samples), 1024):
                af = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(samples[None, k : k + 1024]), format=fmt, layout="mono"
                )
                af.sample_rate, af.pts = 16000, k
                box.mux(a.encode(af))
            box.mux(a.encode(None))
    return path


def write_timed(path: Path, times_ms: list[int], size: int = 64, rotation: int = 0) -> Path:
    """A clip whose frames come at the given times (a variable frame rate) with a display
    rotation (degrees counterclockwise, as phones record portrait video); each frame is blue with a
    red 8×8 square in its stored top-left corner."""
    import av

    h, w = size * 3 // 4, size
    with av.open(str(path), "w") as box:
        vs = box.add_stream("libx264", rate=25)
        vs.height, vs.width, vs.pix_fmt = h, w, "yuv420p"
        vs.codec_context.time_base = Fraction(1, 1000)
        if rotation:
            vs.set_display_rotation(rotation)
        for t in times_ms:
            f = np.zeros((h, w, 3), np.uint8)
            f[...] = (20, 40, 220)
            f[:8, :8] = (230, 30, 30)
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts, vf.time_base = t, Fraction(1, 1000)
            box.mux(vs.encode(vf))
        box.mux(vs.encode(None))
    return path
