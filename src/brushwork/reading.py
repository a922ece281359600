"""The one image loader (CLI, library and web studio): whatever is on a user's disk becomes a
``(1, 3, H, W)`` float32 sRGB tensor in [0, 1], or an ``ImageError`` naming the file and the problem.

What it takes care of: EXIF orientation; embedded colour profiles (converted to sRGB); the modes
L, LA, P (with transparency), RGBA, CMYK, I;16 and 16-bit RGB (scaled, never clipped; transparent
parts composited onto white so hidden colours never show); the first frame of animated files; a
pixel cap below Pillow's decompression-bomb limit; truncated or corrupt files.
"""

from __future__ import annotations

import io
import os
import re
import struct
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError
from torch import Tensor

ImageLike = str | os.PathLike | Image.Image | Tensor
# Formats read (Pillow's names); MPO is the multi-picture JPEG many phones write.
READ_FORMATS = ("PNG", "JPEG", "MPO", "WEBP", "TIFF", "BMP", "GIF")
# Well below Pillow's decompression-bomb limit (~89 Mpx): a 64 Mpx picture already needs ~0.8 GB
# as float32 before any network runs, and is 16 times the pixels of a 2048 px painting.
MAX_PIXELS = 64_000_000
_SRGB = ImageCms.createProfile("sRGB")


class ImageError(ValueError):
    """An image that cannot be read or written."""


def load(image: ImageLike) -> Tensor:
    """Read a path, PIL image or tensor into a ``(1, 3, H, W)`` float32 tensor in [0, 1]."""
    if isinstance(image, Tensor):
        return from_tensor(image)
    if isinstance(image, Image.Image):
        return from_pil(image, "image")
    path = Path(image)
    if not path.exists():
        raise ImageError(f"{path}: no such file")
    if path.is_dir():
        raise ImageError(f"{path}: is a folder, not an image")
    try:
        with path.open("rb") as f:
            return read_file(f, str(path))
    except OSError as e:
        raise ImageError(f"{path}: cannot be read ({e.strerror or e})") from None


def load_bytes(data: bytes, name: str = "upload", max_side: int | None = None) -> Tensor:
    """The same as ``load`` for image bytes held in memory (the web studio's uploads)."""
    return read_file(io.BytesIO(data), name, max_side)


def read_file(f, name: str, max_side: int | None = None) -> Tensor:
    """``max_side``: the caller needs the picture only that large, so it is reduced while it is read
    (JPEG decoded at 1/2 to 1/8 scale, others averaged in whole blocks of pixels) and never held as
    floats at full size; the longest side then lies between ``max_side`` and twice that."""
    with warnings.catch_warnings():
        # Pillow warns about odd but readable files (bad TIFF tags, large pictures): the user
        # hears only our one line, when the file cannot be used.
        warnings.simplefilter("ignore")
        return _read(f, name, max_side)


def _read(f, name: str, max_side: int | None) -> Tensor:
    try:
        im = Image.open(f)
        with im:
            if im.format not in READ_FORMATS:
                raise ImageError(
                    f"{name}: {im.format} images are not supported; use one of "
                    f"{', '.join(f for f in READ_FORMATS if f != 'MPO')}"
                )
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise ImageError(
                    f"{name}: {w}×{h} px is more than brushwork reads ({MAX_PIXELS // 10**6} megapixels); "
                    f"shrink it first (the output is at most --size px anyway)"
                )
            im.seek(0)  # animated files: the first frame
            if _is_16bit_rgb_tiff(im):  # before load(): Pillow would decode it once more, at 8 bits
                f.seek(0)
                return _from_array(_tiff16(f, max_side), name)
            if max_side and im.format in ("JPEG", "MPO"):
                im.draft(None, (max_side, max_side))
            im.load()
            return from_pil(_reduce(im, max_side) if max_side else im, name)
    except ImageError:
        raise
    except Image.DecompressionBombError:
        raise ImageError(
            f"{name}: the image is far too large (over Pillow's decompression-bomb limit); shrink it first"
        ) from None
    except (UnidentifiedImageError, SyntaxError) as e:
        raise ImageError(
            f"{name}: not an image brushwork can read ({_why(e)}); "
            f"supported: {', '.join(f for f in READ_FORMATS if f != 'MPO')}"
        ) from None
    except (
        OSError,
        ValueError,
        EOFError,
        IndexError,
        TypeError,
        KeyError,
        ZeroDivisionError,
        MemoryError,
        struct.error,
    ) as e:
        raise ImageError(f"{name}: truncated or corrupt image ({_why(e)})") from None


