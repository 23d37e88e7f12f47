"""Message framing between the parent and the decode worker (POSIX pipes): JSON header + raw numpy buffers.

No pickle: the parent never evaluates bytes from the child as code, and the format is trivial to
read with a deadline. A message is an 8-byte little-endian header length, the UTF-8 JSON header,
then the bytes of each array listed in `header["arrays"]` (name, dtype, shape) in order.
"""

from __future__ import annotations

import json
import os
import select
import struct
import time
from typing import BinaryIO

import numpy as np

_LENGTH = struct.Struct("<Q")
MAX_HEADER_BYTES = 16 << 20


class WireTimeout(TimeoutError):
    pass


class WireClosed(EOFError):
    pass


def encode(header: dict, arrays: dict[str, np.ndarray] | None = None) -> bytes:
    arrays = arrays or {}
    header = dict(header)
    header["arrays"] = [[name, str(array.dtype), list(array.shape)] for name, array in arrays.items()]
    payload = json.dumps(header).encode("utf-8")
    parts = [_LENGTH.pack(len(payload)), payload]
    parts += [np.ascontiguousarray(array).tobytes() for array in arrays.values()]
    return b"".join(parts)


def write_message(stream: BinaryIO, header: dict, arrays: dict[str, np.ndarray] | None = None) -> None:
    stream.write(encode(header, arrays))
    stream.flush()


def read_message(fd: int, deadline: float | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    """Read one message from file descriptor `fd`; raise WireTimeout past `deadline`
    (time.monotonic()), WireClosed at end of stream."""
    (length,) = _LENGTH.unpack(_read_exact(fd, _LENGTH.size, deadline))
    if length > MAX_HEADER_BYTES:
        raise WireClosed(f"message header of {length} bytes is not plausible")
    header = json.loads(_read_exact(fd, length, deadline).decode("utf-8"))
    arrays: dict[str, np.ndarray] = {}
    for name, dtype, shape in header.pop("arrays", []):
        count = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        buffer = _read_exact(fd, count, deadline)
        arrays[name] = np.frombuffer(buffer, dtype=np.dtype(dtype)).reshape(shape)
    return header, arrays


def _read_exact(fd: int, count: int, deadline: float | None) -> bytearray:
    buffer = bytearray(count)
    view = memoryview(buffer)
    got = 0
    while got < count:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WireTimeout("no complete reply before the deadline")
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                raise WireTimeout("no complete reply before the deadline")
        chunk = os.readv(fd, [view[got:]])  # POSIX: straight into the buffer, no copy
        if chunk == 0:
            raise WireClosed("the other side closed the pipe")
        got += chunk
    return buffer
