"""The studio's uploaded pictures: checked when they arrive, kept in memory under random ids.

Nothing is written to disk, so no upload can land under a name the client chose and none is left
behind when the server stops. The format is judged from the bytes (Pillow's sniffing), never from
the file name or the Content-Type the browser sends. Each picture is decoded once, on arrival, and
shrunk to what the largest job the studio allows can use (``max_side`` px), and only those 8-bit
pixels are kept. Each client (a cookie the page gets) keeps its own most recent uploads, so one
that uploads many pictures drops its own oldest, not another's."""

from __future__ import annotations

import io
import re
import secrets
import threading
import warnings
from collections import Counter, OrderedDict
from dataclasses import dataclass

import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from .. import images
from ..reading import READ_FORMATS
from .errors import Refused, too_big

THUMB = 192
CLIENT_COOKIE = "brushwork_client"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,43}")


@dataclass(frozen=True)
class Upload:
    id: str
    name: str  # the client's file name, shown in the page only (never a path)
    format: str
    width: int  # of the file; the pixels kept may be fewer
    height: int
    thumbnail: bytes  # JPEG, at most THUMB px on its longest side
    pixels: Tensor  # (1, 3, h, w) uint8, at most max_side px on the longest side
    client: str = ""

    def tensor(self) -> Tensor:
        return self.pixels.float().div_(255)

    def info(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "format": self.format,
            "width": self.width,
            "height": self.height,
            "thumbnail": f"/api/uploads/{self.id}/thumbnail",
        }


def new_id() -> str:
    """128 random bits, URL-safe: ids of uploads, jobs and clients cannot be guessed."""
    return secrets.token_urlsafe(16)


def clean_name(name: str) -> str:
    """The client's file name without any folder, at most 100 characters (shown, never a path)."""
    return (name or "upload").replace("\\", "/").rsplit("/", 1)[-1][:100] or "upload"


def client_of(cookie: str | None) -> str:
    """The client a request comes from: its cookie's token, or "" (one quota shared by requests
    without one, such as scripts)."""
    return cookie if cookie and _TOKEN.fullmatch(cookie) else ""


class UploadStore:
    """At most ``capacity`` uploads, at most ``per_client`` of them from one client; when full, the
    client holding the most gives up its least recently used."""

    def __init__(self, max_bytes: int, max_pixels: int, max_side: int, capacity: int = 64, per_client: int = 16):
        self.max_bytes, self.max_pixels, self.max_side = max_bytes, max_pixels, max_side
        self.capacity, self.per_client = capacity, per_client
        self._items: OrderedDict[str, Upload] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, data: bytes, name: str, client: str = "") -> Upload:
        name = clean_name(name)
        if len(data) > self.max_bytes:
            raise self.too_big(name, len(data))
        fmt, w, h = self._sniff(data, name)
        if w * h > self.max_pixels:
            raise Refused(
                422,
                f"{name}: {w}×{h} px is more than the studio takes "
                f"({self.max_pixels / 1e6:g} megapixels); shrink it first",
            )
        try:
            pixels = images.load_bytes(data, name, self.max_side)
        except images.ImageError as e:
            raise Refused(422, str(e)) from None
        pixels = _fit(pixels, self.max_side)
        upload = Upload(
            new_id(),
            name,
            fmt,
            w,
            h,
            images.encode(_fit(pixels, THUMB), "JPEG"),
            pixels.mul(255).round_().to(torch.uint8),
            client,
        )
        with self._lock:
            self._items[upload.id] = upload
            self._evict(client)
        return upload

    def too_big(self, name: str, size: int | str | None = None) -> Refused:
        return too_big(clean_name(name), size, f"{self.max_bytes / 2**20:g} MiB")

    def get(self, upload_id: str) -> Upload:
        with self._lock:
            upload = self._items.get(upload_id)
            if upload is None:
                raise KeyError(upload_id)
            self._items.move_to_end(upload_id)
            return upload

    def _evict(self, client: str) -> None:
        mine = [u.id for u in self._items.values() if u.client == client]
        if len(mine) > self.per_client:
            del self._items[mine[0]]
        while len(self._items) > self.capacity:
            counts = Counter(u.client for u in self._items.values())
            most = max(counts.values())
            del self._items[next(i for i, u in self._items.items() if counts[u.client] == most)]

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    @staticmethod
    def _sniff(data: bytes, name: str) -> tuple[str, int, int]:
        """(format, width, height) from the header alone, or 415 for what is not a readable image."""
        supported = ", ".join(f for f in READ_FORMATS if f != "MPO")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with Image.open(io.BytesIO(data)) as im:
                    fmt, (w, h) = im.format, im.size
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
            raise Refused(415, f"{name}: not an image the studio can read; send one of {supported}") from None
        except Image.DecompressionBombError:
            raise Refused(422, f"{name}: the image is far too large; shrink it first") from None
        if fmt not in READ_FORMATS:
            raise Refused(415, f"{name}: {fmt} images are not supported; send one of {supported}")
        return fmt, w, h


def _fit(pixels: Tensor, side: int) -> Tensor:
    """``pixels`` with the longest side at most ``side`` px."""
    h, w = pixels.shape[-2:]
    return images.resize(pixels, images.fit(side, h, w)) if max(h, w) > side else pixels
