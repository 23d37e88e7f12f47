"""The HTTP layer: FastAPI routes over `Serving`, SSE streams, the API key, one log line a request.

Every route reads its body itself (`media.read_body`, capped, 413 past the cap) and validates it
with the protocol's models (400 naming the field). The work of a request runs in a thread of its
own (`_Work`): it opens the video, then answers, handing events to the event loop; the route waits
for the video to be ready, so a video that cannot be read is a plain HTTP error even when
streaming, and then streams (SSE: `data: {...}` events, then `data: [DONE]`) or answers whole. A
client that goes away sets the request's `cancelled` event: its answer stops at the next token.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from crosslmm_cli.serve.http_errors import ApiError, as_api_error, install_handlers, validation_to_api_error
from crosslmm_cli.serve.media import VideoSource, read_body
from crosslmm_cli.serve.protocol import ChatCompletionRequest, Delta, ModelCard, ModelList, TaskRequest
from crosslmm_cli.serve.queued_engine import RequestCancelled
from crosslmm_cli.serve.scheduler import Busy, ShuttingDown
from crosslmm_cli.serve.serving import Serving

JSON_SLACK = 1 << 20  # bytes of JSON allowed around an upload's base64


def create_app(serving: Serving, *, log: Callable[[str], None] | None = None) -> Any:
    """The ASGI app; `serving` is started and stopped with it (its lifespan)."""
    import contextlib

    executor = ThreadPoolExecutor(max_workers=serving.settings.max_queue + 4, thread_name_prefix="crosslmm-request")

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        serving.start()
        try:
            yield
        finally:
            serving.stop()
            executor.shutdown(wait=True, cancel_futures=True)

    app = FastAPI(title="crosslmm", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    install_handlers(app)
    app.add_middleware(_AccessLog, log=log or _stderr)
    body_limit = serving.settings.max_upload * 4 // 3 + JSON_SLACK

    async def parse(request: Request, model: type) -> Any:
        _check_key(request, serving.settings.api_key)
        body = await read_body(request.stream(), request.headers.get("content-length"), body_limit)
        from pydantic import ValidationError

        try:
            return model.model_validate_json(body or b"{}")
        except ValidationError as exc:
            raise validation_to_api_error(exc.errors()) from None

    @app.get("/health")
    async def health():
        """Liveness without the key (so it names no model): requests held now, and answers per generate() call so far."""
        batches = serving.scheduler.batches
        return {"status": "ok", "load": serving.scheduler.load,
                "batches": {str(size): batches[size] for size in sorted(batches)}}

    @app.get("/v1/models")
    async def models(request: Request):
        _check_key(request, serving.settings.api_key)
        return ModelList(data=[_card(serving)]).model_dump()

    @app.get("/v1/models/{name:path}")
    async def model(name: str, request: Request):
        _check_key(request, serving.settings.api_key)
        serving.check_model(name)
        return _card(serving).model_dump()

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        from crosslmm_cli.serve.chat import ChatIds, answer_chat, read_conversation

        body = await parse(request, ChatCompletionRequest)
        serving.check_model(body.model)
        conversation = read_conversation(body)
        ids = ChatIds(serving)
        work = await _Work.start(serving, executor, request, conversation.video, None, conversation.video_param,
                                 lambda source, cancelled, emit: answer_chat(serving, body, conversation, source, cancelled, emit))
        if not body.stream:
            return JSONResponse(ids.completion(await work.result()).model_dump(exclude_none=True))

        async def events() -> AsyncIterator[str]:
            yield _sse(ids.chunk(Delta(role="assistant", content="")))
            async for kind, value in work.events():
                if kind == "text":
                    yield ids.text_chunk(value)
            outcome = await work.result()
            yield _sse(ids.chunk(None, outcome.finish_reason, outcome))
            if body.stream_options is not None and body.stream_options.include_usage:
                yield _sse(ids.chunk(None, outcome=outcome, choices=False))

        return _stream(work, events())

    async def native(task: str, request: Request) -> Response:
        from crosslmm_cli.batch import record_line
        from crosslmm_cli.serve.native import check_task_request, run_task

        body = await parse(request, TaskRequest)
        serving.check_model(body.model)
        check_task_request(task, body)
        work = await _Work.start(serving, executor, request, body.video, body.name, "video",
                                 lambda source, cancelled, emit: run_task(task, serving, body, source, cancelled, emit))
        if not body.stream:
            await work.result()
            if task == "chapterize" and body.format is not None:
                return PlainTextResponse(next(v for k, v in work.seen if k == "chapters"))
            if task == "encode":
                return JSONResponse(next(v for k, v in work.seen if k == "record"))
            lines = b"".join(record_line(v) for k, v in work.seen if k == "record")
            return Response(lines, media_type="application/x-ndjson")

        async def events() -> AsyncIterator[str]:
            async for kind, value in work.events():
                if kind == "text":
                    yield _sse({"type": "text", "index": value[0], "text": value[1]})
                elif kind in ("record", "chapters"):
                    yield _sse({"type": kind, kind: value})
            await work.result()

        return _stream(work, events())

    def native_route(task: str) -> Callable:
        async def endpoint(request: Request):
            return await native(task, request)
        return endpoint

    for task in ("describe", "ask", "chapterize", "encode"):
        app.add_api_route(f"/v1/{task}", native_route(task), methods=["POST"], name=task)
    return app


class _Work:
    """One request's work in its own thread, its events handed to the event loop as they happen."""

    def __init__(self, request: Any) -> None:
        self.request = request
        self.cancelled = threading.Event()
        self.seen: list[tuple[str, Any]] = []
        self._queue: asyncio.Queue = asyncio.Queue()
        self._future: Any = None
        self._ended = False  # the "end" event (after every other) has been read

    @classmethod
    async def start(cls, serving: Serving, executor: ThreadPoolExecutor, request: Any, url: str, name: str | None,
                    param: str, fn: Callable[[VideoSource, threading.Event, Callable], Any]) -> _Work:
        """Admit the request (503 when full), open its video URL, run `fn` in a thread; returns once the
        video is encoded (errors until then are raised here, as HTTP errors)."""
        work = cls(request)
        loop = asyncio.get_running_loop()
        try:
            serving.scheduler.admit()
        except Busy as exc:
            raise ApiError(503, str(exc), code="server_unavailable", headers={"Retry-After": str(exc.retry_after)}) from None
        except ShuttingDown as exc:
            raise ApiError(503, str(exc), code="server_unavailable", headers={"Retry-After": "5"}) from None

        def emit(event: tuple[str, Any]) -> None:
            loop.call_soon_threadsafe(work._queue.put_nowait, event)

        def run() -> Any:
            source = None
            try:
                source = serving.source(url, name=name, param=param)
                return fn(source, work.cancelled, emit)
            finally:
                if source is not None:
                    source.cleanup()
                serving.scheduler.release()

        work._future = loop.run_in_executor(executor, run)
        work._future.add_done_callback(lambda _: loop.call_soon_threadsafe(work._queue.put_nowait, ("end", None)))
        first = await work._next()
        if first[0] == "end":
            await work.result()  # raises the request's error
        return work

    async def _next(self) -> tuple[str, Any]:
        """The next event; sets `cancelled` if the client disconnects while it waits."""
        while True:
            try:
                event = await asyncio.wait_for(self._queue.get(), timeout=0.5)
            except asyncio.TimeoutError:
                if await self.request.is_disconnected():
                    self.cancelled.set()
                continue
            if event[0] == "end":
                self._ended = True
            elif event[0] != "ready":
                self.seen.append(event)
            return event

    async def events(self) -> AsyncIterator[tuple[str, Any]]:
        try:
            while True:
                event = await self._next()
                if event[0] == "end":
                    return
                yield event
        finally:
            if not self._future.done():
                self.cancelled.set()  # the client went away (the stream was cancelled): stop at the next token

    async def result(self) -> Any:
        """What the work returned, once it ended; its failure as an ApiError."""
        while not self._ended:
            await self._next()
        try:
            return self._future.result()
        except RequestCancelled:
            raise ApiError(499, "the client went away", code="error") from None
        except Exception as exc:  # noqa: BLE001 - every failure is an HTTP error
            raise as_api_error(exc) from None


