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
        cover[t.top:t.bottom, t.left:t.right] += 1
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


def test_forced_tiles_paint_end_to_end(tubingen, starry):
    events = list(stylize_iter(tubingen, [starry], Config(size=160, start_size=160, iterations=6, tile_size=128,
                                                          device="cpu")))
    assert events[-1].image.shape == (1, 3, 120, 160)
    assert events[-1].losses["total"] < events[0].losses["total"]


def test_tiles_refuse_w2(tubingen, starry):
    from brushwork import ConfigError

    with pytest.raises(ConfigError, match="tiles"):
        next(stylize_iter(tubingen, [starry], Config(size=160, iterations=1, tile_size=128, style_loss="w2")))
