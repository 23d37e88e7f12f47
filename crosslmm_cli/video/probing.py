"""Probing a video without decoding it: one `ffmpeg -i` run, parsed.

Why not ffprobe: imageio-ffmpeg ships only `ffmpeg`, and a fresh `pip install` must work without
system packages. Why not decord's metadata: it has no codec, container or rotation accessors,
indexes every packet before answering, and is the library known to hang on bad files (so it
runs in a worker process, which probing does not need). `ffmpeg -i` reads only the header and
prints a stable, human-oriented summary; the same run also lists the first video packets
(`-c copy -f framecrc`, demuxing only) which gives exact frame counts for short files and the
GOP structure that decides whether decord can be trusted with this file.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

from crosslmm_cli.video import errors
from crosslmm_cli.video.ffmpeg_binary import LOCAL_ONLY, input_url, problem_lines, run_ffmpeg
from crosslmm_cli.video.info import VideoInfo
from crosslmm_cli.video.packet_index import PacketList, frame_index_from_packets, list_packets, parse_framecrc

#: Packets listed by the probe: enough for the whole index of short clips and a few GOPs of long ones.
HEAD_PACKETS = 500
#: Larger frames than this per side are refused before any decoder allocates them.
MAX_SIDE = 16384
PROBE_TIMEOUT_S = 20.0

_INPUT = re.compile(r"^Input #0, (.+?), from '", re.M)
_DURATION = re.compile(r"^\s*Duration: (?:(\d+):(\d+):(\d+(?:\.\d+)?)|N/A)(?:, start: (-?[\d.]+))?", re.M)
_STREAM = re.compile(r"^(\s*)Stream #0:(\d+)(?:\[[^\]]*\])?(?:\([^)]*\))?: (\w+): (.*)$")
_DIMS = re.compile(r"(?:^|[\s,])(\d{1,7})x(\d{1,7})(?=[\s,\[]|$)")
_RATE = re.compile(r"([\d.]+)(k?) (fps|tbr)\b")
_ROTATION = re.compile(r"display ?matrix: rotation of (-?[\d.]+) degrees", re.I)
_ROTATE_TAG = re.compile(r"^\s*rotate\s*:\s*(-?\d+)\s*$", re.M)
_TEXT_FORMATS = frozenset({"tty"})
_BAD_SIZE = re.compile(r"Picture size (\d+)x(\d+) is invalid")


@dataclass(frozen=True, eq=False)
class Probe:
    """What one `ffmpeg -i` run told us about a file (internal; `probe()` returns `.info`)."""

    info: VideoInfo
    container_start: float  # the zero of ffmpeg's -ss, in the file's clock (s)
    packets: PacketList  # the first video packets, decode order
    packets_complete: bool  # True when `packets` is the whole stream
    problems: tuple[str, ...]  # demuxer complaints seen while listing packets (truncation, ...)
    format_names: str  # ffmpeg's demuxer name list, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    has_audio: bool


@dataclass(frozen=True)
class _Stream:
    index: int
    kind: str
    description: str
    block: str  # the stream line and its indented metadata / side data lines


def probe_file(path: str, *, timeout_s: float = PROBE_TIMEOUT_S, head_packets: int = HEAD_PACKETS) -> Probe:
    """Run ffmpeg once on an existing, readable file and return what it says, or raise the
    `VideoError` that names what is wrong with it."""
    args = [
        "-copyts", *LOCAL_ONLY, "-i", input_url(path),
        "-map", "0:V:0?", "-an", "-sn", "-dn", "-c", "copy", "-frames:v", str(head_packets),
        "-f", "framecrc", "-",
    ]  # fmt: skip
    done = run_ffmpeg(args, timeout_s=timeout_s)
    if done.timed_out:
        raise errors.DecodeTimeoutError(path, f"reading the header took over {timeout_s:g} s")
    header = _input_section(done.stderr)
    if not header:
        raise _open_failure(path, done.stderr)
    if _INPUT.search(header).group(1) in _TEXT_FORMATS:
        # ffmpeg's tty demuxer renders any .txt/.nfo/.asc as ANSI art "video".
        raise errors.NotAVideoError(path, _sniff(path))
    streams = _streams(header)
    video = [s for s in streams if s.kind == "Video" and "(attached pic)" not in s.description]
    has_audio = any(s.kind == "Audio" for s in streams)
    if not video:
        if has_audio:
            raise errors.AudioOnlyError(path)
        if not streams:
            raise errors.EmptyVideoError(path, "the container holds no streams")
        raise errors.NotAVideoError(path, "no video stream")
    stream = video[0]
    codec = stream.description.split(",", 1)[0].split(" ", 1)[0].strip()
    width, height = _dimensions(path, stream.description)
    rotation = _rotation(stream.block)
    if rotation in (90, 270):
        width, height = height, width
    fps = _frame_rate(stream.description)
    duration, container_start = _duration_and_start(header)
    packets = parse_framecrc(done.stdout.decode("ascii", "replace"))
    complete = len(packets) < head_packets
    if codec in ("none", "unknown") or "Decoder (codec" in done.stderr:
        raise errors.UnsupportedCodecError(path, _codec_tag(stream.description))
    if len(packets) == 0:
        if problem_lines(done.stderr):
            raise errors.CorruptVideoError(path, "no readable video packet")
        raise errors.EmptyVideoError(path, "the video stream has no frames")
    if not complete and (duration is None or duration <= 0):
        # No duration in the header (browser MediaRecorder webm, raw streams): list every packet.
        packets, _, timed_out = list_packets(path, timeout_s=timeout_s)
        if timed_out:
            raise errors.DecodeTimeoutError(path, f"indexing took over {timeout_s:g} s")
        complete = True
    num_frames, exact = 0, False
    if complete:
        index = frame_index_from_packets(packets)
        if index is None:
            raise errors.CorruptVideoError(path, "no video packet has a timestamp")
        num_frames, exact = len(index), True
        if duration is None or duration <= 0:
            duration = index.end
    if fps <= 0:
        fps = num_frames / duration if duration and num_frames else 25.0
    if not exact:
        num_frames = max(1, round(duration * fps))
    info = VideoInfo(
        path=path,
        duration=float(duration),
        num_frames=int(num_frames),
        fps=float(fps),
        width=width,
        height=height,
        rotation=rotation,
        codec=codec,
        container=_container_name(path, _INPUT.search(done.stderr).group(1)),
        is_image=False,
        num_frames_exact=exact,
    )
    problems = tuple(problem_lines(done.stderr))
    return Probe(
        info=info,
        container_start=container_start,
        packets=packets,
        packets_complete=complete,
        problems=problems,
        format_names=_INPUT.search(done.stderr).group(1),
        has_audio=has_audio,
    )


def _input_section(stderr: str) -> str:
    """The `Input #0 ...` block of ffmpeg's report, up to the stream mapping / output section."""
    match = _INPUT.search(stderr)
    if not match:
        return ""
    section = stderr[match.start() :]
    for marker in ("\nStream mapping:", "\nOutput #0", "\n[out#0"):
        cut = section.find(marker)
        if cut > 0:
            section = section[:cut]
    return section


