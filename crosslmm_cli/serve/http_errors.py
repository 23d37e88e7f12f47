"""Errors as HTTP answers: OpenAI's JSON shape, the status that fits, and our one-line cause.

`{"error": {"message", "type", "param", "code", "hint"}}`: `message` is the line the CLI would print
(without `error: `), `code` the error's wire name (`crosslmm_cli.errors.WIRE_CODES`), so a client
turns it back into the same typed error and exit code. Statuses: 400 a request that cannot work
(bad fields, a bad URL, usage errors), 401 no or a wrong API key, 403 a path outside --allow-path,
404 an unknown model or route, 413 too large, 422 a video that cannot be read, 503 busy (with
Retry-After), 500 anything else (one line, never a traceback).
"""

from __future__ import annotations

from typing import Any

from crosslmm_cli.errors import CrossLMMError, as_crosslmm_error, wire_code
from crosslmm_cli.serve.protocol import ErrorInfo, ErrorResponse

STATUS_FOR_CODE = {
    "usage_error": 400,
    "input_error": 422,
    "model_not_found": 404,
    "model_error": 500,
    "out_of_memory": 500,
    "error": 500,
}


class ApiError(Exception):
    """An error response on its way out."""

    def __init__(self, status: int, message: str, *, code: str, param: str | None = None, hint: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.hint = hint
        self.headers = headers or {}

    @property
    def type(self) -> str:
        if self.status == 401:
            return "authentication_error"
        return "server_error" if self.status >= 500 else "invalid_request_error"

    def body(self) -> dict[str, Any]:
        info = ErrorInfo(message=self.message, type=self.type, param=self.param, code=self.code, hint=self.hint)
        return ErrorResponse(error=info).model_dump()

    def response(self) -> Any:
        from fastapi.responses import JSONResponse

        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def bad_request(message: str, param: str | None = None, *, code: str = "usage_error", status: int = 400) -> ApiError:
    return ApiError(status, message, code=code, param=param)


def as_api_error(exc: BaseException, *, name: str | None = None, opened: str | None = None) -> ApiError:
    """Any exception as an ApiError; a message naming the file the server `opened` names it as the request did (`name`)."""
    if isinstance(exc, ApiError):
        return exc
    error: CrossLMMError = as_crosslmm_error(exc)
    message = error.message
    if opened and name and opened != name:
        message = message.replace(opened, name)
    code = wire_code(error)
    return ApiError(STATUS_FOR_CODE.get(code, 500), message, code=code, hint=error.hint, param=getattr(exc, "param", None))


def install_handlers(app: Any) -> None:
    """Every error the app can raise, as an OpenAI-shaped JSON error (FastAPI's own 404/405 and 422 included)."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    async def api_error(request: Any, exc: ApiError) -> Any:
        return exc.response()

    async def http_error(request: Any, exc: HTTPException) -> Any:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
        return ApiError(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}", code=code).response()

    async def validation_error(request: Any, exc: RequestValidationError) -> Any:
        return validation_to_api_error(exc.errors()).response()

    async def other_error(request: Any, exc: Exception) -> Any:
        return as_api_error(exc).response()

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, other_error)


def validation_to_api_error(errors: list[dict[str, Any]]) -> ApiError:
    """pydantic's first complaint as one line naming the field (400: the request, not the video, is wrong)."""
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    param = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or None
    message = f"{param}: {first.get('msg')}" if param else str(first.get("msg"))
    return ApiError(400, message, code="usage_error", param=param)
