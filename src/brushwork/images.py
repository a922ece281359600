"""Resizing and writing images (reading: ``reading.py``). Tensors are ``(1, 3, H, W)`` float32 RGB
in [0, 1]. TIFF outputs are 16 bits per channel; PNG outputs carry the run's parameters.

Writes are atomic: a temporary file in the target's folder, then ``os.replace``, so an
existing output is never left half written.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, PngImagePlugin, UnidentifiedImageError
from torch import Tensor

from .reading import MAX_PIXELS, READ_FORMATS, ImageError, ImageLike, load, load_bytes  # noqa: F401 (re-exported)

PARAMS_KEY = "brushwork"
SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF",
                ".bmp": "BMP"}


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
    return Image.fromarray(to_uint8(image), "RGB")


def to_uint8(image: Tensor) -> np.ndarray:
    """A ``(1, 3, H, W)`` picture in [0, 1] as ``(H, W, 3)`` uint8 (a video frame, a PIL image's pixels)."""
    return (image.detach().float().cpu().clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)


def from_uint8(frame: np.ndarray) -> Tensor:
    """``(H, W, 3)`` uint8 to ``(1, 3, H, W)`` float in [0, 1] (a copy: frames may be read-only)."""
    return torch.tensor(frame).permute(2, 0, 1)[None].float() / 255


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
    data = encode(image, fmt, params)
    return write_atomic(path, lambda f: f.write(data))


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
            data = (image.detach().float().cpu().clamp(0, 1)[0].permute(1, 2, 0).numpy() * 65535.0).round()
            data = data.astype(np.uint16)
        tifffile.imwrite(buf, data, photometric="rgb", compression="zlib")
    else:
        pil = image if isinstance(image, Image.Image) else to_pil(image)
        pil.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def write_atomic(path: str | os.PathLike, write) -> Path:
    """Call ``write(file)`` on a temporary file in ``path``'s folder, then rename it to ``path``:
    an existing file is replaced only by a complete one."""
    with replacing(path) as tmp:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
    return Path(path)


@contextlib.contextmanager
def replacing(path: str | os.PathLike) -> Iterator[str]:
    """A temporary file's path beside ``path``: renamed to ``path`` when the block ends, removed
    if it raises (also on Ctrl-C), so ``path`` is never left half written."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
