"""Encoded videos kept in memory, least recently used first out, in front of the disk feature cache.

A warm server answers many questions about the same few videos: reading their features back from
disk costs a file read and a copy to the accelerator each time, keeping them costs memory. This
cache keeps them as they came out of the encoder (on the model's device), up to `max_bytes`, and
falls back on the disk `FeatureCache` (filling itself from it). It has the disk cache's `get`/`put`,
so `VideoPipeline` takes either; it is safe to share between threads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from crosslmm_cli.engine.feature_cache import CachedFeatures, CacheKey, FeatureCache


@dataclass(frozen=True)
class MemoryCacheInfo:
    entries: int
    size_bytes: int
    max_bytes: int
    hits: int
    misses: int


class MemoryFirstCache:
    def __init__(self, max_bytes: int, disk: FeatureCache | None = None) -> None:
        self.max_bytes = int(max_bytes)
        self.disk = disk
        self._entries: OrderedDict[str, tuple[CachedFeatures, int]] = OrderedDict()
        self._size = 0
        self._hits = 0
        self._misses = 0
        self._lock = threading.Lock()

    def get(self, key: CacheKey) -> CachedFeatures | None:
        """From memory, else from disk (and then kept in memory); None when neither has it."""
        digest = key.digest()
        with self._lock:
            found = self._entries.get(digest)
            if found is not None:
                self._entries.move_to_end(digest)
                self._hits += 1
                return found[0]
            self._misses += 1
        hit = self.disk.get(key) if self.disk is not None else None
        if hit is not None:
            self._keep(digest, hit)
        return hit

    def put(self, key: CacheKey, features: Any, timestamps: Any, duration: float, meta: dict[str, Any] | None = None) -> bool:
        """Keep in memory (features as given, on their device) and store on disk; False if memory could not keep it."""
        import torch

        entry = CachedFeatures(features.detach(), torch.as_tensor(timestamps, dtype=torch.float64), float(duration), meta or {})
        if self.disk is not None:
            self.disk.put(key, features, timestamps, duration, meta)
        return self._keep(key.digest(), entry)

    def info(self) -> MemoryCacheInfo:
        with self._lock:
            return MemoryCacheInfo(len(self._entries), self._size, self.max_bytes, self._hits, self._misses)

    def _keep(self, digest: str, entry: CachedFeatures) -> bool:
        size = int(entry.features.numel() * entry.features.element_size())
        if size > self.max_bytes:
            return False
        with self._lock:
            previous = self._entries.pop(digest, None)
            if previous is not None:
                self._size -= previous[1]
            self._entries[digest] = (entry, size)
            self._size += size
            while self._size > self.max_bytes:
                _, (_, freed) = self._entries.popitem(last=False)
                self._size -= freed
        return True
