import pytest
import torch

from brushwork import Config, images, stylize_iter
from brushwork.objective import Objective, StyleTargets
from brushwork.tiles import TiledObjective, grid, tile_side
from brushwork.vgg import VGG19Features
from brushwork.weights import load_weights


@pytest.mark.parametrize("hw", [(200, 300), (128, 128), (97, 410)])
@pytest.mark.parametrize("shifted", [False, True])
def test_cores_partition_the_picture(hw, shifted):
    cover = torch.zeros(hw, dtype=torch.int32)
    for t in grid(hw, 128, shifted):
        cover[t.top : t.bottom, t.left : t.right] += 1
        rows, cols = t.window
        assert rows.start >= 0 and cols.start >= 0 and rows.stop <= hw[0] and cols.stop <= hw[1]
        assert rows.stop - rows.start <= 128 + 64 and cols.stop - cols.start <= 128 + 64
    assert (cover == 1).all()


def test_shifted_grid_moves_inner_borders():
    plain = {t.left for t in grid((256, 512), 128, False)}
    shifted = {t.left for t in grid((256, 512), 128, True)}
    assert (plain - {0}).isdisjoint(shifted - {0})


def test_tile_side_only_when_needed():
    cpu = torch.device("cpu")
    assert tile_side((512, 512), None, cpu) is None  # fits
    assert tile_side((100_000, 100_000), None, cpu) is not None  # 26 TB would not
    assert tile_side((512, 512), 0, cpu) is None  # never
    assert tile_side((512, 512), 256, cpu) == 256
    assert tile_side((200, 200), 256, cpu) is None  # smaller than a tile


def test_tiled_cost_and_gradient_match_the_whole_picture(tubingen, starry):
    cfg = Config(size=256, device="cpu")
    net = VGG19Features(load_weights(), last="relu5_1")
    content = images.resize(images.load(tubingen), (192, 256))
    style = images.resize(images.load(starry), (203, 256))
    targets = StyleTargets(net, cfg, [style], [1.0])
    x = (content + 0.1 * torch.randn_like(content)).clamp(0, 1)
    xa = x.clone().requires_grad_(True)
    J_whole, _ = Objective(net, cfg, content, targets).backward(xa)
    xb = x.clone().requires_grad_(True)
    J_tiled, terms = TiledObjective(net, cfg, content, targets, side=160).backward(xb)
    assert J_tiled.item() == pytest.approx(J_whole.item(), rel=0.05)
    cos = torch.nn.functional.cosine_similarity(xa.grad.flatten(), xb.grad.flatten(), dim=0)
    assert cos > 0.95, cos
    assert set(terms) == {"content", "style", "tv"}


def test_tiles_that_each_see_the_whole_picture_give_its_cost_and_gradient(tubingen, starry):
    """Several tiles on a 64 px picture, each with a halo reaching past the picture's edges, so every
    tile's network sees the whole picture: tiled and whole then agree to rounding, for masked
    regions too (tiles of 96 px on the plain grid; of 128 px on the shifted one, the second call)."""
    cfg = Config(size=64, device="cpu", tv_weight=1.0)
    net = VGG19Features(load_weights(), last="relu5_1")
    content = images.resize(images.load(tubingen), (64, 64))
    style = images.resize(images.load(starry), (64, 64))
    left = torch.zeros(1, 1, 64, 64)
    left[..., :40] = 1  # not on the cores' borders
    targets = StyleTargets(net, cfg, [style, content.flip(-1)], [0.5, 0.5], {0: left})
    whole = Objective(net, cfg, content, targets)
    x = (content + 0.2 * torch.randn(content.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    for side, calls in ((96, 1), (128, 2)):
        tiled = TiledObjective(net, cfg, content, targets, side=side)
        assert len(tiled.regions) == 2
        for shifted in (False, True)[:calls]:
            cuts = grid((64, 64), side, shifted)
            assert all(t.window == (slice(0, 64), slice(0, 64)) for t in cuts)
            xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
            J_whole, terms_whole = whole.backward(xa)
            J_tiled, terms_tiled = tiled.backward(xb)
            assert J_tiled.item() == pytest.approx(J_whole.item(), rel=1e-4)
            for k in ("content", "style", "tv"):
                assert terms_tiled[k].item() == pytest.approx(terms_whole[k].item(), rel=1e-4), k
            torch.testing.assert_close(xb.grad, xa.grad, rtol=1e-3, atol=1e-4 * xa.grad.abs().max().item())
        assert len(cuts) == 4  # the last grid compared had several tiles


def test_forced_tiles_paint_end_to_end(tubingen, starry):
    events = list(
        stylize_iter(tubingen, [starry], Config(size=160, start_size=160, iterations=6, tile_size=128, device="cpu"))
    )
    assert events[-1].image.shape == (1, 3, 120, 160)
    assert events[-1].losses["total"] < events[0].losses["total"]


def test_tiles_refuse_w2(tubingen, starry):
    from brushwork import ConfigError

    with pytest.raises(ConfigError, match="tiles"):
        next(stylize_iter(tubingen, [starry], Config(size=160, iterations=1, tile_size=128, style_loss="w2")))
