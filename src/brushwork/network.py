"""The network a run paints with: VGG19 cut after the deepest layer the run needs, on its device in
its precision, built once per process for each such combination (``cache.NETWORKS``), so a batch,
the studio or a notebook builds it once."""

from __future__ import annotations

from pathlib import Path

import torch

from . import cache
from .config import Config
from .devices import resolve_precision, tune
from .vgg import VGG19Features
from .weights import load_weights


def network(cfg: Config, device: torch.device) -> tuple[VGG19Features, tuple]:
    """(the network, its cache key: what the network depends on, which the style targets' keys include)."""
    dtype = resolve_precision(cfg.precision, device)
    tune(device)
    channels_last = dtype != torch.float32 or device.type == "cuda"
    last = cfg.deepest_layer
    stamp = None  # a weights file changed in place gives another network
    if cfg.weights and Path(cfg.weights).is_file():
        st = Path(cfg.weights).stat()
        stamp = (st.st_size, st.st_mtime_ns)
    key = (cfg.weights, stamp, cfg.weights_format, last, cfg.pooling, str(device), dtype, channels_last)

    def build() -> VGG19Features:
        net = VGG19Features(load_weights(cfg.weights, cfg.weights_format), last=last, pooling=cfg.pooling)
        return net.to(device).set_precision(dtype, channels_last=channels_last)

    return cache.NETWORKS.get(key, build), key
