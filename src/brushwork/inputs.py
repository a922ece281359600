"""A run's pictures, read and checked before any work starts: the content, the style images, the
masks, and the options that depend on them (blend weights per style, the smallest size the
network can take). Every problem found here is a ``ConfigError`` or ``ImageError`` naming it."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from PIL import Image
from torch import Tensor

from . import color, images
from .config import Config, ConfigError
from .layers import downsampling

# A mask may differ from the content's aspect ratio by this much (rounding of resized files).
MASK_ASPECT_TOLERANCE = 0.02


@dataclass(frozen=True)
class Inputs:
    """Full-resolution CPU tensors ``(1, 3, H, W)`` in [0, 1]; masks ``(1, 1, H, W)`` at the
    output's size, keyed by style index; ``blend`` normalized to sum 1; ``init`` the picture
    ``--init`` names, if it names one."""

    content: Tensor
    styles: tuple[Tensor, ...]
    masks: Mapping[int, Tensor]
    blend: tuple[float, ...]
    init: Tensor | None = None

    def working(self, mode: str) -> tuple[Tensor, list[Tensor]]:
        """The pictures the optimization sees for a colour mode (full resolution, CPU)."""
        if mode == "luminance":
            return color.luminance(self.content), [color.match_luminance(s, self.content) for s in self.styles]
        if mode == "match":
            return self.content, [color.match_colors(s, self.content) for s in self.styles]
        return self.content, list(self.styles)


def prepare(
    content: images.ImageLike,
    styles: Sequence[images.ImageLike],
    config: Config,
    masks: Mapping[int, images.ImageLike] | None = None,
) -> Inputs:
    """Read and check everything a run needs; raise before any work if something is wrong."""
    styles = style_list(styles)
    if not styles:
        raise ConfigError("at least one style image is needed")
    blend = config.blend(len(styles))
    mask_files = resolve_masks(config.style_masks, styles, masks)
    content_full = images.load(content)
    sizes = config.schedule()
    h, w = images.fit(sizes[0], *content_full.shape[-2:])
    if min(h, w) < min_size(config):
        raise ConfigError(
            f"a {w}×{h} px picture is too small: the deepest layer needs at least "
            f"{min_size(config)} px on each side (raise --size or --start-size)"
        )
    styles_full = tuple(images.load(s) for s in styles)
    for s in styles_full:
        style_hw(s, sizes[0], config)  # the smallest scale is where a style image is smallest
    out_hw = images.fit(sizes[-1], *content_full.shape[-2:])
    masks_full = {
        i: load_mask(m, content_full.shape[-2:], out_hw, f"--style-mask {i + 1}") for i, m in mask_files.items()
    }
    init = None if config.init in ("noise", "content") else _load_named(config.init, "--init")
    return Inputs(content_full, styles_full, masks_full, tuple(blend), init)


def style_list(styles) -> list:
    """The style images as a list: one image (a path, PIL image or tensor) is a list of one."""
    if isinstance(styles, (str, os.PathLike, Image.Image, Tensor)):
        return [styles]
    return list(styles)


def _load_named(image: images.ImageLike, option: str) -> Tensor:
    """``images.load``, its error naming the option that gave the file."""
    try:
        return images.load(image)
    except images.ImageError as e:
        raise images.ImageError(f"{option}: {e}") from None


def min_size(config: Config) -> int:
    """Smallest side that leaves the deepest layer at least one pixel."""
    return 2 ** downsampling(config.deepest_layer)


def style_hw(style: Tensor, size: int, config: Config) -> tuple[int, int]:
    """A style image's (h, w) at a scale of ``size`` px (``style_scale`` × size on its longest side),
    checked against the style layers' minimum."""
    hs, ws = images.fit(max(1, round(size * config.style_scale)), *style.shape[-2:])
    if min(hs, ws) < min_size(config):
        raise ConfigError(
            f"a style image at {ws}×{hs} px is too small for the style layers (at least "
            f"{min_size(config)} px a side); raise --style-scale or --start-size"
        )
    return hs, ws


def style_at(style: Tensor, size: int, config: Config) -> Tensor:
    """A style image resized for a scale of ``size`` px."""
    return images.resize(style, style_hw(style, size, config))


def resolve_masks(specs: Sequence[str], styles: Sequence, extra: Mapping | None = None) -> dict[int, images.ImageLike]:
    """``STYLE=MASK`` strings (STYLE a 1-based number or a style's path as given) -> {index: mask}."""
    out: dict[int, images.ImageLike] = dict(extra or {})
    names = [str(s) for s in styles]
    for spec in specs:
        key, mask = spec.split("=", 1)
        if key.isdigit() and 1 <= int(key) <= len(styles):
            index = int(key) - 1
        elif key in names:
            index = names.index(key)
        else:
            raise ConfigError(
                f"--style-mask {spec!r}: {key!r} is neither a style number (1–{len(styles)}) nor one of the style paths"
            )
        if index in out:
            raise ConfigError(f"--style-mask {spec!r}: style {index + 1} has a mask already; give one mask per style")
        out[index] = mask
    return out


def load_mask(mask: images.ImageLike, content_hw: Sequence[int], hw: tuple[int, int], option: str = "mask") -> Tensor:
    """A mask image as ``(1, 1, H, W)`` in [0, 1] (white = 1), resized to ``hw``. Its shape must
    be the content's (any resolution): a mask drawn for another picture would put styles astray."""
    m = _load_named(mask, option)
    mh, mw = m.shape[-2:]
    ch, cw = content_hw
    if abs((mw / mh) / (cw / ch) - 1) > MASK_ASPECT_TOLERANCE:
        name = mask if isinstance(mask, (str, os.PathLike)) else "(an image)"
        raise ConfigError(
            f"mask {name}: {mw}×{mh} px does not have the content's shape ({cw}×{ch} px); "
            f"draw it on the content picture or resize it to {cw}×{ch}"
        )
    return images.resize(m, hw)[:, :1]
