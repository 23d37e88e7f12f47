"""Still images and animated images (GIF, APNG, animated WebP) read with Pillow, in process.

A still image is a one-frame video at t=0. An animation's timestamps come from its per-frame
delays; delays under 20 ms are shown as 100 ms, as browsers and ffmpeg's GIF demuxer do.
"""

from __future__ import annotations

import warnings

import numpy as np

from crosslmm_cli.video import errors
from crosslmm_cli.video.frames import Frames
from crosslmm_cli.video.info import VideoInfo
from crosslmm_cli.video.options import SamplingOptions
from crosslmm_cli.video.packet_index import FrameIndex
from crosslmm_cli.video.probing import MAX_SIDE
from crosslmm_cli.video.selection import SegmentOutOfRange, select_frames
from crosslmm_cli.video.sizing import output_size

#: Formats read as images. Others that Pillow can identify (MPEG, FLI, PSD, ...) go to ffmpeg.
IMAGE_FORMATS = frozenset({"PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF", "PPM", "TGA"})
_MIN_DELAY_S, _DEFAULT_DELAY_S = 0.02, 0.1


def open_image(path: str):
    """A Pillow image if `path` is an image this module reads, else None (not an image)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
    except (UnidentifiedImageError, OSError, ValueError):
        return None
    except Image.DecompressionBombError:
        raise errors.BadDimensionsError(path, "the image is larger than Pillow will decode") from None
    if image.format not in IMAGE_FORMATS:
        image.close()
        return None
    return image


def image_info(path: str, image) -> tuple[VideoInfo, FrameIndex]:
    width, height = image.size
    if width < 1 or height < 1 or width > MAX_SIDE or height > MAX_SIDE:
        raise errors.BadDimensionsError(path, f"{width}x{height}; the limit is {MAX_SIDE} pixels per side")
    count = max(1, int(getattr(image, "n_frames", 1)))
    delays = []
    for position in range(count):
        if count > 1:
            image.seek(position)
        delay = float(image.info.get("duration", 0) or 0) / 1000.0
        delays.append(_DEFAULT_DELAY_S if delay < _MIN_DELAY_S else delay)
    if count == 1:
        delays = [1.0]
    starts = np.concatenate([[0.0], np.cumsum(delays[:-1])])
    index = FrameIndex(pts=starts, keyframe=np.ones(count, dtype=bool), end=float(np.sum(delays)))
    info = VideoInfo(
        path=path,
        duration=0.0 if count == 1 else index.end,
        num_frames=count,
        fps=1.0 if count == 1 else count / index.end,
        width=width,
        height=height,
        codec=image.format.lower(),
        container=image.format.lower(),
        is_image=True,
        num_frames_exact=True,
    )
    return info, index


def sample_image(path: str, image, options: SamplingOptions) -> Frames:
    """Frames from a still or animated image, sampled like a video."""
    info, index = image_info(path, image)
    try:
        selection = select_frames(index, options)
    except SegmentOutOfRange as exc:
        raise errors.SegmentError(path, str(exc)) from None
    out_w, out_h = output_size(info.width, info.height, options.size)
    frames = []
    try:
        for position in selection.indices:
            if info.num_frames > 1:
                image.seek(int(position))
            frame = image.convert("RGB")
            if frame.size != (out_w, out_h):
                from PIL import Image

                frame = frame.resize((out_w, out_h), Image.Resampling.BICUBIC)
            frames.append(np.asarray(frame, dtype=np.uint8))
    except (OSError, ValueError, EOFError) as exc:
        if not frames:
            raise errors.CorruptVideoError(path, str(exc)) from None
        return Frames(
            np.stack(frames), index.pts[selection.indices[: len(frames)]], info, partial=True,
            backend="pillow", warning=f"{path}: image data ends early ({exc}); used {len(frames)} frame(s)",
            indices=selection.indices[: len(frames)],
        )  # fmt: skip
    finally:
        image.close()
    return Frames(np.stack(frames), index.pts[selection.indices], info, backend="pillow", indices=selection.indices)