def _why(e: BaseException) -> str:
    # Pillow's messages may show the file object (<_io.BufferedReader name='x.jpg'>): the name is said already.
    text = re.sub(r"\s*<_io\.\w+ (name=[^>]*|object at 0x[0-9a-f]+)>", "", str(e).split("\n")[0])[:120]
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def from_pil(im: Image.Image, name: str) -> Tensor:
    """A PIL image (any mode) as the loader's tensor: orientation, profile, mode handled."""
    im = ImageOps.exif_transpose(im)
    icc = im.info.get("icc_profile")
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        # 16-bit greyscale: Pillow's convert("RGB") would clip everything above 255 to white.
        grey = np.asarray(im, dtype=np.float64)
        scale = 1.0 if im.mode == "F" else 65535.0
        return _from_array(np.repeat((grey / scale)[..., None], 3, axis=2), name)
    if (
        im.mode in ("RGBA", "LA", "PA", "RGBa", "La")
        or (im.mode == "P" and "transparency" in im.info)
        or (im.mode in ("L", "RGB") and "transparency" in im.info)
    ):
        # Composite transparency onto white, never exposing the hidden colour under alpha = 0.
        rgba = _to_srgb(im.convert("RGBA") if im.mode != "RGBA" else im, icc, "RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, rgba).convert("RGB")
    else:
        im = _to_srgb(im, icc, "RGB")
    arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    return _from_array(arr, name)


def _to_srgb(im: Image.Image, icc: bytes | None, mode: str) -> Image.Image:
    """Convert with the embedded profile when there is a usable one (a bad profile is ignored:
    the pixels are still the picture)."""
    if not icc:
        return im
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(im, src, _SRGB, outputMode=mode)
        return im if converted is None else converted  # None only for inPlace=True
    except (ImageCms.PyCMSError, OSError, ValueError):
        return im


def _is_16bit_rgb_tiff(im: Image.Image) -> bool:
    bits = getattr(im, "tag_v2", {}).get(258) if im.format == "TIFF" else None
    return isinstance(bits, tuple) and len(bits) >= 3 and all(b == 16 for b in bits[:3])


def _reduce(im: Image.Image, max_side: int) -> Image.Image:
    """``im`` averaged in k×k blocks, k the largest whole factor keeping ``max_side``; turned upright
    first (the orientation tag does not survive) and put in a mode where averaging means something."""
    k = max(im.size) // max_side
    if k < 2:
        return im
    ImageOps.exif_transpose(im, in_place=True)  # a copy only where it turns
    if im.mode in ("1", "P", "PA") or "transparency" in im.info:
        im = im.convert("RGBA")  # palette indices cannot be averaged; transparency becomes alpha
    elif im.mode.startswith("I;16"):
        im = im.convert("I")
    return im.reduce(k)


def _tiff16(f, max_side: int | None = None) -> np.ndarray:
    """A 16-bit RGB(A) TIFF at full precision (Pillow keeps only the high byte), averaged in k×k
    blocks first when ``max_side`` allows (as ``_reduce``), so no full-size float copy is made."""
    import tifffile

    arr = tifffile.imread(f, key=0)
    if arr.ndim != 3 or arr.shape[-1] not in (3, 4):
        raise ValueError(f"unexpected TIFF layout {arr.shape}")
    k = max(arr.shape[:2]) // max_side if max_side else 1
    if k >= 2:  # rows a block at a time (casting the whole array would copy it), then columns
        rows = np.stack([arr[i : i + k].mean(axis=0, dtype=np.float32) for i in range(0, arr.shape[0], k)])
        starts = np.arange(0, arr.shape[1], k)
        counts = np.diff(np.append(starts, arr.shape[1])).astype(np.float32)
        arr = np.add.reduceat(rows, starts, axis=1) / counts[:, None]
    rgb = arr[..., :3].astype(np.float64) / 65535.0
    if arr.shape[-1] == 4:
        alpha = arr[..., 3:].astype(np.float64) / 65535.0
        rgb = rgb * alpha + (1 - alpha)  # onto white
    return rgb


def _from_array(arr: np.ndarray, name: str) -> Tensor:
    if arr.ndim != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageError(f"{name}: the image has no pixels")
    t = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32)).permute(2, 0, 1).unsqueeze(0)
    return t.clamp(0, 1).contiguous()


def from_tensor(t: Tensor) -> Tensor:
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
