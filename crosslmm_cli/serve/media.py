"""Where a request's video comes from: a `file://` path the server may read, or an upload.

Paths: only files under the directories given with `--allow-path` (default: the directory the
server started in), decided on the real path (symlinks and `..` resolved), and the real path is what
is opened, so a link cannot be swapped for another between the check and the read. Uploads
(`data:video/...;base64,`): the request body is read with a size cap (413 past it), the data decoded
in slices into a private temporary file (0600, in the server's own temporary directory) and deleted
when the request ends; their cache key is the sha256 of their bytes. Nothing else is fetched: an
http(s) URL is refused, so the server cannot be made to reach into the network.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import mimetypes
import os
import re
import tempfile
from collections.abc import AsyncIterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from crosslmm_cli.serve.http_errors import ApiError, bad_request
from crosslmm_cli.units import format_bytes

_DATA_URL = re.compile(r"data:(?P<mime>[\w.+-]+/[\w.+-]+)(?P<params>(?:;[^;,]*)*?);base64,", re.ASCII)
_SLICE = 4 << 20  # base64 characters decoded at a time (a multiple of 4)
_WHITESPACE = re.compile(r"\s+")


@dataclass
class VideoSource:
    """A video the server can open: `path` (real path or temporary file), `name` for records and errors."""

    path: str
    name: str
    content: str | None = None  # sha256 of an upload's bytes (its cache key)
    temporary: bool = False

    def cleanup(self) -> None:
        if self.temporary:
            Path(self.path).unlink(missing_ok=True)


class AllowedPaths:
    """The directories `file://` URLs may point into, resolved once at start."""

    def __init__(self, directories: Sequence[str | os.PathLike]) -> None:
        self.roots = [os.path.realpath(d) for d in directories]

    def resolve(self, path: str, param: str) -> str:
        """The real path of `path` if it lies under an allowed directory; else a 403 naming `path`."""
        real = os.path.realpath(path)
        for root in self.roots:
            if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
                return real
        raise ApiError(403, f"{path}: not under a directory this server may read", code="input_error", param=param,
                       hint="start the server with --allow-path DIR for that directory")


def file_path(url: str, param: str) -> str:
    """The absolute path of a `file://` URL (host empty or localhost)."""
    parsed = urlparse(url)
    if parsed.netloc not in ("", "localhost"):
        raise bad_request(f"{param}: file URLs name a local absolute path (file:///path), not host {parsed.netloc!r}", param)
    path = unquote(parsed.path)
    if not path.startswith("/"):
        raise bad_request(f"{param}: file URLs need an absolute path (file:///path)", param)
    return path


async def read_body(chunks: AsyncIterable[bytes], declared: str | None, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes `limit` bytes (the declared length first)."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit, "request body")
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise _too_large(len(body), limit, "request body")
    return bytes(body)


def open_video_url(url: str, *, allowed: AllowedPaths, upload_dir: str, max_upload: int, name: str | None,
                   param: str) -> VideoSource:
    """A request's video URL as something to open; the caller calls `cleanup()` when the request ends."""
    if url.startswith("file:"):
        path = file_path(url, param)
        return VideoSource(allowed.resolve(path, param), name or path)
    if url.startswith("data:"):
        return _upload(url, upload_dir=upload_dir, max_upload=max_upload, name=name or "upload", param=param)
    scheme = url.split(":", 1)[0] if ":" in url else url[:16]
    raise bad_request(f"{param}: {scheme!r} URLs are not fetched; send file:///path or data:video/...;base64,", param)


def _upload(url: str, *, upload_dir: str, max_upload: int, name: str, param: str) -> VideoSource:
    match = _DATA_URL.match(url)
    if match is None:
        raise bad_request(f"{param}: a data URL must read data:video/<type>;base64,<data>", param)
    mime = match.group("mime").lower()
    if not mime.startswith(("video/", "image/")):
        raise bad_request(f"{param}: {mime} is not a video type (data:video/...)", param)
    data = url[match.end():]
    if _WHITESPACE.search(data):
        data = _WHITESPACE.sub("", data)  # line-wrapped base64
    if len(data) // 4 * 3 > max_upload:
        raise _too_large(len(data) // 4 * 3, max_upload, "upload")
    if not data or len(data) % 4:
        raise bad_request(f"{param}: the base64 data is truncated ({len(data)} characters, not a multiple of 4)", param,
                          code="input_error")
    suffix = mimetypes.guess_extension(mime) or ".video"
    fd, path = tempfile.mkstemp(dir=upload_dir, prefix="upload-", suffix=suffix)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            for start in range(0, len(data), _SLICE):
                piece = base64.b64decode(data[start:start + _SLICE], validate=True)
                digest.update(piece)
                out.write(piece)
    except (binascii.Error, ValueError):
        Path(path).unlink(missing_ok=True)
        raise bad_request(f"{param}: the base64 data is not valid base64", param, code="input_error") from None
    except BaseException:
        Path(path).unlink(missing_ok=True)
        raise
    return VideoSource(path, name, content=digest.hexdigest(), temporary=True)


def _too_large(size: int, limit: int, what: str) -> ApiError:
    return ApiError(413, f"{what} of {format_bytes(size)} is over this server's limit of {format_bytes(limit)}",
                    code="input_error", hint="start the server with a larger --max-upload, or send a file:// URL")
