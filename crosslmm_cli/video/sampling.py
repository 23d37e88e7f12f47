"""`probe()` and `sample_frames()`: the public entry points, choosing and falling back between
backends.

Order of work for one file: path checks (no decoder), Pillow for images, one `ffmpeg -i` probe
(header + first packets), then the backends. "auto" uses decord where it is reliable
(MP4/MOV/MKV/WebM with H.264/VP8/VP9/AV1 and closed GOPs, no demuxer complaints): decord
indexes the file and decodes the chosen keyframes, ffmpeg the chosen frames between keyframes.
Everything goes to ffmpeg otherwise, or when decord fails, times out, or logs any problem.
Every backend attempt has `timeout_s`; when all fail the file fails with one named error.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
import time
from dataclasses import dataclass

import numpy as np

from crosslmm_cli.video import errors
from crosslmm_cli.video.ffmpeg_binary import problem_lines
from crosslmm_cli.video.ffmpeg_backend import FFmpegDecodeError, FFmpegTimeout, decode_frames
from crosslmm_cli.video.frames import Frames
from crosslmm_cli.video.images import image_info, open_image, sample_image
from crosslmm_cli.video.info import VideoInfo
from crosslmm_cli.video.options import DEFAULT_MAX_FRAMES, DEFAULT_TIMEOUT_S, SamplingOptions
from crosslmm_cli.video.packet_index import FrameIndex, frame_index_from_packets, gop_is_closed, list_packets
from crosslmm_cli.video.paths import check_local_file
from crosslmm_cli.video.probing import PROBE_TIMEOUT_S, Probe, probe_file
from crosslmm_cli.video.selection import SegmentOutOfRange, select_frames
from crosslmm_cli.video.sizing import output_size
from crosslmm_cli.video.worker import WorkerCrashed, WorkerFailed, WorkerTimeout, WorkerUnavailable, shared_worker

DECORD_FORMATS = frozenset({"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"})
#: HEVC is left out: decord2 3.4 failed 27 of 70 HEVC reads on a busy 2-core machine
#: ("avcodec_send_packet ... -11": it mishandles EAGAIN), and x265's default open GOPs
#: mislead its frame counting. ffmpeg decodes HEVC correctly every time.
DECORD_CODECS = frozenset({"h264", "vp8", "vp9", "av1"})
#: "[10:40:21] /project/src/video/ffmpeg/threaded_decoder.cc:292: " in front of decord's messages.
_DECORD_LOG_PREFIX = re.compile(r"\[\d\d:\d\d:\d\d\] \S+:\d+: ")


@dataclass(eq=False)
class _Failure(Exception):
    """One backend could not deliver; the next one is tried."""

    backend: str
    reason: str
    timed_out: bool = False
    unsupported_codec: bool = False
    unavailable: bool = False


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """What `path` is, from its header (and first packets); raises a `VideoError` for bad input."""
    text = check_local_file(path)
    image = open_image(text)
    if image is not None:
        try:
            return image_info(text, image)[0]
        finally:
            image.close()
    return probe_file(text).info


def probe_readable(path: str | os.PathLike[str], *, timeout_s: float = PROBE_TIMEOUT_S) -> tuple[VideoInfo, str | None]:
    """What decoding `path` will find: its info with the duration and frame count of the part
    that can be read, and the truncation note `sample_frames` warns with (None for a healthy file).

    `probe` reports the header, which a truncated download still has whole; this indexes the
    packets (as the ffmpeg backend does) when the demuxer complained, so `crosslmm info` and
    `describe` agree on a damaged file.
    """
    text = check_local_file(path)
    image = open_image(text)
    if image is not None:
        try:
            return image_info(text, image)[0], None
        finally:
            image.close()
    probed = probe_file(text, timeout_s=timeout_s)
    if not probed.problems:
        return probed.info, None
    packets, problems = probed.packets, list(probed.problems)
    if not probed.packets_complete:
        packets, stderr, timed_out = list_packets(text, timeout_s=timeout_s)
        if timed_out:
            raise errors.DecodeTimeoutError(text, f"indexing took over {timeout_s:g} s")
        problems += problem_lines(stderr)
    index = frame_index_from_packets(packets)
    if index is None:
        raise errors.CorruptVideoError(text, "no video packet has a timestamp")
    note = _truncation_note(probed, index.end, problems)
    return probed.info.with_index(duration=index.end, num_frames=len(index)), note


def sample_frames(
    path: str | os.PathLike[str],
    *,
    num_frames: int | None = None,
    fps: float | None = None,
    start: float | None = None,
    end: float | None = None,
    max_frames: int = DEFAULT_MAX_FRAMES,
    size: int | tuple[int, int] | None = None,
    backend: str = "auto",
    timeout_s: float = DEFAULT_TIMEOUT_S,
    times: tuple[float, ...] | None = None,
    snap_to_keyframes: bool = True,
    options: SamplingOptions | None = None,
) -> Frames:
    """Decode the frames that `options` (or the keywords, see `SamplingOptions`) ask for.

    Returns `Frames` whose timestamps are the presentation times of the returned frames.
    Raises a `VideoError` subclass, with a one-line message naming the file, for bad input.
    """
    if options is None:
        options = SamplingOptions(
            num_frames=num_frames, fps=fps, start=start, end=end, max_frames=max_frames, size=size,
            backend=backend, timeout_s=timeout_s, times=times, snap_to_keyframes=snap_to_keyframes,
        )  # fmt: skip
    text = check_local_file(path)
    image = open_image(text)
    if image is not None:
        return sample_image(text, image, options)
    probed = probe_file(text, timeout_s=min(options.timeout_s, PROBE_TIMEOUT_S))
    out_size = output_size(probed.info.width, probed.info.height, options.size)
    failures: list[_Failure] = []
    for name in backend_order(probed, options.backend):
        try:
            if name == "decord":
                return _sample_decord(text, probed, options, out_size, forced=options.backend == "decord")
            return _sample_ffmpeg(text, probed, options, out_size)
        except _Failure as failure:
            failures.append(failure)
    raise _final_error(text, options, failures)


def decord_available() -> bool:
    return importlib.util.find_spec("decord") is not None


def decord_unsuitable(probed: Probe) -> str | None:
    """Why decord cannot be trusted with this file, or None when it can."""
    if probed.format_names not in DECORD_FORMATS:
        return f"container {probed.info.container}"
    if probed.info.codec not in DECORD_CODECS:
        return f"codec {probed.info.codec}"
    if probed.problems:
        return "the demuxer reported problems"
    if not gop_is_closed(probed.packets):
        return "open GOPs or edit-list discards"
    return None


def backend_order(probed: Probe, requested: str) -> list[str]:
    if requested == "ffmpeg":
        return ["ffmpeg"]
    if requested == "decord":
        return ["decord"]
    if decord_available() and decord_unsuitable(probed) is None:
        return ["decord", "ffmpeg"]
    return ["ffmpeg"]


def _sample_decord(path: str, probed: Probe, options: SamplingOptions, out_size: tuple[int, int], *, forced: bool) -> Frames:
    """decord indexes the file and decodes the chosen keyframes. Forced: it also steps to the
    other chosen frames itself. Auto: those go to ffmpeg, which decodes them with decord's index
    (frames are identified by time; showinfo reports the true pts), far cheaper in time and
    memory than stepping decord through whole GOPs."""
    started = time.monotonic()
    request = {
        "path": path,
        "width": out_size[0],
        "height": out_size[1],
        "options": dataclasses.asdict(options),
        "keyframes_only": not forced,
    }
    try:
        reply, arrays = shared_worker().request(request, timeout_s=options.timeout_s)
    except WorkerTimeout:
        raise _Failure("decord", f"no result within {options.timeout_s:g} s", timed_out=True) from None
    except WorkerUnavailable as exc:
        raise _Failure("decord", str(exc), unavailable=True) from None
    except WorkerCrashed as exc:
        raise _Failure("decord", str(exc)) from None
    except WorkerFailed as exc:
        if exc.kind == "SegmentOutOfRange":
            raise errors.SegmentError(path, exc.message) from None
        raise _Failure("decord", _DECORD_LOG_PREFIX.sub("", exc.message) or exc.kind) from None
    array, timestamps, indices = arrays["array"], arrays["timestamps"], arrays["indices"]
    # decord decodes at a nearby width where this build cannot deliver the requested one; the
    # frames ffmpeg adds below must come at the same size.
    out_size = (int(reply.get("width", out_size[0])), out_size[1])
    if array.ndim != 4 or array.shape[1:] != (out_size[1], out_size[0], 3):
        raise _Failure("decord", f"frames of shape {array.shape}, expected {out_size[1]}x{out_size[0]}x3")
    log = list(reply.get("log", []))
    warning = None
    if log:
        if not forced:
            raise _Failure("decord", f"decord reported: {log[0][:160]}")
        warning = f"{path}: decord reported problems, frames may be wrong ({log[0][:120]})"
    elif forced and (reason := decord_unsuitable(probed)):
        warning = f"{path}: decord is unreliable here ({reason}); frames may not match their timestamps"
    backend = "decord"
    pending = arrays.get("pending")
    chosen, missing = len(indices), 0
    if pending is not None and pending.size:
        rest = _decode_pending(path, probed, arrays, float(reply["end"]), out_size, options.timeout_s - (time.monotonic() - started))
        array = np.concatenate([array, rest.array])
        timestamps = np.concatenate([timestamps, rest.timestamps])
        indices = np.concatenate([indices, rest.indices])
        order = np.argsort(timestamps, kind="stable")
        array, timestamps, indices = array[order], timestamps[order], indices[order]
        backend = "decord+ffmpeg" if len(arrays["indices"]) else "ffmpeg"
        log += list(rest.problems)
        chosen += len(pending)
        missing = len(pending) - len(rest.indices)
    end = float(reply["end"])
    truncated = _truncation_note(probed, end, log, missing=missing, chosen=chosen)
    info = probed.info.with_index(duration=end, num_frames=int(reply["num_frames"]))
    return Frames(
        array, timestamps, info, partial=truncated is not None, backend=backend,
        warning=truncated or warning, indices=indices,
    )  # fmt: skip


def _decode_pending(path: str, probed: Probe, arrays: dict, end: float, out_size: tuple[int, int], timeout_s: float):
    """ffmpeg decodes the frames decord left (non-keyframes), located with decord's index."""
    head = frame_index_from_packets(probed.packets)
    try:
        index = FrameIndex(
            pts=arrays["index_pts"], keyframe=arrays["index_keyframe"], end=end, origin=head.origin if head else 0.0
        )
    except ValueError as exc:  # float32 times that collide: let the ffmpeg backend index itself
        raise _Failure("decord", f"unusable index ({exc})") from None
    if timeout_s <= 0:
        raise _Failure("decord", "time limit reached", timed_out=True)
    try:
        return decode_frames(
            path, index, arrays["pending"], out_size, container_start=probed.container_start,
            source_pixels=_stored_pixels(probed.info), timeout_s=timeout_s,
        )  # fmt: skip
    except FFmpegTimeout as exc:
        raise _Failure("decord", str(exc), timed_out=True) from None
    except FFmpegDecodeError as exc:
        raise _Failure("decord", exc.stderr_tail or str(exc), unsupported_codec=exc.unsupported_codec) from None


