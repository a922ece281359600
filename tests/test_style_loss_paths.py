"""swd and nn along every path a painting takes: the colour modes, masks, several styles with blend
weights, coarse to fine, tiles (refused in one line, also by the studio), video, and huge style weights.
Tiny pictures and few steps: each test asserts what the path must do, not how good it looks."""

from fractions import Fraction

import av
import numpy as np
import pytest
import torch
from PIL import Image

from brushwork import Config, images, stylize, stylize_iter, temporal, video
from brushwork.cli import main
from brushwork.color import rgb_to_yiq

import clips
from studio_helpers import small_pair, submit

LOSSES = ["swd", "nn"]
SMALL = Config(size=32, iterations=6, tolerance=0, device="cpu")
NO_TILES = (
    "--tile-size 128 cuts a 160×120 px picture into tiles, which support only --style-loss gram without "
    "--normalize-gradients; give --tile-size 0 (no tiles)"
)


def photo(path, hw):
    return images.resize(images.load(path), hw)


def chroma_gap(a, b) -> float:
    """Mean difference of the I and Q (colour) channels of two pictures."""
    return (rgb_to_yiq(a)[:, 1:] - rgb_to_yiq(b)[:, 1:]).abs().mean().item()


def blown_out(x) -> float:
    """The share of pixel values at the ends of the range."""
    return ((x < 0.01) | (x > 0.99)).float().mean().item()


@pytest.mark.full_network  # how far each mode paints from the photo is what the whole VGG19 paints
@pytest.mark.parametrize("loss", LOSSES)
def test_every_colour_mode_paints_and_keeps_the_colours_it_promises(tubingen, starry, loss):
    p = photo(tubingen, (24, 32))
    out = {
        mode: stylize(tubingen, [starry], SMALL.replace(style_loss=loss, color=mode)).image
        for mode in ("style", "keep", "luminance", "match")
    }
    for mode, x in out.items():
        assert x.shape == p.shape and torch.isfinite(x).all() and 0 <= x.min() and x.max() <= 1, mode
        assert (x - p).abs().mean() > 0.01, mode  # painted, not the photo
    for mode in ("keep", "luminance"):  # the photo's chroma, the painting's luminance
        assert chroma_gap(out[mode], p) < 0.02, mode
    assert chroma_gap(out["style"], p) > chroma_gap(out["match"], p)  # the style's colours moved to the photo's


@pytest.mark.parametrize("loss", LOSSES)
def test_a_mask_confines_the_style_to_its_region(tubingen, starry, loss):
    mask = Image.new("L", (64, 48), 0)
    mask.paste(255, (0, 0, 32, 48))  # the left half
    out = stylize(tubingen, [starry], SMALL.replace(size=64, style_loss=loss), masks={0: mask}).image
    change = (out - photo(tubingen, (48, 64))).abs().mean(dim=(0, 1, 2))  # per column
    assert change[:16].mean() > 3 * change[-16:].mean()


@pytest.mark.parametrize("loss", LOSSES)
def test_blend_weights_are_normalized_and_pull_toward_their_style(tubingen, starry, loss, tmp_path):
    red = tmp_path / "red.png"
    Image.new("RGB", (48, 48), (200, 30, 30)).save(red)
    cfg = SMALL.replace(style_loss=loss)

    def paint(weights):
        x = stylize(tubingen, [starry, red], cfg.replace(style_blend_weights=weights)).image
        return x, (x[0, 0] - x[0, 1:].mean(0)).mean().item()  # how much redder than the rest

    (a, red_a), (b, _) = paint((3.0, 1.0)), paint((0.75, 0.25))
    assert torch.equal(a, b)  # weights that do not sum to 1 mean their shares
    assert paint((1.0, 3.0))[1] > red_a + 0.01


@pytest.mark.parametrize("loss", LOSSES)
def test_coarse_to_fine_paints_each_scale(tubingen, starry, loss):
    # Six steps a scale: nn's points are new at every step, and its first steps are short (no
    # curvature yet), so over four the fine scale's cost can still be above where it started.
    events = list(
        stylize_iter(
            tubingen, [starry], SMALL.replace(size=48, scales=(32,), style_loss=loss, iterations=6, coarse_iterations=6)
        )
    )
    assert events[-1].sizes == (32, 48) and [e.scale for e in events] == [0] * 6 + [1] * 6
    for k in (0, 1):
        style = [e.losses["style"] for e in events if e.scale == k]
        assert style[-1] < style[0], k
    x = events[-1].image
    assert x.shape == (1, 3, 36, 48) and torch.isfinite(x).all()
    assert (x - photo(tubingen, (36, 48))).abs().mean() > 0.01


@pytest.mark.parametrize("loss", LOSSES)
def test_tiles_are_refused_in_one_line_before_any_work(tubingen, starry, loss, tmp_path, capsys, monkeypatch):
    import brushwork.scales

    monkeypatch.setattr(brushwork.scales, "network", lambda *a: pytest.fail("the network was loaded"))
    out = tmp_path / "out.png"
    code = main(
        [
            "paint",
            str(tubingen),
            str(starry),
            "-o",
            str(out),
            "--style-loss",
            loss,
            "--tile-size",
            "128",
            "--size",
            "160",
            "--device",
            "cpu",
        ]
    )  # with the progress bar: still one line
    assert code == 2 and not out.exists()
    assert capsys.readouterr().err.splitlines() == [f"brushwork: error: {NO_TILES}"]
    monkeypatch.undo()  # A tile as large as the picture cuts nothing: nothing to refuse.
    assert next(stylize_iter(tubingen, [starry], SMALL.replace(style_loss=loss, tile_size=128))).step == 1


