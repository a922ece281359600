"""Resizing and writing images (reading: ``reading.py``). Tensors are ``(1, 3, H, W)`` float32 RGB
in [0, 1]. TIFF outputs are 16 bits per channel; PNG outputs carry the run's parameters.

Writes are atomic and keep the modes a user expects (``writing.py``); ``check_writable`` tries
the output's folder before any work.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, PngImagePlugin, UnidentifiedImageError
from torch import Tensor

from . import writing
from .reading import ImageError, ImageLike, load, load_bytes  # noqa: F401 (re-exported)
from .writing import write_atomic  # noqa: F401 (re-exported)

PARAMS_KEY = "brushwork"
SAVE_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
}


def fit(size: int, h: int, w: int) -> tuple[int, int]:
    """Height and width with the longest side ``size``, aspect kept (each at least 1)."""
    s = size / max(h, w)
    return max(1, round(h * s)), max(1, round(w * s))


def resize(image: Tensor, hw: Sequence[int]) -> Tensor:
    """Resize ``(m, 3, H, W)`` to ``hw`` (height, width) with antialiasing (bicubic, clamped)."""
    if tuple(image.shape[-2:]) == tuple(hw):
        return image
    return F.interpolate(image, size=tuple(hw), mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)


def to_pil(image: Tensor) -> Image.Image:
    return Image.fromarray(to_uint8(image), "RGB")


def to_uint8(image: Tensor) -> np.ndarray:
    """A ``(1, 3, H, W)`` picture in [0, 1] as ``(H, W, 3)`` uint8 (a video frame, a PIL image's pixels)."""
    return (image.detach().float().cpu().clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)


def from_uint8(frame: np.ndarray) -> Tensor:
    """``(H, W, 3)`` uint8 to ``(1, 3, H, W)`` float in [0, 1] (a copy: frames may be read-only)."""
    return torch.tensor(frame).permute(2, 0, 1)[None].float() / 255


def save_format(path: str | os.PathLike) -> str:
    """The Pillow format ``path``'s suffix names, if brushwork writes it, and its folder exists."""
    path = Path(path)
    fmt = SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImageError(f"{path}: unknown image type {path.suffix!r}; use one of {', '.join(sorted(SAVE_FORMATS))}")
    try:
        if path.is_dir():
            raise ImageError(f"{path}: is a folder")
        if not writing.target(path).parent.is_dir():
            raise ImageError(f"{path}: folder {path.parent} does not exist")
    except OSError as e:  # a name too long, a loop of links
        raise ImageError(f"{path}: {writing.saying(e)}") from None
    return fmt


def check_writable(path: str | os.PathLike) -> str:
    """Raise unless brushwork can write the image ``path`` now (its type, its folder, a byte
    written there: a read-only or full file system is found before any work); its Pillow format."""
    fmt = save_format(path)
    folder = writing.target(path).parent
    why = writing.unwritable(folder, writing.target(path).name)
    if why is not None:
        raise ImageError(f"{path}: cannot write in {folder} ({why})")
    return fmt


def save(image: Tensor | Image.Image, path: str | os.PathLike, params: dict | None = None) -> Path:
    """Write atomically; PNG files carry ``params`` as JSON in a text chunk. Returns the path."""
    data = encode(image, save_format(path), params)
    return write_atomic(path, lambda f: f.write(data))


def save_or_rescue(image: Tensor, path: str | os.PathLike, params: dict | None = None) -> tuple[Path, OSError | None]:
    """``save``, but when ``path`` cannot be written (full disk, read-only) the picture goes to a
    rescue folder (``writing.write_or_rescue``): (where it went, the error or None). For the CLI:
    the library writes only where it is asked to."""
    return writing.write_or_rescue(path, encode(image, save_format(path), params))


def encode(image: Tensor | Image.Image, fmt: str = "PNG", params: dict | None = None) -> bytes:
    """The bytes of ``image`` in ``fmt`` (a SAVE_FORMATS value); PNGs carry ``params``."""
    kwargs: dict = {}
    if fmt == "PNG" and params is not None:
        info = PngImagePlugin.PngInfo()
        info.add_itxt(PARAMS_KEY, json.dumps(params, sort_keys=True))
        kwargs["pnginfo"] = info
    elif fmt in ("JPEG", "WEBP"):
        kwargs["quality"] = 95
    buf = io.BytesIO()
    if fmt == "TIFF":  # 16 bits per channel: 8 would band the painting's smooth gradients
        import tifffile

        if isinstance(image, Image.Image):
            data = np.asarray(image.convert("RGB"), dtype=np.uint16) * 257
        else:
            scaled = image.detach().float().cpu().clamp(0, 1)[0].permute(1, 2, 0).numpy() * 65535.0
            data = scaled.round().astype(np.uint16)
        tifffile.imwrite(buf, data, photometric="rgb", compression="zlib")
    else:
        pil = image if isinstance(image, Image.Image) else to_pil(image)
        pil.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def read_params(path: str | os.PathLike) -> dict:
    """The parameters a brushwork PNG carries: a JSON object with a ``config`` object in it."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: is a folder, not a picture" if path.is_dir() else f"{path}: no such file")
    try:
        with Image.open(path) as im:
            im.load()
            text = getattr(im, "text", {}).get(PARAMS_KEY)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"{path}: cannot be read as an image ({type(e).__name__})") from None
    if text is None:
        raise ImageError(f"{path}: carries no brushwork parameters")
    try:
        params = json.loads(text)
    except ValueError:
        params = None
    if not isinstance(params, dict) or not isinstance(params.get("config"), dict):
        raise ImageError(f"{path}: its brushwork parameters are damaged (not a JSON object with a config)")
    return params