def _sample_ffmpeg(path: str, probed: Probe, options: SamplingOptions, out_size: tuple[int, int]) -> Frames:
    problems = list(probed.problems)
    packets = probed.packets
    if not probed.packets_complete:
        packets, stderr, timed_out = list_packets(path, timeout_s=options.timeout_s)
        if timed_out:
            raise _Failure("ffmpeg", f"indexing took over {options.timeout_s:g} s", timed_out=True)
        problems += problem_lines(stderr)
    index = frame_index_from_packets(packets)
    if index is None:
        raise _Failure("ffmpeg", "no video packet has a timestamp")
    selection = _select(path, index, options)
    try:
        decoded = decode_frames(
            path, index, selection.indices, out_size, container_start=probed.container_start,
            source_pixels=_stored_pixels(probed.info), timeout_s=options.timeout_s,
        )  # fmt: skip
    except FFmpegTimeout as exc:
        raise _Failure("ffmpeg", str(exc), timed_out=True) from None
    except FFmpegDecodeError as exc:
        raise _Failure("ffmpeg", exc.stderr_tail or str(exc), unsupported_codec=exc.unsupported_codec) from None
    problems += list(decoded.problems)
    missing = len(selection.indices) - len(decoded.indices)
    note = _truncation_note(probed, index.end, problems, missing=missing, chosen=len(selection.indices))
    info = probed.info.with_index(duration=index.end, num_frames=len(index))
    return Frames(
        decoded.array, decoded.timestamps, info, partial=note is not None, backend="ffmpeg",
        warning=note, indices=decoded.indices,
    )  # fmt: skip


