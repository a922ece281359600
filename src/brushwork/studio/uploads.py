"""The studio's uploaded pictures: checked when they arrive, kept in memory under random ids.

Nothing is written to disk, so no upload can land under a name the client chose and none is left
behind when the server stops. The format is judged from the bytes (Pillow's sniffing), never from
the file name or the Content-Type the browser sends."""

from __future__ import annotations

import io
import secrets
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError
from torch import Tensor

from .. import images
from ..reading import READ_FORMATS


class UploadError(Exception):
    """A refused upload: ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Upload:
    id: str
    name: str  # the client's file name, shown in the page only (never a path)
    data: bytes
    format: str
    width: int
    height: int
    thumbnail: bytes  # JPEG, at most THUMB px on its longest side

    def tensor(self) -> Tensor:
        return images.load_bytes(self.data, self.name)

    def info(self) -> dict:
        return {"id": self.id, "name": self.name, "format": self.format, "width": self.width,
                "height": self.height, "thumbnail": f"/api/uploads/{self.id}/thumbnail"}


THUMB = 192


def new_id() -> str:
    """128 random bits, URL-safe: ids of uploads and jobs cannot be guessed."""
    return secrets.token_urlsafe(16)


class UploadStore:
    """At most ``capacity`` uploads; the least recently used is dropped first."""

    def __init__(self, max_bytes: int, max_pixels: int, capacity: int = 64):
        self.max_bytes, self.max_pixels, self.capacity = max_bytes, max_pixels, capacity
        self._items: OrderedDict[str, Upload] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, data: bytes, name: str) -> Upload:
        name = (name or "upload").replace("\\", "/").rsplit("/", 1)[-1][:100] or "upload"
        if len(data) > self.max_bytes:
            raise self.too_big(name, len(data))
        fmt, w, h = self._sniff(data, name)
        if w * h > self.max_pixels:
            raise UploadError(422, f"{name}: {w}×{h} px is more than the studio takes "
                                   f"({self.max_pixels / 1e6:g} megapixels); shrink it first")
        try:
            pixels = images.load_bytes(data, name)
        except images.ImageError as e:
            raise UploadError(422, str(e)) from None
        small = images.resize(pixels, images.fit(THUMB, h, w)) if max(w, h) > THUMB else pixels
        upload = Upload(new_id(), name, data, fmt, w, h, images.encode(small, "JPEG"))
        with self._lock:
            self._items[upload.id] = upload
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return upload

    def too_big(self, name: str, size: int | str | None = None) -> UploadError:
        """The 413 for an upload over the byte cap (``size`` when known, not when a body streams in)."""
        what = f"{size} bytes is more" if size is not None else "more"
        return UploadError(413, f"{name}: {what} than the studio takes ({self.max_bytes // 2**20} MiB)")

    def get(self, upload_id: str) -> Upload:
        with self._lock:
            upload = self._items.get(upload_id)
            if upload is None:
                raise KeyError(upload_id)
            self._items.move_to_end(upload_id)
            return upload

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
            raise UploadError(415, f"{name}: not an image the studio can read; send one of {supported}") from None
        except Image.DecompressionBombError:
            raise UploadError(422, f"{name}: the image is far too large; shrink it first") from None
        if fmt not in READ_FORMATS:
            raise UploadError(415, f"{name}: {fmt} images are not supported; send one of {supported}")
        return fmt, w, h
