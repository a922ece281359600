"""The swd and nn style losses inside a scale's objective: targets, repeatability, blends, masks."""

import pytest
import torch

from brushwork import Config, ConfigError, costs, images, inputs, nn_style, scales, stylize_iter
from brushwork.config import GRAM_UNITS, NN_TERMS, STYLE_TOLERANCES, STYLE_WEIGHTS
from brushwork.network import network
from brushwork.objective import Objective, StyleTargets

SIZE = (48, 64)


@pytest.fixture(scope="module")
def pictures(starry, tubingen):
    return (images.resize(images.load(tubingen), SIZE), images.resize(images.load(starry), SIZE))


def objective(loss, content, styles, blend=None, masks=None, unit=1.0, **changes):
    cfg = Config(style_loss=loss, device="cpu", **changes)
    net = network(cfg, torch.device("cpu"))[0]
    targets = StyleTargets(net, cfg, styles, blend or [1 / len(styles)] * len(styles), masks)
    return Objective(net, cfg, content, targets, unit)


def style_of(obj, x):
    with torch.no_grad():
        return obj(x)[1]["style"].item()


@pytest.mark.parametrize("loss", ["swd", "nn"])
def test_the_style_itself_costs_nothing_and_the_photo_does(pictures, loss):
    photo, style = pictures
    obj = objective(loss, style, [style])
    assert style_of(obj, style) == pytest.approx(0, abs=1e-4)
    assert style_of(obj, photo) > 0.1


@pytest.mark.parametrize("loss", ["swd", "nn"])
def test_draws_are_new_each_step_and_repeat_with_the_seed(pictures, loss, monkeypatch):
    photo, style = pictures
    monkeypatch.setattr(nn_style, "NN_POSITIONS", 50)  # fewer than the 12×16 grid: nn draws too
    first, again = objective(loss, photo, [style]), objective(loss, photo, [style])
    a = [style_of(first, photo) for _ in range(2)]
    assert a == [style_of(again, photo) for _ in range(2)]  # bit for bit
    assert a[0] != a[1]  # other directions (swd) or points (nn) at the next step
    other_seed = objective(loss, photo, [style], seed=1)
    assert style_of(other_seed, photo) != a[0]


@pytest.mark.parametrize("loss", ["swd", "nn"])
def test_a_style_of_blend_weight_zero_changes_nothing(pictures, loss):
    photo, style = pictures
    alone = style_of(objective(loss, photo, [style]), photo)
    assert style_of(objective(loss, photo, [style, photo], blend=[1.0, 0.0]), photo) == pytest.approx(alone, rel=1e-6)
    # With the photo blended in, the photo comes nearer its target.
    assert style_of(objective(loss, photo, [style, photo], blend=[0.5, 0.5]), photo) < alone


