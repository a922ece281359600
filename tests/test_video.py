"""Video: the temporal cost by hand, flow warping and occlusion weights, shot chunks, and a
generated clip painted to a playable file whose frames flicker less with temporal consistency."""

import os
import subprocess
import sys
from fractions import Fraction

import av
import numpy as np
import pytest
import torch
from PIL import Image

from brushwork import Config, costs, temporal, video
from brushwork.cli import main

import clips


def test_temporal_cost_by_hand():
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])  # (1, 1, 2, 2): D = 4
    w = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    c = torch.tensor([[[[1.0, 1.0], [0.0, 0.5]]]])
    # (1·0² + 1·2² + 0·3² + 0.5·4²) / 4 = (0 + 4 + 0 + 8) / 4 = 3
    assert costs.temporal_cost(x, w, c).item() == pytest.approx(3.0)
    x3 = torch.ones(1, 3, 2, 2)
    assert costs.temporal_cost(x3, torch.zeros_like(x3), torch.ones(1, 1, 2, 2)).item() == pytest.approx(1.0)


def test_warp_follows_the_flow_and_occlusions_get_no_weight():
    frames = clips.frames(4, 64)
    a, b = frames[1], frames[2]
    back, fwd = temporal.flow(b, a), temporal.flow(a, b)
    moved = temporal.warp(a.astype(np.float32), back)
    c = temporal.consistency(back, fwd)
    err_warped = (np.abs(moved - b) * c[..., None]).mean()
    assert err_warped < 0.5 * np.abs(a.astype(np.float32) - b).mean()
    assert 0.5 < c.mean() < 1.0  # most pixels are seen in both frames; the moving shapes' edges are not
    shift = np.zeros((8, 8, 2), np.float32)
    shift[..., 0] = 1.0  # sample one pixel to the right: the picture moved left (a pan)
    img = np.arange(64, dtype=np.float32).reshape(8, 8)
    assert np.array_equal(temporal.warp(img, shift)[:, :-1], img[:, 1:])
    c = temporal.consistency(shift, -shift)
    assert (c[:, -1] == 0).all() and (c[:, :-1] == 1).all()  # the column that came in is new


def test_frames_after_the_first_stop_early_unless_a_tolerance_is_given(starry, monkeypatch):
    """nn runs every step of a picture, but a warm-started frame ends once converged (FRAME_TOLERANCE);
    a --tolerance given by hand holds for every frame."""
    tols, real = [], video.stylize_iter

    def seen(*args, **kwargs):
        tols.append(args[2].tol)  # the tolerance each frame's painting runs with
        return real(*args, **kwargs)

    monkeypatch.setattr(video, "stylize_iter", seen)
    frames, nn = clips.frames(3, 32), Config(style_loss="nn", iterations=3, device="cpu")
    cases = [
        (nn, video.VideoOptions(), [0.0, video.FRAME_TOLERANCE, video.FRAME_TOLERANCE]),
        (nn.replace(tolerance=0.02), video.VideoOptions(), [0.02] * 3),
        (nn, video.VideoOptions(temporal_weight=0), [0.0] * 3),  # frames painted on their own are pictures
    ]
    for cfg, options, want in cases:
        tols.clear()
        assert len(list(video.paint_frames(frames, [starry], cfg, options))) == 3
        assert tols == want


def test_chunks_cut_at_shot_changes_and_at_the_chunk_length():
    frames = clips.frames(10, 32)
    assert video.chunks(frames) == [(0, 10)]
    assert video.chunks(frames, 4) == [(0, 4), (4, 8), (8, 10)]
    cut = frames[:5] + [255 - f for f in frames[5:]]
    assert video.chunks(cut) == [(0, 5), (5, 10)]


