"""Reading, resizing and writing images. Tensors are ``(1, 3, H, W)`` float32 RGB in [0, 1].

Writes are atomic: a temporary file in the target's folder, then ``os.replace``, so an
existing output is never left half written.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError
from torch import Tensor

ImageLike = Union[str, os.PathLike, Image.Image, Tensor]
PARAMS_KEY = "brushwork"
SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF",
                ".bmp": "BMP"}


class ImageError(ValueError):
    """An image that cannot be read or written."""


def load(image: ImageLike) -> Tensor:
    """Read a path, PIL image or tensor into a ``(1, 3, H, W)`` float32 tensor in [0, 1]."""
    if isinstance(image, Tensor):
        return _from_tensor(image)
    if isinstance(image, Image.Image):
        return _from_pil(image)
    path = Path(image)
    if not path.exists():
        raise ImageError(f"{path}: no such file")
    if path.is_dir():
        raise ImageError(f"{path}: is a folder, not an image")
    try:
        with Image.open(path) as im:
            im.load()
            return _from_pil(ImageOps.exif_transpose(im))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"{path}: cannot be read as an image ({e.__class__.__name__}: {e})") from None


def _from_pil(im: Image.Image) -> Tensor:
    if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
        # Composite transparency onto white, never exposing the hidden colour under alpha = 0.
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, rgba)
    arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).unsqueeze(0)


def _from_tensor(t: Tensor) -> Tensor:
    if t.dim() == 3:
        t = t.unsqueeze(0)
    if t.dim() != 4 or t.shape[0] != 1 or t.shape[1] not in (1, 3):
        raise ImageError(f"an image tensor must be (3, H, W) or (1, 3, H, W), not {tuple(t.shape)}")
    t = t.detach().float().cpu()
    if t.shape[1] == 1:
        t = t.expand(1, 3, *t.shape[2:])
    if not torch.isfinite(t).all():
        raise ImageError("image tensor holds NaN or infinite values")
    return t.clamp(0, 1).contiguous()


def fit(size: int, h: int, w: int) -> tuple[int, int]:
    """Height and width with the longest side ``size``, aspect kept (each at least 1)."""
    s = size / max(h, w)
    return max(1, round(h * s)), max(1, round(w * s))


def resize(image: Tensor, hw: tuple[int, int]) -> Tensor:
    """Resize ``(m, 3, H, W)`` to ``hw`` with antialiasing (bicubic, clamped)."""
    if tuple(image.shape[-2:]) == tuple(hw):
        return image
    return F.interpolate(image, size=hw, mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)


def to_pil(image: Tensor) -> Image.Image:
    arr = (image.detach().float().cpu().clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)
    return Image.fromarray(arr, "RGB")


def check_writable(path: str | os.PathLike) -> str:
    """Raise unless ``path`` names an image brushwork can write; return its Pillow format."""
    path = Path(path)
    fmt = SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImageError(f"{path}: unknown image type {path.suffix!r}; use one of {', '.join(sorted(SAVE_FORMATS))}")
    if not path.parent.is_dir():
        raise ImageError(f"{path}: folder {path.parent} does not exist")
    if path.is_dir():
        raise ImageError(f"{path}: is a folder")
    return fmt


def save(image: Tensor | Image.Image, path: str | os.PathLike, params: dict | None = None) -> Path:
    """Write atomically; PNG files carry ``params`` as JSON in a text chunk. Returns the path."""
    path = Path(path)
    fmt = check_writable(path)
    pil = image if isinstance(image, Image.Image) else to_pil(image)
    kwargs: dict = {}
    if fmt == "PNG" and params is not None:
        info = PngImagePlugin.PngInfo()
        info.add_itxt(PARAMS_KEY, json.dumps(params, sort_keys=True))
        kwargs["pnginfo"] = info
    elif fmt in ("JPEG", "WEBP"):
        kwargs["quality"] = 95
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            pil.save(f, format=fmt, **kwargs)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_params(path: str | os.PathLike) -> dict:
    """The parameters a brushwork PNG carries."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    try:
        with Image.open(path) as im:
            im.load()
            text = getattr(im, "text", {}).get(PARAMS_KEY)
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ImageError(f"{path}: cannot be read as an image ({e})") from None
    if text is None:
        raise ImageError(f"{path}: carries no brushwork parameters")
    return json.loads(text)
