"""JSON Lines results that survive interruption.

Each record is serialised first and written with a single `write()` of one complete line, then
flushed: Ctrl-C (which Python delivers between bytecodes) can never leave half a record, and a
hard kill can at worst leave an unterminated last line, which `ResultsLog.open` detects, ignores
and truncates away before appending. The file is fsynced when closed.

One record per input in the end: an input redone (`--retry-failed`) gets a second record while
the run goes on, and closing the log rewrites the file atomically (a temporary file beside it,
fsynced, then renamed over it) with only the last record of each input, where its first one was.
Until then, and in a file a hard kill left with two, the last record of an input is the one that
counts, for resuming (`status`) as for `latest_records`. (Lines that were not records are not
kept by the rewrite.)
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any


def record_line(record: dict[str, Any]) -> bytes:
    """One record as one UTF-8 line; floats keep full precision, non-ASCII stays readable."""
    return (json.dumps(record, ensure_ascii=False, allow_nan=False, separators=(", ", ": ")) + "\n").encode("utf-8")


class JsonlWriter:
    """Appends whole records to a binary stream (a file or stdout's buffer), flushing each."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream

    def append(self, record: dict[str, Any]) -> None:
        self._stream.write(record_line(record))
        self._stream.flush()


def task_record(path: str, task: str, fields: dict[str, Any], elapsed_s: float, *, question: str | None = None,
                ok: bool = True) -> dict[str, Any]:
    """One input's record in the order every writer uses: path, ok, task, [question], the task's fields, elapsed_s."""
    head: dict[str, Any] = {"path": path, "ok": ok, "task": task}
    if question is not None:
        head["question"] = question
    return {**head, **fields, "elapsed_s": round(elapsed_s, 3)}


def record_key(record: dict[str, Any]) -> tuple[str, str, str | None]:
    """What makes two records about "the same work": the video (by real path), task and question."""
    return (os.path.realpath(str(record.get("path", ""))), str(record.get("task", "")), record.get("question"))


class ResultsLog(JsonlWriter):
    """A results file opened for resuming: knows which inputs already succeeded or failed."""

    def __init__(self, path: Path, stream: IO[bytes], records: list[dict[str, Any]], skipped_lines: int) -> None:
        super().__init__(stream)
        self.path = path
        self.records = records
        self.skipped_lines = skipped_lines  # lines in the middle that were not valid records
        self._status: dict[tuple, bool] = {}
        for record in records:
            self._note(record)

    @classmethod
    def open(cls, path: Path) -> ResultsLog:
        """Read what is there, cut off a trailing partial line (a hard kill mid-write), open for appending."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        stream = open(path, "a+b")  # noqa: SIM115 - owned by the log, closed by close()
        try:
            stream.seek(0)
            data = stream.read()
            complete = data.rfind(b"\n") + 1  # bytes up to and including the last newline
            if complete < len(data):
                stream.truncate(complete)
                stream.flush()
            records, bad = _parse(data[:complete])
        except BaseException:
            stream.close()
            raise
        return cls(path, stream, records, bad)

    def status(self, key: tuple) -> bool | None:
        """True: the last record for `key` succeeded; False: it failed; None: never attempted."""
        return self._status.get(key)

    def append(self, record: dict[str, Any]) -> None:
        super().append(record)
        self.records.append(record)
        self._note(record)

    def close(self) -> None:
        """Flush and fsync; then, if some input has more than one record, keep only its last."""
        if self._stream.closed:
            return
        self._stream.flush()
        os.fsync(self._stream.fileno())
        self._stream.close()
        latest = latest_records(self.records)
        if len(latest) < len(self.records):
            _replace_atomically(self.path, latest)

    def __enter__(self) -> ResultsLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _note(self, record: dict[str, Any]) -> None:
        self._status[record_key(record)] = record.get("ok") is True


def latest_records(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per input (`record_key`): its last, in the place of its first."""
    latest = {record_key(record): record for record in records}  # a dict keeps a key where it first came
    return list(latest.values())


def _replace_atomically(path: Path, records: list[dict[str, Any]]) -> None:
    """Write `records` to a temporary file in `path`'s folder, fsync it, and rename it over `path`:
    a crash at any moment leaves either the old file or the new one, whole."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(temporary, os.stat(path).st_mode & 0o7777)  # mkstemp's 0600 would tighten the file
        with os.fdopen(handle, "wb") as stream:
            stream.writelines(record_line(record) for record in records)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _parse(data: bytes) -> tuple[list[dict[str, Any]], int]:
    records, bad = [], 0
    for line in _lines(data):
        try:
            record = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if isinstance(record, dict):
            records.append(record)
        else:
            bad += 1
    return records, bad


def _lines(data: bytes) -> Iterator[bytes]:
    for line in data.split(b"\n"):
        if line.strip():
            yield line
