"""In-process caches, so that runs after the first (a batch, the web studio, a notebook) skip work
whose inputs have not changed: the network on its device, and each scale's style targets.

Keys hold everything the cached value depends on; images enter by a digest of their pixels, so an
equal style image read again from another file still hits. Nothing is written to disk (the library
writes no files it was not asked for); one CLI run computes its targets once per scale anyway.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TypeVar

import torch
from torch import Tensor

V = TypeVar("V")


class LRU:
    """A small least-recently-used map, safe to share between threads (the studio's workers)."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._items: OrderedDict[Hashable, object] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable, make: Callable[[], V]) -> V:
        """The value under ``key``, made by ``make()`` (outside the lock) when absent."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]  # type: ignore[return-value]
            self.misses += 1
        value = make()
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._items)


# Networks are ~80 MB each in float32; style targets (five Gram matrices) about 2.5 MB per region.
NETWORKS = LRU(2)
STYLE_TARGETS = LRU(16)


def digest(t: Tensor) -> str:
    """A digest of a tensor's shape, dtype and values (on any device)."""
    t = t.detach().to("cpu").contiguous()
    h = hashlib.blake2b(digest_size=16)
    h.update(repr((tuple(t.shape), str(t.dtype))).encode())
    h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def images_key(imgs: Sequence[Tensor]) -> tuple[str, ...]:
    return tuple(digest(t) for t in imgs)


def masks_key(masks: Mapping[int, Tensor]) -> tuple[tuple[int, str], ...]:
    return tuple(sorted((i, digest(m)) for i, m in masks.items()))


def clear() -> None:
    """Forget every cached network and target (tests; freeing GPU memory)."""
    NETWORKS.clear()
    STYLE_TARGETS.clear()