def _streams(header: str) -> list[_Stream]:
    """Stream lines with the metadata / side-data lines under them. ffmpeg >= 5 indents those
    deeper than the stream line; ffmpeg 4 at the same depth, so a block ends at the next stream
    line or at a shallower line."""
    streams: list[_Stream] = []
    lines = header.splitlines()
    for i, line in enumerate(lines):
        match = _STREAM.match(line)
        if not match:
            continue
        indent = len(match.group(1))
        block = [line]
        for follower in lines[i + 1 :]:
            if _STREAM.match(follower) or len(follower) - len(follower.lstrip()) < indent:
                break
            block.append(follower)
        streams.append(_Stream(int(match.group(2)), match.group(3), match.group(4), "\n".join(block)))
    return streams


def _dimensions(path: str, description: str) -> tuple[int, int]:
    match = _DIMS.search(description.split(",", 1)[1] if "," in description else description)
    if not match:
        raise errors.BadDimensionsError(path, "the video stream has no frame size")
    width, height = int(match.group(1)), int(match.group(2))
    _check_dimensions(path, width, height)
    return width, height


def _check_dimensions(path: str, width: int, height: int) -> None:
    if width < 1 or height < 1 or width > MAX_SIDE or height > MAX_SIDE:
        raise errors.BadDimensionsError(path, f"{width}x{height}; the limit is {MAX_SIDE} pixels per side")