@pytest.mark.parametrize("loss", ["swd", "nn"])
def test_a_mask_over_everything_is_no_mask_and_a_half_mask_judges_its_half(pictures, loss):
    photo, style = pictures
    whole = style_of(objective(loss, photo, [style]), photo)
    full = torch.ones(1, 1, *SIZE)
    assert style_of(objective(loss, photo, [style], masks={0: full}), photo) == pytest.approx(whole, rel=1e-5)
    # The style painted on the left half only: the photo's right half is free, and the left half of a
    # picture whose left is the style costs less than the photo (its half is not the whole style).
    left = torch.zeros(1, 1, *SIZE)
    left[..., : SIZE[1] // 2] = 1
    half = objective(loss, photo, [style], masks={0: left})
    mixed = torch.where(left.bool(), style, photo)
    assert style_of(half, mixed) < 0.7 * style_of(half, photo)


@pytest.mark.parametrize("loss", ["swd", "nn"])
def test_each_loss_lowers_its_cost_in_a_short_painting(tubingen, starry, loss):
    events = list(
        stylize_iter(tubingen, [starry], Config(size=64, iterations=20, tolerance=0, device="cpu", style_loss=loss))
    )
    assert events[-1].losses["style"] < 0.7 * events[0].losses["style"]
    assert torch.isfinite(events[-1].image).all()


@pytest.mark.parametrize("loss", ["swd", "nn"])
def test_tiles_refuse_the_distribution_losses_in_one_line(tubingen, starry, loss):
    with pytest.raises(ConfigError, match="tiles, which support only --style-loss gram"):
        next(stylize_iter(tubingen, [starry], Config(size=160, iterations=1, tile_size=128, style_loss=loss)))


def nn_terms(obj_of, x, monkeypatch) -> dict[str, float]:
    """Each nn term's cost alone (weight 1, the others 0), each from a fresh objective (same draws)."""
    out = {}
    for term in NN_TERMS:
        with monkeypatch.context() as m:
            for other in NN_TERMS:
                m.setitem(NN_TERMS, other, float(other == term))
            out[term] = style_of(obj_of(), x) / Config(style_loss="nn").beta
    return out


def test_nn_adds_its_three_terms_with_their_weights(pictures, monkeypatch):
    photo, style = pictures
    alone = nn_terms(lambda: objective("nn", photo, [style]), photo, monkeypatch)
    assert all(v > 0 for v in alone.values()), alone
    together = style_of(objective("nn", photo, [style]), photo) / Config(style_loss="nn").beta
    assert together == pytest.approx(sum(NN_TERMS[k] * alone[k] for k in NN_TERMS), rel=1e-5)


def test_nn_palette_sees_colours_not_places(pictures, monkeypatch):
    photo, style = pictures
    shuffled = style.flatten(2)[..., torch.randperm(SIZE[0] * SIZE[1], generator=torch.Generator().manual_seed(0))]
    shuffled = shuffled.reshape_as(style)
    got = nn_terms(lambda: objective("nn", photo, [style]), shuffled, monkeypatch)
    assert got["palette"] == pytest.approx(0, abs=1e-9)  # the painting's own colours, elsewhere
    assert got["neighbour"] > 0.05 and got["moment"] > 0.05  # but not its features
    assert nn_terms(lambda: objective("nn", photo, [style]), photo, monkeypatch)["palette"] > 1e-3


def test_a_layer_nn_weighs_zero_takes_no_part():
    torch.manual_seed(0)
    acts = {l: torch.rand(1, 4, 8, 8) for l in ("relu1_1", "relu5_1")}
    stats = nn_style.statistics(acts, torch.rand(1, 3, 32, 32), torch.Generator().manual_seed(0))
    target = nn_style.blend([stats], [1.0], list(acts))
    region = nn_style.Region(target, None, {l: None for l in acts})
    cost = nn_style.NNCost([region], {"relu1_1": 1.0, "relu5_1": 0.0})
    x = torch.rand(1, 3, 32, 32)
    other = {**acts, "relu5_1": torch.rand(1, 4, 8, 8)}
    J = cost(acts, x, torch.Generator().manual_seed(1))
    assert J > 0 and J == cost(other, x, torch.Generator().manual_seed(1))
    both = nn_style.NNCost([region], {"relu1_1": 0.5, "relu5_1": 0.5})
    assert both(acts, x, torch.Generator().manual_seed(1)) != both(other, x, torch.Generator().manual_seed(1))


def test_nn_leaves_relu5_1_out_unless_told_and_the_others_weigh_equally():
    quarter = dict.fromkeys(("relu1_1", "relu2_1", "relu3_1", "relu4_1"), 0.25)
    assert Config(style_loss="nn").lambdas == {**quarter, "relu5_1": 0}
    assert Config(style_loss="gram").lambdas["relu5_1"] == 0.2
    given = Config(style_loss="nn", style_layer_weights=(1, 1, 1, 1, 4))
    assert given.lambdas["relu5_1"] == 0.5
    assert Config(style_loss="nn", style_layers=("relu5_1",)).lambdas == {"relu5_1": 1.0}  # not all left out


def test_each_loss_has_its_own_default_weight_and_a_given_one_wins():
    assert set(STYLE_WEIGHTS) == {"gram", "w2", "swd", "nn"}
    for loss, beta in STYLE_WEIGHTS.items():
        assert Config(style_loss=loss).beta == beta
        assert Config(style_loss=loss, style_weight=3.0).beta == 3.0
    with pytest.raises(ConfigError, match="--style-loss must be one of"):
        Config(style_loss="sinkhorn")


def test_each_loss_has_its_own_default_tolerance_and_a_given_one_wins():
    assert set(STYLE_TOLERANCES) == set(STYLE_WEIGHTS)
    assert Config().tol == Config(style_loss="w2").tol == 0.005
    assert Config(style_loss="swd").tol == Config(style_loss="nn").tol == 0.0  # noisy costs run every step
    assert Config(style_loss="nn", tolerance=0.01).tol == 0.01 and Config(tolerance=0.0).tol == 0.0
    cfg = Config(style_loss="nn")
    assert cfg.effective("tolerance") == 0.0 and cfg.effective("style_weight") == STYLE_WEIGHTS["nn"]
    assert cfg.effective("size") == cfg.size


def test_nn_runs_every_step_by_default_where_a_loose_tolerance_would_stop_it(tubingen, starry):
    cfg = Config(size=32, start_size=32, iterations=40, device="cpu", style_loss="nn")
    *_, last = stylize_iter(tubingen, [starry], cfg)
    assert last.step == 40 and last.steps == (40,)
    *_, last = stylize_iter(tubingen, [starry], cfg.replace(tolerance=0.5))
    assert last.step < 40 and last.steps == (last.step,)


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_nn_moments_are_the_mean_and_covariance_with_or_without_a_mask(dtype):
    torch.manual_seed(0)
    a = torch.rand(1, 6, 10, 12, dtype=torch.float64)
    m = torch.rand(1, 1, 10, 12, dtype=torch.float64)
    for mask in (None, m):
        mu, Sigma = nn_style.moments(a.to(dtype), None if mask is None else mask.to(dtype))
        ref = costs.mean_cov(a.to(dtype).double(), None if mask is None else mask.to(dtype).double())
        tol = 1e-12 if dtype == torch.float64 else 1e-2  # bfloat16 activations: its products' rounding
        torch.testing.assert_close((mu.double(), Sigma.double()), ref, rtol=tol, atol=tol)


def run_of(tubingen, starry, **changes):
    cfg = Config(size=64, start_size=32, device="cpu", **changes)
    run = scales.Run.make(cfg, inputs.prepare(tubingen, [starry], cfg))
    return run, run.plans()


def test_in_gram_units_w2_costs_the_photo_what_gram_does(tubingen, starry):
    run, plans = run_of(tubingen, starry, style_loss="w2")
    assert [p.size for p in plans] == [32, 64]
    photo = images.resize(run.content, plans[-1].hw)
    style = images.resize(run.styles[0], images.fit(64, *run.styles[0].shape[-2:]))
    raw = {loss: style_of(objective(loss, photo, [style]), photo) / STYLE_WEIGHTS[loss] for loss in ("gram", "w2")}
    gamma = GRAM_UNITS["w2"]
    unit = run.style_unit(plans[-1])
    assert unit == pytest.approx((raw["gram"] / raw["w2"]) ** gamma, rel=1e-4)
    assert abs(raw["gram"] / raw["w2"] - 1) > 0.1  # the two losses' own scales differ: the test can tell
    # The objective's style cost is the loss's own times the unit: with γ = 1, gram's at the photo.
    full = unit ** (1 / gamma)
    scaled = style_of(objective("w2", photo, [style], unit=full), photo) / STYLE_WEIGHTS["w2"]
    assert scaled == pytest.approx(raw["gram"], rel=1e-4)


@pytest.mark.parametrize(
    "changes",
    [
        {"style_loss": "gram"},
        {"style_loss": "nn"},
        {"style_loss": "w2", "gram_units": False},
        {"style_loss": "swd", "normalize_gradients": True},
    ],
)
def test_gram_nn_and_the_switched_off_keep_their_own_scale(tubingen, starry, changes):
    run, plans = run_of(tubingen, starry, **changes)
    assert run.style_unit(plans[-1]) == 1.0


def test_swd_unit_repeats_and_every_scale_takes_the_last_ones(tubingen, starry, monkeypatch):
    assert set(GRAM_UNITS) == {"w2", "swd"}
    run, plans = run_of(tubingen, starry, style_loss="swd")
    unit = run.style_unit(plans[-1])
    assert unit == run.style_unit(plans[-1]) != 1.0  # its directions come from the seed
    seen = []
    real = scales.Objective

    def spy(*args, **kwargs):
        obj = real(*args, **kwargs)
        seen.append((tuple(args[2].shape[-2:]), obj.unit))
        return obj

    monkeypatch.setattr(scales, "Objective", spy)
    list(stylize_iter(tubingen, [starry], Config(size=64, start_size=32, iterations=1, device="cpu", style_loss="swd")))
    # Two objectives at the last size make the unit, then one per scale paints, each with that unit.
    assert seen[-2:] == [(plans[0].hw, pytest.approx(unit)), (plans[1].hw, pytest.approx(unit))]
