"""VGG19 feature extractor with jcjohnson/neural-style layer names.

The network is built only up to the deepest layer a run asks for, frozen and in eval mode;
one forward pass returns a dict of the requested activations. Its input is an RGB image in
[0, 1]; the weight source's own preprocessing (``weights.Preprocess``) is applied inside, so
callers never see Caffe's BGR/0–255 convention.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import trunk
from .layers import LAYERS, check_layer
from .weights import VGGWeights


class VGG19Features(nn.Module):
    """VGG19 up to ``last`` (inclusive). ``forward(image, layers)`` returns ``{name: activation}``.

    image: ``(m, 3, H, W)`` RGB in [0, 1]. Pooling ``max`` (the trained network) or ``avg``
    (Gatys et al. 2015 §2: "slightly more appealing results").

    normalize: Gatys et al. 2015 (§2) use a VGG19 rescaled so that mean activations are 1; the raw
    Caffe weights give layer means from ~20 (relu1_1) to ~400 (relu4_1), and since Gram costs grow
    with the fourth power of that, equal λ_l would then be all relu4_1. We divide each returned
    activation by its layer's mean activation (one scale per layer rather than Gatys's one per
    filter, which is unstable on few reference images), measured once on the bundled reference
    pictures. The costs' formulas are untouched; only the features they see are rescaled. The
    scales are folded into the convolutions (ReLU and max pooling commute with a positive factor),
    so a step spends no pass over the activations on them.
    """

    scale: Tensor  # buffers: the input's scale and shift (weights.Preprocess), on the network's device
    shift: Tensor

    def __init__(self, weights: VGGWeights, last: str = "relu5_1", pooling: str = "max", normalize: bool = True):
        super().__init__()
        if pooling not in ("max", "avg"):
            raise ValueError(f"pooling must be 'max' or 'avg', not {pooling!r}")
        self.names = LAYERS[: LAYERS.index(check_layer(last)) + 1]
        self.pooling = pooling
        self.convs = nn.ModuleDict()
        for name in self.names:
            if name.startswith("conv"):
                w, b = weights.convs[name]
                # Built on the meta device: no time spent on a random init we would overwrite.
                conv = nn.Conv2d(w.shape[1], w.shape[0], 3, padding=1, device="meta")
                conv.weight = nn.Parameter(w.clone(), requires_grad=False)
                conv.bias = nn.Parameter(b.clone(), requires_grad=False)
                self.convs[name] = conv
        pre = weights.preprocess
        self.bgr = pre.bgr
        std = torch.tensor(pre.std)
        self.register_buffer("scale", (pre.scale / std).view(1, 3, 1, 1))
        self.register_buffer("shift", (torch.tensor(pre.mean) / std).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()
        self.dtype = torch.float32  # the autocast dtype of the convolutions (see set_precision)
        self.channels_last = False
        self.layer_scale: dict[str, float] = {}
        self.carried = dict.fromkeys(self.names, 1.0)  # the scale each layer's output already has
        if normalize:
            self.layer_scale = _reference_scales(self, weights)
            self._fold_scales()

    def _fold_scales(self) -> None:
        """Scale each convolution so that its ReLU's output comes out multiplied by that layer's
        ``layer_scale`` (the weights undo the scale their input carries). Only the layers whose
        measured scale differs from what they carry (conv outputs, pools) still need a product."""
        carried = 1.0
        for name in self.names:
            if name.startswith("conv"):
                s = self.layer_scale.get(name.replace("conv", "relu"), 1.0)
                conv = self.convs[name]
                assert isinstance(conv, nn.Conv2d) and conv.bias is not None
                conv.weight.data.mul_(s / carried)
                conv.bias.data.mul_(s)
                carried = s
            self.carried[name] = carried

    def set_precision(self, dtype: torch.dtype, channels_last: bool) -> VGG19Features:
        """Run the convolutions under autocast to ``dtype`` (activations come back in it; the costs
        cast them to float32), in channels-last layout if asked (what tensor cores and oneDNN's
        bfloat16 kernels want)."""
        self.dtype, self.channels_last = dtype, channels_last
        layout = torch.channels_last if channels_last else torch.contiguous_format
        for conv in self.convs.values():  # cast once here, not by autocast at every step
            conv.to(dtype=dtype)
        return self.to(memory_format=layout)  # type: ignore[call-overload]  # Module.to takes it; not its stubs

    def preprocess(self, image: Tensor) -> Tensor:
        """RGB [0, 1] -> the network's input convention."""
        if self.bgr:
            image = image.flip(-3)
        return image * self.scale.to(image.dtype) - self.shift.to(image.dtype)

    def forward(self, image: Tensor, layers: Iterable[str]) -> dict[str, Tensor]:
        wanted = {check_layer(n) for n in layers}
        missing = wanted - set(self.names)
        if missing:
            raise ValueError(f"layers {sorted(missing)} lie beyond this network's last layer {self.names[-1]}")
        deepest = max(self.names.index(n) for n in wanted)
        x = self.preprocess(image)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        x = x.to(self.dtype)
        if trunk.available(x) and not any(n.startswith("conv") for n in wanted):
            order = [n for n in self.names if n in wanted]
            acts = trunk.Trunk.apply(x, self.convs, self.names[: deepest + 1], order, self.pooling)
            return {n: self._rescaled(n, a) for n, a in zip(order, acts, strict=True)}
        with torch.autocast(x.device.type, dtype=self.dtype, enabled=self.dtype != torch.float32):
            return self._layers(x, wanted, deepest)

    def unfolded_scale(self, name: str) -> float:
        """The part of layer ``name``'s scale that the folded weights do not carry (1 for ReLUs)."""
        return self.layer_scale.get(name, 1.0) / self.carried[name]

    def _rescaled(self, name: str, a: Tensor) -> Tensor:
        """Layer ``name``'s activation ``a`` times the part of its scale the weights do not carry."""
        scale = self.unfolded_scale(name)
        return a if scale == 1.0 else a * scale

    def _layers(self, x: Tensor, wanted: set[str], deepest: int) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        for name in self.names[: deepest + 1]:
            if name.startswith("conv"):
                x = self.convs[name](x)
            elif name.startswith("relu"):
                # In place is safe unless the caller asked for the conv output it would overwrite.
                x = F.relu(x, inplace=name.replace("relu", "conv") not in wanted)
            elif self.pooling == "max":
                x = F.max_pool2d(x, 2, 2)
            else:
                x = F.avg_pool2d(x, 2, 2)
            if name in wanted:
                out[name] = self._rescaled(name, x)
        return out


# Reference scales per (weights, pooling): computing them costs two forward passes at 256 px.
_SCALES: dict[tuple[int, str], dict[str, float]] = {}


def _reference_scales(net: VGG19Features, weights: VGGWeights) -> dict[str, float]:
    """1 / mean |activation| of every layer of ``net`` over the bundled reference images."""
    from . import images
    from .data import reference_images

    key = (id(weights), net.pooling)
    cached = _SCALES.get(key)
    if cached is not None and all(n in cached for n in net.names):
        return {n: cached[n] for n in net.names}
    sums: dict[str, float] = {}
    refs = reference_images()
    with torch.no_grad():
        for path in refs:
            img = images.load(path)
            img = images.resize(img, images.fit(256, *img.shape[-2:]))
            for name, a in net(img, net.names).items():
                sums[name] = sums.get(name, 0.0) + a.abs().mean().item() / len(refs)
    scales = {n: 1.0 / m if m > 0 else 1.0 for n, m in sums.items()}
    _SCALES[key] = scales
    return scales