@pytest.mark.parametrize("loss", LOSSES)
def test_a_huge_style_weight_paints_the_style_not_the_photo_nor_a_blown_out_picture(tubingen, starry, loss):
    # nn's cost is concave where a painting starts, so L-BFGS stores no curvature at first; its
    # second step was then lr·g, 10⁵ times too long here (optimizer: lbfgs.py).
    events = list(
        stylize_iter(tubingen, [starry], SMALL.replace(size=64, iterations=12, style_loss=loss, style_weight=1e5))
    )
    x = events[-1].image
    assert (x - photo(tubingen, (48, 64))).abs().mean() > 0.03 and blown_out(x) < 0.05
    assert min(e.losses["total"] for e in events) < 0.8 * events[0].losses["total"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--style-loss", "bogus"], "--style-loss must be one of gram, w2, swd, nn, not 'bogus'"),
        (["--style-loss", "NN"], "--style-loss must be one of gram, w2, swd, nn, not 'NN'"),
        (["--style-loss", "nn", "--style-weight", "-1"], "--style-weight must be a number ≥ 0"),
        (["--style-loss", "swd", "--style-weight", "inf"], "--style-weight must be a number, not inf"),
        (["--style-loss", "swd", "--precision", "fp8"], "--precision must be one of auto, fp32, bf16, fp16, not 'fp8'"),
        (["--style-loss", "nn", "--style-blend-weights", "0,0"], "--style-blend-weights must have a positive sum"),
        (["--style-loss", "swd", "--style-blend-weights", "1,2,3"], "--style-blend-weights has 3 values for 2 style"),
        (
            ["--style-loss", "nn", "--style-mask", "1={square}"],
            "square.png: 50×50 px does not have the content's shape",
        ),
        (["--style-loss", "swd", "--normalize-gradients", "--tile-size", "128", "--size", "160"], NO_TILES),
    ],
)
def test_careless_options_give_one_line_and_exit_2(args, message, tubingen, starry, tmp_path, capsys):
    Image.new("L", (50, 50), 255).save(tmp_path / "square.png")
    Image.new("RGB", (48, 48), (200, 30, 30)).save(tmp_path / "red.png")
    out = tmp_path / "out.png"
    code = main(
        [
            "paint",
            str(tubingen),
            str(starry),
            str(tmp_path / "red.png"),
            "-o",
            str(out),
            "-q",
            "--device",
            "cpu",
            "--iterations",
            "1",
            *[a.format(square=tmp_path / "square.png") for a in args],
        ]
    )
    err = capsys.readouterr().err.splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("brushwork: error: ") and message in err[0], err
    assert not out.exists()


@pytest.mark.parametrize("loss", LOSSES)
def test_a_mask_drawn_at_another_resolution_paints_as_the_full_one(tubingen, starry, loss, tmp_path):
    full = Image.new("L", (1024, 768), 0)
    full.paste(255, (0, 0, 512, 768))
    full.save(tmp_path / "full.png")
    full.resize((128, 96), Image.NEAREST).save(tmp_path / "small.png")
    cfg = SMALL.replace(style_loss=loss)
    a = stylize(tubingen, [starry], cfg.replace(style_masks=(f"1={tmp_path / 'full.png'}",))).image
    b = stylize(tubingen, [starry], cfg.replace(style_masks=(f"1={tmp_path / 'small.png'}",))).image
    assert (a - b).abs().mean() < 0.015  # nearly the same picture: resampled edges differ a little


@pytest.mark.parametrize("loss", LOSSES)
def test_video_frames_are_painted_and_follow_the_previous_frame(starry, loss):
    clip = video.Clip(clips.frames(4, 32), Fraction(12), "generated")
    cfg = SMALL.replace(iterations=8, style_loss=loss)
    alone = video.paint(clip, [starry], cfg, video.VideoOptions(temporal_weight=0))
    along = video.paint(clip, [starry], cfg, video.VideoOptions(temporal_weight=200, frame_iterations=3))
    for frames in (alone, along):
        assert len(frames) == 4 and all(f.shape == (24, 32, 3) for f in frames)
        assert all(np.abs(f.astype(int) - g).mean() > 3 for f, g in zip(frames, clip.frames, strict=True))
    assert temporal.flicker(clip.frames, along) < 0.5 * temporal.flicker(clip.frames, alone)


@pytest.mark.parametrize("loss", LOSSES)
def test_the_video_command_paints_with_each_loss_and_refuses_tiles_in_one_line(starry, loss, tmp_path, capsys):
    src, out = clips.write(tmp_path / "in.mp4", n=3, size=32, audio=False), tmp_path / "out.mp4"
    args = [
        "video",
        str(src),
        "--style",
        str(starry),
        "-o",
        str(out),
        "--iterations",
        "2",
        "--frame-iterations",
        "1",
        "--style-loss",
        loss,
        "--device",
        "cpu",
        "-q",
    ]
    assert main([*args, "--size", "32"]) == 0
    with av.open(str(out)) as box:
        assert sum(1 for _ in box.decode(video=0)) == 3
    assert "3 frames, 32×24" in capsys.readouterr().err
    tiled = tmp_path / "tiled.mp4"
    assert main([*args[:5], str(tiled), *args[6:], "--size", "160", "--tile-size", "128"]) == 2
    assert capsys.readouterr().err.splitlines() == [f"brushwork: error: {NO_TILES}"]
    assert not tiled.exists()


def test_the_studio_refuses_a_job_that_tiles_cannot_take_when_it_is_sent(studio):
    r = submit(studio, *small_pair(studio), {"style_loss": "nn", "tile_size": 128, "size": 160})
    assert r.status_code == 422 and NO_TILES in r.json()["detail"]
    assert studio.get("/api/jobs").json() == []
