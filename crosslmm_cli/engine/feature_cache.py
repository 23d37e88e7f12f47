"""A disk cache of encoded videos, so a second question about the same movie skips decoding and
the vision encoder.

Key: the file's identity (real path, size, mtime) + the sampling parameters + the model's
fingerprint; value: the vision features (T, N, D_v), the frames' timestamps and the duration, as
one safetensors file (`<cache dir>/features/<sha256>.safetensors`). Entries are written to a
temporary file and renamed into place; reads refresh the file's mtime, and the least recently
used entries are evicted beyond the size cap. A corrupt or mismatching entry is deleted and
treated as a miss: the cache is never a reason for a command to fail.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1
SUFFIX = ".safetensors"


@dataclass(frozen=True)
class CacheKey:
    path: str  # real path of the video
    size: int
    mtime_ns: int
    sampling: str  # canonical JSON of the sampling parameters
    model: str  # the model's fingerprint (weights identity, dtype, quantization)

    @classmethod
    def for_video(cls, video: str | os.PathLike, sampling: dict[str, Any], model: str) -> CacheKey:
        st = os.stat(video)
        return cls(os.path.realpath(video), st.st_size, st.st_mtime_ns, json.dumps(sampling, sort_keys=True), model)

    @classmethod
    def for_content(cls, digest: str, size: int, sampling: dict[str, Any], model: str) -> CacheKey:
        """A key by the bytes' sha256 instead of a path (an upload, whose temporary file is new every time)."""
        return cls(f"sha256:{digest}", int(size), 0, json.dumps(sampling, sort_keys=True), model)

    def digest(self) -> str:
        text = json.dumps([FORMAT_VERSION, self.path, self.size, self.mtime_ns, self.sampling, self.model])
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedFeatures:
    features: Any  # torch.Tensor (T, N, D_v) on CPU
    timestamps: Any  # torch.Tensor float64 (T,)
    duration: float
    meta: dict[str, Any]  # whatever the writer stored (e.g. the probe)


@dataclass(frozen=True)
class CacheInfo:
    path: Path
    entries: int
    size_bytes: int
    max_bytes: int


class FeatureCache:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = Path(root)
        self.max_bytes = int(max_bytes)

    def _entry(self, key: CacheKey) -> Path:
        return self.root / f"{key.digest()}{SUFFIX}"

    def get(self, key: CacheKey) -> CachedFeatures | None:
        """The entry for `key`, or None (missing, corrupt or stale: the bad file is deleted)."""
        path = self._entry(key)
        if not path.is_file():
            return None
        try:
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as handle:
                header = handle.metadata() or {}
                if json.loads(header.get("key", "null")) != _key_fields(key):
                    raise ValueError("key mismatch")
                features = handle.get_tensor("features")
                timestamps = handle.get_tensor("timestamps")
            duration = float(header["duration"])
            meta = json.loads(header.get("meta", "{}"))
            if features.ndim != 3 or timestamps.ndim != 1 or len(timestamps) != features.shape[0]:
                raise ValueError("bad shapes")
        except Exception:  # noqa: BLE001 - any unreadable entry is just a miss
            path.unlink(missing_ok=True)
            return None
        try:
            os.utime(path)  # most recently used
        except OSError:
            pass
        return CachedFeatures(features, timestamps, duration, meta)

    def put(self, key: CacheKey, features: Any, timestamps: Any, duration: float, meta: dict[str, Any] | None = None) -> bool:
        """Store an entry (atomically) and evict old ones; False if it does not fit or cannot be written."""
        import torch
        from safetensors.torch import save_file

        features = features.detach().to("cpu").contiguous()
        nbytes = features.numel() * features.element_size()
        if nbytes > self.max_bytes:
            return False
        tensors = {"features": features, "timestamps": torch.as_tensor(timestamps, dtype=torch.float64).contiguous()}
        header = {"key": json.dumps(_key_fields(key)), "duration": repr(float(duration)), "meta": json.dumps(meta or {})}
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-", suffix=SUFFIX)
            os.close(fd)
            try:
                save_file(tensors, tmp, metadata=header)
                os.replace(tmp, self._entry(key))
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except OSError:
            return False
        self.evict(keep=self._entry(key))
        return True

    def evict(self, keep: Path | None = None) -> int:
        """Delete least recently used entries until the cache fits its cap; returns bytes freed."""
        entries = self._entries()
        total = sum(size for _, size, _ in entries)
        freed = 0
        for path, size, _ in sorted(entries, key=lambda e: e[2]):
            if total <= self.max_bytes:
                break
            if keep is not None and path == keep:
                continue
            path.unlink(missing_ok=True)
            total -= size
            freed += size
        return freed

    def info(self) -> CacheInfo:
        entries = self._entries()
        return CacheInfo(self.root, len(entries), sum(size for _, size, _ in entries), self.max_bytes)

    def clear(self) -> int:
        """Delete every entry (and stray temporary files); returns bytes freed."""
        freed = 0
        if self.root.is_dir():
            for path in self.root.glob(f"*{SUFFIX}"):
                try:
                    freed += path.stat().st_size
                    path.unlink()
                except OSError:
                    pass
        return freed

    def _entries(self) -> list[tuple[Path, int, float]]:
        found = []
        if self.root.is_dir():
            for path in self.root.glob(f"[!.]*{SUFFIX}"):
                try:
                    st = path.stat()
                except OSError:
                    continue
                found.append((path, st.st_size, st.st_mtime))
        return found


def _key_fields(key: CacheKey) -> list[Any]:
    return [FORMAT_VERSION, key.path, key.size, key.mtime_ns, key.sampling, key.model]