def _rotation(block: str) -> int:
    """Clockwise degrees to turn the stored picture upright. ffmpeg prints the display matrix's
    counter-clockwise angle, so a phone portrait clip (`rotate: 90` in old tags) reads -90."""
    match = _ROTATION.search(block)
    if match:
        degrees = -float(match.group(1))
    else:
        tag = _ROTATE_TAG.search(block)
        if not tag:
            return 0
        degrees = float(tag.group(1))
    return int(round(degrees / 90)) * 90 % 360


def _frame_rate(description: str) -> float:
    rates = {kind: float(value) * (1000 if kilo else 1) for value, kilo, kind in _RATE.findall(description)}
    for kind in ("fps", "tbr"):
        value = rates.get(kind, 0.0)
        if value > 0 and math.isfinite(value):
            return value
    return 0.0


def _duration_and_start(header: str) -> tuple[float | None, float]:
    match = _DURATION.search(header)
    if not match:
        return None, 0.0
    hours, minutes, seconds, start = match.groups()
    duration = None if hours is None else int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    return duration, float(start) if start else 0.0


def _codec_tag(description: str) -> str:
    tag = re.search(r"\(([^()]*/ 0x[0-9A-Fa-f]+)\)", description)
    return f"codec tag {tag.group(1).split(' /')[0].strip()}" if tag else description.split(",")[0]


def _container_name(path: str, format_names: str) -> str:
    names = [name.strip() for name in format_names.split(",")]
    extension = os.path.splitext(path)[1].lower().lstrip(".")
    if extension in names:
        return extension
    if extension == "mkv" and "matroska" in names:
        return "matroska"
    return names[0]


def _open_failure(path: str, stderr: str) -> errors.VideoError:
    """The error for a file that ffmpeg could not open at all."""
    bad_size = _BAD_SIZE.search(stderr)
    if bad_size:
        return errors.BadDimensionsError(path, f"{bad_size.group(1)}x{bad_size.group(2)}")
    if "Permission denied" in stderr:
        return errors.VideoPermissionError(path)
    if "moov atom not found" in stderr and _looks_like_mp4(path):
        return errors.CorruptVideoError(path, "the mp4 index (moov atom) is missing: an unfinished recording or download")
    if "EBML header parsing failed" in stderr or "File ended prematurely" in stderr:
        return errors.CorruptVideoError(path, "the container header is damaged")
    if "Invalid data found" in stderr or "misdetection possible" in stderr:
        return errors.NotAVideoError(path, _sniff(path))
    last = [line.strip() for line in stderr.splitlines() if line.strip()]
    return errors.NotAVideoError(path, last[-1][:120] if last else "ffmpeg could not open it")


def _looks_like_mp4(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            head = handle.read(12)
    except OSError:
        return False
    return head[4:8] in (b"ftyp", b"mdat", b"moov", b"wide", b"free", b"skip")


def _sniff(path: str) -> str:
    """A short reason for "not a video": text or binary."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return "unreadable"
    if not head:
        return "empty"
    try:
        head.decode("utf-8")
        return "it is a text file"
    except UnicodeDecodeError:
        pass
    printable = sum(32 <= byte < 127 or byte in (9, 10, 13) for byte in head) / len(head)
    return "it looks like a text file" if printable > 0.95 else "ffmpeg found no known format in its bytes"
