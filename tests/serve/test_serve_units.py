"""The server's parts that need no model: the memory cache, stop strings, reading a conversation, paths."""

from __future__ import annotations

import os

import pytest
import torch

from crosslmm_cli.engine.feature_cache import CacheKey, FeatureCache
from crosslmm_cli.engine.memory_cache import MemoryFirstCache
from crosslmm_cli.serve.chat import StopText, read_conversation
from crosslmm_cli.serve.http_errors import ApiError
from crosslmm_cli.serve.media import AllowedPaths, file_path
from crosslmm_cli.serve.protocol import ChatCompletionRequest


def key(name: str) -> CacheKey:
    return CacheKey.for_content(name * 8, 10, {"num_frames": 2}, "model")


def features(kib: int) -> torch.Tensor:
    return torch.zeros(1, kib, 256)  # kib KiB of float32


def test_the_memory_cache_keeps_the_most_recent_within_its_bytes_and_fills_from_disk(tmp_path):
    disk = FeatureCache(tmp_path, max_bytes=10**8)
    cache = MemoryFirstCache(max_bytes=3 * 1024, disk=disk)
    for name in "abc":
        cache.put(key(name), features(1), [0.0], 1.0)
    assert cache.get(key("a")) is not None  # a is now the most recent
    cache.put(key("d"), features(1), [0.0], 1.0)  # over 3 KiB: b (least recent) leaves memory
    info = cache.info()
    assert info.entries == 3 and info.size_bytes == 3 * 1024
    assert cache.get(key("b")) is not None  # from disk, and back in memory
    assert cache.info().misses == 1 and disk.get(key("b")) is not None
    assert not cache.put(key("e"), features(4), [0.0], 1.0)  # larger than the whole cache: disk only
    assert cache.get(key("e")) is not None and cache.info().entries == 3


def test_content_keys_do_not_depend_on_where_the_file_is():
    assert key("a").digest() == key("a").digest() != key("b").digest()
    assert key("a").path.startswith("sha256:")


def test_stop_text_holds_back_what_could_start_a_stop_string():
    stop = StopText(["END", "zz"])
    assert stop.feed("abc E") == "abc "  # "E" might begin "END"
    assert stop.feed("N") == ""
    assert stop.feed("x z") == "ENx "  # no longer a beginning; "z" might begin "zz"
    assert stop.feed("zEND") == "" and stop.stopped
    assert stop.feed("anything") == "" and stop.flush() == ""
    plain = StopText(None)
    assert plain.feed("a") == "a" and plain.flush() == ""
    with pytest.raises(ApiError):
        StopText(["1", "2", "3", "4", "5"])


def request(*messages, **extra):
    return ChatCompletionRequest.model_validate({"messages": list(messages), **extra})


VIDEO = {"type": "video_url", "video_url": {"url": "file:///v.mp4"}}


def test_a_conversation_is_a_video_a_question_its_history_and_a_system_prompt():
    conversation = read_conversation(request(
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [VIDEO, {"type": "text", "text": "first?"}]},
        {"role": "assistant", "content": "one"},
        {"role": "user", "content": "second?"},
        {"role": "user", "content": [{"type": "text", "text": "really"}]},
    ))
    assert conversation.video == "file:///v.mp4" and conversation.video_param == "messages.1.content.0.video_url"
    assert conversation.history == [("first?", "one")]
    assert conversation.question == "second?\nreally" and conversation.system == "Be brief."


@pytest.mark.parametrize("messages, words", [
    ([{"role": "user", "content": [VIDEO, {"type": "text", "text": "q"}]}, {"role": "assistant", "content": "a"}], "last message"),
    ([{"role": "assistant", "content": "a"}, {"role": "user", "content": [VIDEO, {"type": "text", "text": "q"}]}], "before any question"),
    ([{"role": "user", "content": [VIDEO, {"type": "video_url", "video_url": "file:///w.mp4"}, {"type": "text", "text": "q"}]}], "one video"),
    ([{"role": "user", "content": [VIDEO]}], "no text"),
])
def test_conversations_that_cannot_be_answered_are_400(messages, words):
    with pytest.raises(ApiError, match=words) as error:
        read_conversation(request(*messages))
    assert error.value.status == 400


def test_allowed_paths_are_decided_on_the_real_path(tmp_path):
    inside, outside = tmp_path / "in", tmp_path / "out"
    inside.mkdir()
    outside.mkdir()
    (outside / "x.mp4").write_bytes(b"")
    (inside / "link.mp4").symlink_to(outside / "x.mp4")
    (tmp_path / "in-other").mkdir()  # a sibling whose name starts like the allowed one
    allowed = AllowedPaths([inside])
    assert allowed.resolve(str(inside / "sub" / ".." / "a.mp4"), "video") == os.path.realpath(inside / "a.mp4")
    for path in (inside / "link.mp4", inside / ".." / "out" / "x.mp4", tmp_path / "in-other" / "a.mp4"):
        with pytest.raises(ApiError) as error:
            allowed.resolve(str(path), "video")
        assert error.value.status == 403


@pytest.mark.parametrize("url", ["file://host/etc/passwd", "file:relative.mp4"])
def test_file_urls_name_a_local_absolute_path(url):
    with pytest.raises(ApiError):
        file_path(url, "video")
    assert file_path("file:///a%20b.mp4", "video") == "/a b.mp4"
    assert file_path("file://localhost/a.mp4", "video") == "/a.mp4"
