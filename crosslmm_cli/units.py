"""Human units: times people type and read (90, 1:30, 0:01:30.5) and byte sizes."""

from __future__ import annotations

import math
import re

from crosslmm_cli.errors import UsageError

_CLOCK = re.compile(r"(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)")


def parse_time(text: str) -> float:
    """Seconds from `90`, `90.5`, `1:30` or `0:01:30.5` (what people type for a position)."""
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        match = _CLOCK.fullmatch(text)
        if not match:
            raise UsageError(f"not a time: {text!r}", hint="use seconds (90) or [h:]mm:ss (1:30)") from None
        hours, minutes, secs = match.groups()
        seconds = int(hours or 0) * 3600 + int(minutes) * 60 + float(secs)
    if not math.isfinite(seconds) or seconds < 0:
        raise UsageError(f"not a time: {text!r}", hint="times are >= 0 seconds")
    return seconds


def format_clock(seconds: float, *, always_hours: bool = False, millis: bool = False) -> str:
    """`1:05`, `1:02:05`, or with `millis` `00:01:05.250` (WebVTT's form)."""
    total_ms = int(round(seconds * 1000))
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    if millis:
        return f"{hours:02d}:{minutes:02d}:{secs:02d}.{ms:03d}"
    if hours or always_hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def format_bytes(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(size) < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"  # pragma: no cover


SIZE_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
              "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_size(text: str, flag: str) -> int:
    """Bytes from '12GB', '11.5 GiB', '800MB', '1e9'; a ValueError naming `flag` otherwise."""
    match = re.fullmatch(r"\s*([0-9.eE+]+)\s*([A-Za-z]*)\s*", text)
    unit = match.group(2).lower() if match else None
    try:
        if match is None or unit not in SIZE_UNITS:
            raise ValueError
        return int(float(match.group(1)) * SIZE_UNITS[unit])
    except ValueError:
        raise ValueError(f"{flag}: cannot read {text!r} as a size (e.g. 12GB, 800MB, 11.5GiB)") from None