def _stream(work: _Work, events: AsyncIterator[Any]) -> StreamingResponse:
    async def body() -> AsyncIterator[str]:
        try:
            async for event in events:
                yield event
        except ApiError as exc:
            yield _sse(exc.body())  # the response has started: the error goes in the stream
        yield "data: [DONE]\n\n"

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _sse(data: Any) -> str:
    text = data.model_dump_json(exclude_none=True) if hasattr(data, "model_dump_json") else json.dumps(data, ensure_ascii=False)
    return f"data: {text}\n\n"


def _card(serving: Serving) -> ModelCard:
    return ModelCard(id=serving.model_name, created=serving.created)


def _check_key(request: Any, key: str | None) -> None:
    """With an API key set, every /v1 request carries it as `Authorization: Bearer KEY` (compared in constant time)."""
    if key is None:
        return
    given = request.headers.get("authorization", "")
    scheme, _, token = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), key.encode()):
        raise ApiError(401, "missing or wrong API key", code="invalid_api_key",
                       hint="send Authorization: Bearer KEY (the CLI reads $CROSSLMM_API_KEY)",
                       headers={"WWW-Authenticate": "Bearer"})


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class _AccessLog:
    """One line per request on stderr once its response has ended: client, method, path, status, seconds."""

    def __init__(self, app: Any, log: Callable[[str], None]) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def sending(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            client = scope.get("client") or ("-", 0)
            self.log(f"{client[0]} {scope['method']} {scope['path']} {status[0]} {time.perf_counter() - started:.3f}s")