def _select(path: str, index: FrameIndex, options: SamplingOptions):
    try:
        return select_frames(index, options)
    except SegmentOutOfRange as exc:
        raise errors.SegmentError(path, str(exc)) from None


def _stored_pixels(info: VideoInfo) -> int:
    return info.width * info.height


def _truncation_note(probed: Probe, readable_end: float, problems: list[str], *, missing: int = 0, chosen: int = 0) -> str | None:
    """One line saying what could not be read, or None for a healthy decode.

    A readable end well short of the header's duration only counts together with demuxer or
    decoder complaints: an audio track may legitimately outlast the video.
    """
    notes = []
    claimed = probed.info.duration
    if problems and claimed - readable_end > max(0.5, 0.02 * claimed):
        notes.append(f"only the first {readable_end:.1f} s of {claimed:.1f} s could be read")
    if missing > 0:
        notes.append(f"{missing} of {chosen} chosen frames could not be decoded")
    if problems and not notes:
        notes.append(f"the decoder reported damaged data ({problems[0][:100]})")
    if not notes:
        return None
    return f"{probed.info.path}: truncated or corrupt; {'; '.join(notes)}"


def _final_error(path: str, options: SamplingOptions, failures: list[_Failure]) -> errors.VideoError:
    tried = ", ".join(failure.backend for failure in failures)
    if any(failure.unsupported_codec for failure in failures):
        return errors.UnsupportedCodecError(path, failures[-1].reason)
    if any(failure.timed_out for failure in failures):
        return errors.DecodeTimeoutError(path, f"over {options.timeout_s:g} s with {tried}")
    if failures and all(failure.unavailable for failure in failures):
        return errors.BackendUnavailableError(path, failures[-1].reason)
    reason = failures[-1].reason if failures else "no backend could read it"
    return errors.CorruptVideoError(path, f"{tried}: {reason}")


__all__ = ["backend_order", "decord_unsuitable", "probe", "probe_readable", "sample_frames"]
