"""JSON Lines results that survive interruption.

Each record is serialised first and written with a single `write()` of one complete line, then
flushed: Ctrl-C (which Python delivers between bytecodes) can never leave half a record, and a
hard kill can at worst leave an unterminated last line, which `ResultsLog.open` detects, ignores
and truncates away before appending. The file is fsynced when closed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
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
        """True: some record for `key` succeeded; False: only failures; None: never attempted."""
        return self._status.get(key)

    def append(self, record: dict[str, Any]) -> None:
        super().append(record)
        self._note(record)

    def close(self) -> None:
        if self._stream.closed:
            return
        self._stream.flush()
        os.fsync(self._stream.fileno())
        self._stream.close()

    def __enter__(self) -> ResultsLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _note(self, record: dict[str, Any]) -> None:
        key = record_key(record)
        self._status[key] = self._status.get(key, False) or record.get("ok") is True


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
