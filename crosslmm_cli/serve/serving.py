"""The warm server's state and the work every request shares: options, the model check, opening a video.

`Serving` holds what lives as long as the server: the loaded `Engine`, the scheduler (the model
thread), the in-memory cache of encoded videos in front of the disk feature cache, the directories
`file://` URLs may point into and the private directory uploads land in. A request's options are
turned into the CLI's own `FrameOptions` / `GenerationOptions` (the same validation, the same
messages) and its video into a pipeline, a `PreparedVideo` and an `EncodedVideo`, exactly as
`crosslmm ask` opens one; requests for the same video and sampling wait for one encoding.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from crosslmm_cli.engine.options import FrameOptions, GenerationOptions
from crosslmm_cli.serve.http_errors import ApiError, as_api_error, bad_request
from crosslmm_cli.serve.media import AllowedPaths, VideoSource, file_path, open_video_url
from crosslmm_cli.serve.protocol import SamplingFields
from crosslmm_cli.serve.queued_engine import QueuedEngine, RequestCancelled
from crosslmm_cli.serve.scheduler import Scheduler

if TYPE_CHECKING:
    from crosslmm_cli.engine import EncodedVideo, Engine, FeatureCache, PreparedVideo, VideoPipeline

DEFAULT_MAX_TOKENS = 256  # the CLI's --max-new-tokens default


@dataclass(frozen=True)
class ServeSettings:
    """How `crosslmm serve` was started (its flags, validated by the CLI)."""

    allow_paths: tuple[str, ...] = (".",)
    max_upload: int = 100 * 10**6
    max_queue: int = 64
    max_batch: int = 8
    batch_window_s: float = 0.02
    memory_cache_bytes: int = 10**9
    api_key: str | None = None


@dataclass
class OpenedVideo:
    """A request's video, ready for the task functions: as `Session.open_video` returns it."""

    pipeline: VideoPipeline
    prepared: PreparedVideo
    encoded: EncodedVideo


class Serving:
    def __init__(self, engine: Engine, settings: ServeSettings, *, disk_cache: FeatureCache | None = None) -> None:
        from crosslmm_cli.engine.memory_cache import MemoryFirstCache

        self.engine = engine
        self.settings = settings
        self.scheduler = Scheduler(max_batch=settings.max_batch, max_queue=settings.max_queue,
                                   window_s=settings.batch_window_s)
        self.cache = MemoryFirstCache(settings.memory_cache_bytes, disk_cache)
        self.allowed = AllowedPaths(settings.allow_paths)
        self.created = int(time.time())
        self.upload_dir = ""
        self._flights: dict[Any, list[Any]] = {}  # key -> [lock, holders]
        self._flights_lock = threading.Lock()

    @property
    def model_name(self) -> str:
        return self.engine.name

    def start(self) -> None:
        self.upload_dir = tempfile.mkdtemp(prefix="crosslmm-serve-")
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.stop()
        if self.upload_dir:
            shutil.rmtree(self.upload_dir, ignore_errors=True)

    # ---- a request's options -------------------------------------------------------------------

    def check_model(self, name: str | None) -> None:
        """404 unless `name` is the served model (or left out)."""
        if name not in (None, "", self.model_name):
            raise ApiError(404, f"model {name!r} is not served here; this server serves {self.model_name!r}",
                           code="model_not_found", param="model",
                           hint=f"pass --model {self.model_name} or restart `crosslmm serve --model {name}`")

    def frame_options(self, request: SamplingFields) -> FrameOptions:
        return FrameOptions(num_frames=request.frames, fps=request.fps, max_frames=request.max_frames,
                            start=_seconds(request.start), end=_seconds(request.end), backend=request.backend)

    def generation_options(self, request: SamplingFields) -> GenerationOptions:
        max_tokens = request.max_completion_tokens or request.max_tokens
        return GenerationOptions(
            max_new_tokens=DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens,
            temperature=0.0 if request.temperature is None else request.temperature,
            top_p=1.0 if request.top_p is None else request.top_p,
            seed=request.seed,
        )

    def subtitle_mode(self, request: SamplingFields) -> str:
        """auto, off, or the real path of a file:// subtitle file the server may read."""
        if request.subtitles in ("auto", "off"):
            return request.subtitles
        if request.subtitles.startswith("file:"):
            return self.allowed.resolve(file_path(request.subtitles, "subtitles"), "subtitles")
        raise bad_request("subtitles must be auto, off or a file:///path URL", "subtitles")

    def source(self, url: str, *, name: str | None, param: str) -> VideoSource:
        """The request's video to open (an upload written to a temporary file: call `cleanup()`)."""
        return open_video_url(url, allowed=self.allowed, upload_dir=self.upload_dir,
                              max_upload=self.settings.max_upload, name=name, param=param)

    # ---- in the request's thread ---------------------------------------------------------------

    def open_video(self, source: VideoSource, frames: FrameOptions, request: SamplingFields,
                   cancelled: threading.Event, *, name_in_errors: bool = True) -> OpenedVideo:
        """Decode (or find in a cache) and encode the video, as `Session.open_video` does; errors are ApiErrors
        naming the video as the request did (`name_in_errors=False`: as the batch records name it)."""
        from crosslmm_cli.engine.pipeline import VideoPipeline
        from crosslmm_cli.errors import as_crosslmm_error, for_input

        engine = QueuedEngine(self.engine.with_tokens_per_frame(request.tokens_per_frame), self.scheduler, cancelled)
        pipeline = VideoPipeline(engine, frames, cache=self.cache if request.cache else None,
                                 subtitles=self.subtitle_mode(request))
        key = (source.content or source.path, repr(pipeline.sampling())) if request.cache else None
        try:
            with self._one_flight(key):
                prepared = pipeline.prepare(source.path, content=source.content)
                encoded = pipeline.encode(prepared)
        except (ApiError, RequestCancelled):
            raise
        except Exception as exc:
            error = for_input(exc, source.path) if name_in_errors else as_crosslmm_error(exc)
            raise as_api_error(error, name=source.name, opened=source.path) from exc
        return OpenedVideo(pipeline, prepared, encoded)

    @contextlib.contextmanager
    def _one_flight(self, key: Any) -> Iterator[None]:
        """Requests for the same video and sampling take turns, so the second finds the first's encoding cached."""
        if key is None:
            yield
            return
        with self._flights_lock:
            entry = self._flights.setdefault(key, [threading.Lock(), 0])
            entry[1] += 1
        try:
            with entry[0]:
                yield
        finally:
            with self._flights_lock:
                entry[1] -= 1
                if entry[1] == 0:
                    self._flights.pop(key, None)


def _seconds(value: float | str | None) -> float | None:
    """A time as the API takes it: seconds, or the CLI's `1:30` forms."""
    from crosslmm_cli.units import parse_time

    if value is None or isinstance(value, (int, float)):
        return value
    return parse_time(value)


def joined(parts: Sequence[str]) -> str:
    return "\n".join(part for part in parts if part)