def test_temporal_consistency_lowers_flicker(starry):
    clip = video.Clip(clips.frames(16, 64), Fraction(12), "generated")
    cfg = Config(iterations=15, device="cpu")
    independent = video.paint(clip, [starry], cfg, video.VideoOptions(temporal_weight=0))
    consistent = video.paint(clip, [starry], cfg, video.VideoOptions(temporal_weight=200, frame_iterations=10))
    f_ind, f_con = temporal.flicker(clip.frames, independent), temporal.flicker(clip.frames, consistent)
    assert f_con < 0.5 * f_ind, (f_con, f_ind)
    assert len(consistent) == 16 and consistent[0].shape == (48, 64, 3)
    assert not np.array_equal(consistent[5], clip.frames[5])  # painted, not copied


def test_video_command_on_dask_keeps_frames_rate_and_audio(tmp_path, starry, capsys):
    src = clips.write(tmp_path / "in.mp4", n=16, size=64, rate=12)
    out = tmp_path / "out.mp4"
    args = [
        "video",
        str(src),
        "--style",
        str(starry),
        "-o",
        str(out),
        "--size",
        "64",
        "--iterations",
        "6",
        "--frame-iterations",
        "3",
        "--device",
        "cpu",
        "-q",
        "--dask",
        "local:2",
        "--chunk",
        "8",
    ]
    assert main(args) == 0
    assert "16 frames, 64×48, 12 fps" in capsys.readouterr().err
    with av.open(str(out)) as box:
        v = box.streams.video[0]
        assert v.codec_context.name == "h264" and v.average_rate == 12 and (v.width, v.height) == (64, 48)
        assert [s.type for s in box.streams] == ["video", "audio"]
        decoded = [f.to_ndarray(format="rgb24") for f in box.decode(v)]
    assert len(decoded) == 16
    probe = subprocess.run(
        [sys.executable, "-c", f"import av; c = av.open({str(out)!r}); print(sum(1 for _ in c.decode(audio=0)))"],
        capture_output=True,
        text=True,
    )
    assert probe.returncode == 0 and int(probe.stdout) > 0  # the audio decodes too
    assert main(args) == 2 and "exists" in capsys.readouterr().err  # never overwritten
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.mp4"]


