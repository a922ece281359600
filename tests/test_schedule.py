"""Coarse to fine: when a scale has converged, and how the next one starts."""

import torch

from brushwork import images
from brushwork.schedule import Convergence, upsample


def test_convergence_stops_when_the_best_loss_stalls_over_the_window():
    stop = Convergence(0.01)
    W = Convergence.WINDOW
    # Falls by 10 % a step for 12 steps, then by 0.05 % a step: over a window of W steps the fall
    # is 1 − 0.9995^W ≈ 0.5 % < 1 % only once the whole window lies in the slow part.
    losses = [100 * 0.9**i for i in range(12)] + [100 * 0.9**11 * 0.9995**j for j in range(1, 40)]
    stops = [i for i, loss in enumerate(losses, 1) if stop.update(loss)]
    assert stops[0] == 12 + W
    assert not any(Convergence(0.0).update(v) for v in losses)  # 0: never
    inf = Convergence(0.5)
    assert not any(inf.update(float("inf")) for _ in range(3 * W))  # no finite loss yet: keep going


def test_upsample_puts_back_the_photos_band_between_the_two_sizes():
    x = torch.full((1, 3, 4, 4), 0.5)
    content = torch.zeros(1, 3, 8, 8)
    content[..., ::2, ::2] = 1.0  # one bright pixel in every 2×2 block: detail only the 8 px size holds
    plain = upsample(x, content, 0.0)
    assert torch.equal(plain, images.resize(x, (8, 8)))
    band = content - images.resize(images.resize(content, (4, 4)), (8, 8))
    assert band[..., 0, 0].min() > 0.5 and band[..., 1, 1].max() < 0  # what the small size averaged away
    once = upsample(x, content, 1.0)
    assert torch.allclose(once, (plain + band).clamp(0, 1))
    assert torch.allclose(upsample(x, content, 0.5), (plain + 0.5 * band).clamp(0, 1))
    assert once.min() >= 0 and once.max() <= 1
    same = torch.rand(1, 3, 8, 8)
    assert torch.equal(upsample(same, content, 1.0), same)  # no new size, nothing to put back


def test_steps_and_the_total_follow_a_scale_that_ends_early():
    from brushwork.events import Progress

    ev = Progress(step=37, iterations=87, losses={}, elapsed=1.0, scale=1, sizes=(256, 512), steps=(30, 57))
    assert ev.scale_step == 7 and not ev.done
