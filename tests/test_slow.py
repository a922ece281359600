"""Long end-to-end runs: ``pytest -m slow``."""

import pytest
import torch

from brushwork import Config, images, stylize
from brushwork.color import rgb_to_yiq

pytestmark = pytest.mark.slow


def test_256px_painting_takes_on_the_style(tubingen, starry):
    r = stylize(tubingen, [starry], Config(size=256, iterations=150, device="cpu"))
    content = images.resize(images.load(tubingen), tuple(r.image.shape[-2:]))
    style = images.load(starry)

    # The Starry Night is blue: the output's mean chroma moves from the photo's towards the painting's.
    def iq(x):
        return rgb_to_yiq(x)[:, 1:].mean(dim=(0, 2, 3))

    assert torch.dist(iq(r.image), iq(style)) < torch.dist(iq(content), iq(style)) / 2
    assert r.losses["style"] < 1.0 and r.losses["content"] < 1.5
