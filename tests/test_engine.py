import dataclasses
import itertools
import types

import pytest
import torch
from PIL import Image

from brushwork import Config, ConfigError, engine, images, stylize, stylize_iter
from brushwork.color import rgb_to_yiq

SMALL = Config(size=64, iterations=30, device="cpu")


def test_end_to_end_cost_falls_by_a_large_factor(tubingen, starry):
    events = list(stylize_iter(tubingen, [starry], SMALL.replace(init="noise", iterations=40)))
    assert [e.step for e in events] == list(range(1, 41))
    first, last = events[0].losses["total"], events[-1].losses["total"]
    assert last < first / 5, (first, last)
    assert set(last_terms := events[-1].losses) == {"content", "style", "tv", "total"}
    assert events[-1].losses["total"] == pytest.approx(sum(v for k, v in last_terms.items() if k != "total"), rel=1e-5)


def test_result_image_shape_and_range(tubingen, starry):
    r = stylize(tubingen, starry, SMALL.replace(iterations=5))
    assert r.image.shape == (1, 3, 48, 64)  # 768×1024 content fitted to 64 px
    assert r.image.min() >= 0 and r.image.max() <= 1
    assert r.steps == 5 and r.to_pil().size == (64, 48)


def test_seeded_runs_repeat_bit_for_bit(tubingen, starry):
    cfg = SMALL.replace(iterations=8, init="noise", seed=7)
    a = stylize(tubingen, [starry], cfg).image
    b = stylize(tubingen, [starry], cfg).image
    c = stylize(tubingen, [starry], cfg.replace(seed=8)).image
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_events_are_immutable_and_carry_images_on_request(tubingen, starry):
    events = list(stylize_iter(tubingen, [starry], SMALL.replace(iterations=6, save_every=2)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        events[0].step = 99
    assert [e.step for e in events if e.image is not None] == [2, 4, 6]
    assert events[-1].done and not events[0].done
    # Early images differ from the final one: the picture changes as it is optimized.
    assert not torch.equal(events[1].image, events[-1].image)
    plain = list(stylize_iter(tubingen, [starry], SMALL.replace(iterations=3), image_every=0))
    assert [e.image is None for e in plain] == [True, True, False]


def test_inputs_as_pil_and_tensor(tubingen, starry):
    content = Image.open(tubingen)
    style = images.load(starry)[0]
    r = stylize(content, [style], SMALL.replace(iterations=2))
    assert r.image.shape == (1, 3, 48, 64)


def test_several_styles_and_blend(tubingen, starry, tmp_path):
    scream_like = tmp_path / "red.png"
    Image.new("RGB", (80, 80), (200, 30, 30)).save(scream_like)
    cfg = SMALL.replace(iterations=15, init="content")
    red = stylize(tubingen, [starry, scream_like], cfg.replace(style_blend_weights=(0.0, 1.0))).image
    blue = stylize(tubingen, [starry, scream_like], cfg.replace(style_blend_weights=(1.0, 0.0))).image
    assert red[0, 0].mean() > blue[0, 0].mean()  # the red style pulls the red channel up
    with pytest.raises(ConfigError, match="1 values for 2 style images"):
        next(stylize_iter(tubingen, [starry, scream_like], cfg.replace(style_blend_weights=(1.0,))))


def test_original_colors_keep_content_chroma(tubingen, starry):
    r = stylize(tubingen, [starry], SMALL.replace(iterations=10, color="keep"))
    content = images.resize(images.load(tubingen), (48, 64))
    iq_out, iq_content = rgb_to_yiq(r.image)[:, 1:], rgb_to_yiq(content)[:, 1:]
    assert (iq_out - iq_content).abs().mean() < 0.02


def test_adam_lowers_the_cost(tubingen, starry):
    events = list(stylize_iter(tubingen, [starry], SMALL.replace(optimizer="adam", iterations=30)))
    assert events[-1].losses["total"] < events[0].losses["total"] / 2


def test_init_from_file_and_too_small(tubingen, starry, tmp_path):
    init = tmp_path / "grey.png"
    Image.new("RGB", (10, 10), (128, 128, 128)).save(init)
    painting = stylize_iter(tubingen, [starry], SMALL.replace(init=str(init), iterations=1))
    grey = next(painting).image  # the best picture of one step: the one it started from
    assert grey.shape == (1, 3, 48, 64) and (grey - 128 / 255).abs().max() < 1 / 255
    noise = next(stylize_iter(tubingen, [starry], SMALL.replace(init="noise", iterations=1)))
    assert noise.image.std() > 0.05  # another start gives another picture
    with pytest.raises(ConfigError, match="at least 16 px"):
        next(stylize_iter(tubingen, [starry], SMALL.replace(size=12)))
    with pytest.raises(ConfigError, match="at least one style image"):
        next(stylize_iter(tubingen, [], SMALL))


def test_elapsed_follows_the_run_s_clock_and_a_resumed_run_continues_it(tubingen, starry, monkeypatch):
    ticks = itertools.count()  # a clock that moves one second each time it is read, whatever the machine
    monkeypatch.setattr(engine, "time", types.SimpleNamespace(perf_counter=lambda: float(next(ticks))))
    painting = stylize_iter(tubingen, [starry], SMALL.replace(iterations=4))
    first = [next(painting).elapsed for _ in range(2)]
    assert first[1] - first[0] == 1.0  # one reading per step
    state = painting.checkpoint()
    assert state["elapsed"] == first[1]
    rest = [e.elapsed for e in stylize_iter(tubingen, [starry], SMALL.replace(iterations=4), resume=state)]
    assert rest == [first[1] + 1, first[1] + 2]  # the resumed run's time goes on from the checkpoint's


def test_current_image_before_and_after(tubingen, starry):
    painting = stylize_iter(tubingen, [starry], SMALL.replace(iterations=3))
    assert painting.current_image() is None
    next(painting)
    img = painting.current_image()
    assert img.shape == (1, 3, 48, 64) and img.device.type == "cpu"


def test_result_save_records_config(tubingen, starry, tmp_path):
    r = stylize(tubingen, [starry], SMALL.replace(iterations=2, style_weight=3.0))
    path = r.save(tmp_path / "r.png")
    params = images.read_params(path)
    assert params["config"]["style_weight"] == 3.0 and params["step"] == 2
    assert Config.from_json(__import__("json").dumps(params["config"])) == r.config


def test_schedule_and_steps():
    assert Config(size=512).schedule() == [256, 512]
    assert Config(size=2048).schedule() == [256, 512, 1024, 2048]
    assert Config(size=600).schedule() == [256, 392, 600]
    assert Config(size=200).schedule() == [200]
    assert Config(size=1024, scales=(300, 600)).schedule() == [300, 600, 1024]
    with pytest.raises(ConfigError, match="above --size"):
        Config(size=512, scales=(256, 1024))
    # Above 512 px: the last scale × (512/size)^1.2, the first keeps coarse_iterations, those between
    # × (512/size)², at least 25 (or coarse_iterations if fewer); None: coarse scales take iterations.
    assert Config(size=2048, iterations=300, coarse_iterations=None).steps() == [300, 25, 25, 57]
    assert Config(size=2048, iterations=320, coarse_iterations=40).steps() == [40, 25, 25, 61]
    assert Config(size=1024).steps() == [100, 25, 35]  # the defaults: 100 and 80 up to 512 px
    assert Config(size=512, iterations=80, coarse_iterations=50).steps() == [50, 80]
    assert Config(size=200, iterations=80, coarse_iterations=50).steps() == [80]  # one scale: the last
    assert Config(size=1024, coarse_iterations=300).steps() == [300, 75, 35]  # 300 × (512/1024)² at 512 px
    assert Config(size=1024, coarse_iterations=10).steps() == [10, 10, 35]  # fewer than 25 asked: kept
    assert Config(size=1024, start_size=1024).steps() == [35]  # one scale: the last
    assert Config(size=600).steps() == [100, 73, 66]  # 100 × (512/600)², 80 × (512/600)^1.2
    # Steps per scale given outright (how the old default is reproduced): exactly those, one per scale.
    assert Config(size=1024, scale_iterations=(300, 300, 75)).steps() == [300, 300, 75]
    with pytest.raises(ConfigError, match="2 values for the 3 scales"):
        Config(size=1024, scale_iterations=(300, 75))


def test_coarse_to_fine_events_say_the_scale(tubingen, starry):
    config = Config(size=96, start_size=48, iterations=4, coarse_iterations=4, device="cpu")
    events = list(stylize_iter(tubingen, [starry], config))
    assert [(e.scale, e.size) for e in events] == [(0, 48)] * 4 + [(1, 96)] * 4
    assert events[-1].iterations == 8 and events[-1].image.shape == (1, 3, 72, 96)


@pytest.mark.full_network
def test_bfloat16_reaches_nearly_the_float32_cost(tubingen, starry):
    """Low precision is only in the network: Grams, costs and L-BFGS stay float32, so the final
    cost lands close to the float32 run's (and far below the start)."""
    cfg = SMALL.replace(iterations=25)
    fp32 = list(stylize_iter(tubingen, [starry], cfg.replace(precision="fp32")))
    bf16 = list(stylize_iter(tubingen, [starry], cfg.replace(precision="bf16")))
    assert bf16[-1].losses["total"] == pytest.approx(fp32[-1].losses["total"], rel=0.05)
    assert bf16[-1].losses["total"] < bf16[0].losses["total"] / 3
    assert bf16[-1].image.dtype == torch.float32


def test_a_converged_scale_ends_early_and_the_total_follows(tubingen, starry):
    cfg = Config(size=64, start_size=32, iterations=60, coarse_iterations=60, tolerance=0.2, device="cpu")
    events = list(stylize_iter(tubingen, [starry], cfg))
    assert [e.step for e in events] == list(range(1, len(events) + 1))  # no step skipped or repeated
    first = [e for e in events if e.scale == 0]
    assert 10 < len(first) < 60  # the coarse scale stopped once its loss stalled
    assert first[0].iterations == 120 and first[-1].iterations == 120 - (60 - len(first))
    assert events[-1].done and events[-1].iterations == events[-1].step and events[-1].image is not None
    totals = [e.iterations for e in events]
    assert totals == sorted(totals, reverse=True)  # a total only ever shrinks
    full = list(stylize_iter(tubingen, [starry], cfg.replace(tolerance=0.0, start_size=64, iterations=12)))
    assert len(full) == 12 and full[-1].iterations == 12
