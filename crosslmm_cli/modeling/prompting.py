"""The words around a video: when its frames were taken, its subtitles, earlier turns of the chat.

A video LLM sees frames, not times. To answer "what happens at 1:20?" or "when does the ball
fall?" it has to be told the duration and the time of every frame it sees. We follow LLaVA-Video's
time instruction, which its video models were trained with::

    <video>
    The video lasts for 12.00 seconds, and 4 frames are uniformly sampled from it. These frames are
    located at 0.00s,4.00s,8.00s,12.00s.Please answer the following questions related to this video.
    <question>

(one line in reality; the missing space before "Please" is theirs, kept for checkpoints trained
on it). Sampling that is not evenly spaced, or that covers only part of the video, is described
as such rather than called uniform. Subtitles come after it, each with its time span.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Subtitle = tuple[float, float, str]  # (start s, end s, text)
Turn = tuple[str, str]  # (question, answer)

_TIME_SUFFIX = "Please answer the following questions related to this video."
_SUBTITLES_HEADER = "This video's subtitles are listed below:"


#: Above this many evenly spaced frames the times are given as start, step and end rather than
#: listed: a listed time costs ~8 text tokens, eight times a 1-token frame, which would undo
#: CrossLMM's token budget on long videos.
MAX_LISTED_FRAMES = 32


def time_instruction(
    timestamps: Sequence[float],
    duration: float,
    *,
    segment: tuple[float, float] | None = None,
    max_listed: int = MAX_LISTED_FRAMES,
) -> str:
    """Describe the video's duration and where its sampled frames lie, truthfully.

    `timestamps`: seconds of each sampled frame, non-decreasing. `segment`: the (start, end) span
    the frames were sampled from, if not the whole video. More than `max_listed` evenly spaced
    frames are described by their first time, step and last time instead of one by one.
    """
    times = _check_timestamps(timestamps)
    if not (_is_number(duration) and duration >= 0):
        raise ValueError(f"duration must be a non-negative number of seconds, got {duration!r}")
    count = len(times)
    frames = f"{count} frame is" if count == 1 else f"{count} frames are"
    how = "uniformly sampled" if count > 1 and _evenly_spaced(times) else "sampled"
    where = "from it"
    if segment is not None:
        start, end = _check_segment(segment)
        if not (start <= 0.005 and end >= duration - 0.005):  # not the whole video at 2-decimal precision
            where = f"from the part between {start:.2f}s and {end:.2f}s"
    located = "This frame is located at" if count == 1 else "These frames are located at"
    if count > max_listed and how == "uniformly sampled":
        step = (times[-1] - times[0]) / (count - 1)
        frame_times = f"{times[0]:.2f}s, then every {step:.2f}s up to {times[-1]:.2f}s"
    else:
        frame_times = ",".join(f"{t:.2f}s" for t in times)
    return f"The video lasts for {duration:.2f} seconds, and {frames} {how} {where}. {located} {frame_times}.{_TIME_SUFFIX}"


def subtitle_block(subtitles: Sequence[Subtitle], *, segment: tuple[float, float] | None = None) -> str | None:
    """Subtitles overlapping `segment` (all if None), one ``[start - end] text`` line each.

    Returns None when none are left, so the prompt carries no empty header.
    """
    lo, hi = _check_segment(segment) if segment is not None else (-math.inf, math.inf)
    lines = []
    for i, item in enumerate(subtitles):
        if not (isinstance(item, (tuple, list)) and len(item) == 3):
            raise ValueError(f"subtitle {i}: expected (start, end, text), got {item!r}")
        start, end, text = item
        if not (_is_number(start) and _is_number(end) and 0 <= start <= end):
            raise ValueError(f"subtitle {i}: expected 0 <= start <= end seconds, got ({start!r}, {end!r})")
        if not isinstance(text, str):
            raise ValueError(f"subtitle {i}: text must be a string, got {type(text).__name__}")
        text = " ".join(text.split())  # subtitle files wrap lines; one line per subtitle here
        if text and end >= lo and start <= hi:
            lines.append((start, end, text))
    if not lines:
        return None
    lines.sort(key=lambda line: (line[0], line[1]))
    body = "\n".join(f"[{start:.2f}s - {end:.2f}s] {text}" for start, end, text in lines)
    return f"{_SUBTITLES_HEADER}\n{body}"


def build_messages(
    question: str,
    *,
    timestamps: Sequence[float],
    duration: float,
    video_token: str,
    subtitles: Sequence[Subtitle] | None = None,
    history: Sequence[Turn] | None = None,
    system: str | None = None,
    segment: tuple[float, float] | None = None,
) -> list[dict[str, str]]:
    """Chat messages (role/content strings) for one question about one video.

    The video (its placeholder, the time instruction and the subtitles) goes once, at the start of
    the first user turn; `history` holds earlier (question, answer) turns about the same video.
    """
    first_parts = [video_token, time_instruction(timestamps, duration, segment=segment)]
    if subtitles:
        block = subtitle_block(subtitles, segment=segment)
        if block is not None:
            first_parts.append(block)
    turns = [*(_check_turn(i, turn) for i, turn in enumerate(history or ())), (question, None)]
    messages: list[dict[str, str]] = []
    if system is not None:
        messages.append({"role": "system", "content": _user_text("system", system, video_token)})
    for i, (asked, answer) in enumerate(turns):
        content = _user_text("question" if answer is None else f"history[{i}] question", asked, video_token)
        if i == 0:
            content = "\n".join([*first_parts, content])
        messages.append({"role": "user", "content": content})
        if answer is not None:
            messages.append({"role": "assistant", "content": _user_text(f"history[{i}] answer", answer, video_token)})
    return messages


def _user_text(what: str, text: object, video_token: str) -> str:
    if not isinstance(text, str):
        raise ValueError(f"{what} must be a string, got {type(text).__name__}")
    if video_token in text:
        raise ValueError(f"{what} contains the video placeholder {video_token!r}, which is reserved for the video")
    return text


def _check_turn(i: int, turn: object) -> Turn:
    if not (isinstance(turn, (tuple, list)) and len(turn) == 2):
        raise ValueError(f"history[{i}]: expected a (question, answer) pair, got {turn!r}")
    return (turn[0], turn[1])


def _check_timestamps(timestamps: Sequence[float]) -> list[float]:
    times = [float(t) for t in timestamps] if all(_is_number(t) for t in timestamps) else None
    if not times:
        raise ValueError(f"timestamps must be a non-empty sequence of seconds, got {timestamps!r}")
    if times[0] < 0 or any(b < a for a, b in zip(times, times[1:])):
        raise ValueError("timestamps must be non-negative and in playback order")
    return times


def _check_segment(segment: tuple[float, float]) -> tuple[float, float]:
    if not (isinstance(segment, (tuple, list)) and len(segment) == 2 and all(_is_number(x) for x in segment)):
        raise ValueError(f"segment must be (start, end) in seconds, got {segment!r}")
    start, end = float(segment[0]), float(segment[1])
    if not 0 <= start <= end:
        raise ValueError(f"segment must satisfy 0 <= start <= end, got {segment!r}")
    return start, end


def _evenly_spaced(times: list[float]) -> bool:
    """Steps equal up to frame-grid rounding: spread within 10% of the step, or 50 ms (a frame or so)."""
    if len(times) < 3:
        return True
    steps = [b - a for a, b in zip(times, times[1:])]
    mean = (times[-1] - times[0]) / len(steps)
    return mean > 0 and max(steps) - min(steps) <= max(0.1 * mean, 0.05)


def _is_number(value: object) -> bool:
    try:
        return not isinstance(value, (bool, str)) and math.isfinite(float(value))  # numpy scalars too
    except (TypeError, ValueError):
        return False