def test_video_command_refuses_bad_input(tmp_path, starry, tubingen, capsys):
    (tmp_path / "text.mp4").write_text("not a video")
    (tmp_path / "photo.mp4").write_bytes(open(tubingen, "rb").read())  # a JPEG under a video's name
    Image.open(tubingen).save(tmp_path / "photo.mov", format="PNG")
    (tmp_path / "folder.mp4").mkdir()
    for src, words in [
        (tmp_path / "missing.mp4", "no such file"),
        (tmp_path / "text.mp4", "cannot be read as a video"),
        (tmp_path / "photo.mp4", "photo.mp4: is a still picture (jpeg), not a video"),
        (tmp_path / "photo.mov", "photo.mov: is a still picture (png), not a video"),
        (tmp_path / "folder.mp4", "is a folder, not a video"),
    ]:
        assert main(["video", str(src), "--style", str(starry), "-o", str(tmp_path / "o.mp4")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0], err
    src = clips.write(tmp_path / "in.mp4", n=2, size=32, audio=False)
    assert (
        main(
            [
                "video",
                str(src),
                "--style",
                str(starry),
                "-o",
                str(tmp_path / "o.gif"),
                "--size",
                "32",
                "--iterations",
                "1",
                "--device",
                "cpu",
                "-q",
            ]
        )
        == 2
    )
    assert "write a video as .mp4" in capsys.readouterr().err
    assert main(["video", str(src), "--style", str(starry), "-o", str(tmp_path / "o.mp4"), "--crf", "99"]) == 2
    assert capsys.readouterr().err == "brushwork: error: --crf must be a whole number from 0 to 51, not 99\n"
    assert main(["video", str(src), "--style", str(src), "-o", str(src)]) == 2  # never over the input
    assert "exists" in capsys.readouterr().err
    flac = clips.write(tmp_path / "flac.mkv", n=2, size=32, audio="flac")
    assert main(["video", str(flac), "--style", str(starry), "-o", str(tmp_path / "o.mov")]) == 2
    assert capsys.readouterr().err == (
        f"brushwork: error: {tmp_path / 'o.mov'}: a .mov file cannot hold the "
        f"source's flac audio; write a .mkv (it holds any)\n"
    )
    assert not (tmp_path / "o.mp4").exists() and not (tmp_path / "o.gif").exists()


def test_a_phone_clip_is_read_upright_at_its_own_times(tmp_path, starry, capsys):
    times = [0, 40, 80, 200, 240, 400]  # a variable frame rate: the camera slowed down, then caught up
    src = clips.write_timed(tmp_path / "phone.mp4", times, rotation=-90)  # turned 90° clockwise for display
    with video.Reader(src, 64) as reader:
        frames = list(reader.frames())
        assert reader.hw == (64, 48) and [t * reader.time_base * 1000 for t in reader.times] == times
    red = frames[0][..., 0] > 128
    assert frames[0].shape == (64, 48, 3) and red[:6, -6:].all() and red.sum() < 100  # the corner went top right
    out = tmp_path / "out.mp4"
    assert (
        main(
            [
                "video",
                str(src),
                "--style",
                str(starry),
                "-o",
                str(out),
                "--size",
                "64",
                "--iterations",
                "1",
                "--device",
                "cpu",
                "-q",
            ]
        )
        == 0
    )
    with av.open(str(out)) as box:
        decoded = list(box.decode(video=0))
    assert [(f.width, f.height, f.rotation) for f in decoded] == [(48, 64, 0)] * 6  # upright, no rotation left to apply
    assert [round(float(f.time) * 1000) for f in decoded] == times  # each frame at its own time
    assert "6 frames, 48×64" in capsys.readouterr().err
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # the umask's mode, not the temporary file's 0600


def test_frames_stream_through_with_bounded_look_ahead(monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    pulled = []

    def source(n=40):
        for t in range(n):
            pulled.append(t)
            yield np.full((8, 8, 3), t, np.uint8)  # tiny steps: no shot changes

    monkeypatch.setattr(video, "_paint_frame", lambda frame, *a: torch.from_numpy(frame).permute(2, 0, 1)[None] / 255)
    stream = video.paint_stream(source(), [], Config(), video.VideoOptions())
    assert next(stream)[0, 0, 0] == 0 and len(pulled) == 1  # here: one frame in, one painted frame out
    assert [f[0, 0, 0] for f in stream] == list(range(1, 40))
    pulled.clear()
    with ThreadPoolExecutor(2) as pool:
        stream = video.paint_stream(source(), [], Config(), video.VideoOptions(chunk=4), pool)
        first = next(stream)
        assert first[0, 0, 0] == 0 and len(pulled) <= 4 * 2 + 1  # two chunks in flight, and the frame after
        assert [f[0, 0, 0] for f in stream] == list(range(1, 40)) and len(pulled) == 40


@pytest.mark.filterwarnings("error")
def test_read_only_frames_paint_without_warnings(starry):
    frames = clips.frames(2, 32)
    for f in frames:
        f.setflags(write=False)  # as np.asarray(PIL image) gives them
    out = video.paint_chunk(frames, [starry], Config(iterations=2, device="cpu"), video.VideoOptions())
    assert len(out) == 2 and out[1].shape == (24, 32, 3)


def test_ctrl_c_in_a_video_leaves_no_file_and_says_so(tmp_path, starry, monkeypatch, capsys):
    src = clips.write(tmp_path / "in.mp4", n=4, size=32, audio=False)
    real = video.Writer.write

    def write_then_stop(self, frame, pts):
        real(self, frame, pts)
        if self.frames == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(video.Writer, "write", write_then_stop)
    assert (
        main(
            [
                "video",
                str(src),
                "--style",
                str(starry),
                "-o",
                str(tmp_path / "out.mp4"),
                "--size",
                "32",
                "--iterations",
                "1",
                "--device",
                "cpu",
                "-q",
            ]
        )
        == 130
    )
    assert capsys.readouterr().err == (
        "brushwork: interrupted after 2 frames; nothing written (a video is written when complete)\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]
