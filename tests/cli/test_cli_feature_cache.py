import os
import time

import torch

from crosslmm_cli.engine.feature_cache import CacheKey, FeatureCache


def key_for(tmp_path, name="v.mp4", sampling=None, model="m1"):
    video = tmp_path / name
    if not video.exists():
        video.write_bytes(b"video bytes")
    return CacheKey.for_video(video, sampling or {"num_frames": 8}, model)


def test_round_trip_preserves_features_timestamps_duration_and_meta(tmp_path):
    cache = FeatureCache(tmp_path / "c", max_bytes=10**8)
    key = key_for(tmp_path)
    feats = torch.randn(4, 9, 16, dtype=torch.bfloat16)
    stamps = torch.tensor([0.5, 1.5, 2.5, 3.5], dtype=torch.float64)
    assert cache.put(key, feats, stamps, 4.04, {"fps": 25.0})
    hit = cache.get(key)
    assert torch.equal(hit.features, feats) and hit.features.dtype == torch.bfloat16
    assert torch.equal(hit.timestamps, stamps) and hit.duration == 4.04 and hit.meta == {"fps": 25.0}


def test_key_changes_with_file_identity_sampling_and_model(tmp_path):
    cache = FeatureCache(tmp_path / "c", max_bytes=10**8)
    key = key_for(tmp_path)
    cache.put(key, torch.zeros(1, 2, 3), [0.0], 1.0)
    assert cache.get(key_for(tmp_path, sampling={"num_frames": 16})) is None
    assert cache.get(key_for(tmp_path, model="m2")) is None
    os.utime(tmp_path / "v.mp4", ns=(1, 1))  # the file changed
    assert cache.get(key_for(tmp_path)) is None


def test_corrupt_entry_is_discarded_not_fatal(tmp_path):
    cache = FeatureCache(tmp_path / "c", max_bytes=10**8)
    key = key_for(tmp_path)
    cache.put(key, torch.zeros(2, 2, 2), [0.0, 1.0], 2.0)
    [entry] = list((tmp_path / "c").iterdir())
    entry.write_bytes(entry.read_bytes()[:40])
    assert cache.get(key) is None
    assert not entry.exists()
    assert cache.info().entries == 0


def test_least_recently_used_entries_are_evicted_beyond_the_cap(tmp_path):
    one_entry = 64 * 1024 * 4  # float32 features
    cache = FeatureCache(tmp_path / "c", max_bytes=int(2.5 * one_entry))
    keys = [key_for(tmp_path, f"{k}.mp4") for k in range(3)]
    for k, key in enumerate(keys[:2]):
        cache.put(key, torch.full((1, 64, 1024), float(k)), [0.0], 1.0)
        time.sleep(0.02)
    assert cache.get(keys[0]) is not None  # 0 is now more recent than 1
    time.sleep(0.02)
    cache.put(keys[2], torch.zeros(1, 64, 1024), [0.0], 1.0)
    assert cache.get(keys[1]) is None
    assert cache.get(keys[0]) is not None and cache.get(keys[2]) is not None
    info = cache.info()
    assert info.entries == 2 and info.size_bytes <= info.max_bytes
    assert cache.clear() == info.size_bytes and cache.info().entries == 0


def test_an_entry_larger_than_the_cap_is_not_stored(tmp_path):
    cache = FeatureCache(tmp_path / "c", max_bytes=100)
    assert not cache.put(key_for(tmp_path), torch.zeros(1, 10, 10), [0.0], 1.0)
    assert cache.info().entries == 0
