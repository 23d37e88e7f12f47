"""The size frames are decoded at, shared by every backend so their outputs match pixel for pixel.

Decoders scale inside their own pipeline (swscale), which is much cheaper than decoding full
resolution and resizing in numpy: a 1080p frame shrinks 14x in bytes before it is ever copied.
"""

from __future__ import annotations


def output_size(width: int, height: int, size: int | tuple[int, int] | None) -> tuple[int, int]:
    """(width, height) to decode a `width` x `height` (displayed, after rotation) video at.

    size=None keeps the stored size; an int scales the shorter side to it, keeping the aspect
    ratio and never upscaling; (w, h) is taken as is. Widths are then made decord-safe.
    """
    if size is None:
        out_w, out_h = width, height
    elif isinstance(size, int):
        shorter = min(width, height)
        if shorter <= size:
            out_w, out_h = width, height
        else:
            scale = size / shorter
            out_w = max(2, round(width * scale))
            out_h = max(2, round(height * scale))
            if width <= height:
                out_w = size
            else:
                out_h = size
    else:
        out_w, out_h = int(size[0]), int(size[1])
    return decord_safe_width(out_w), out_h


def decord_safe_width(width: int) -> int:
    """Nudge widths that trip a decord2 (3.4) stride bug.

    decord pads each output row to a multiple of 64 pixels and then infers the channel count as
    row bytes / width; when that division is exact but not 3 (width 16, 24, 32, 48, 96, 144, ...)
    frames come back with 4, 6, 8 or 12 "channels" and batched reads fail. Found by scanning
    widths 16..520 against ffmpeg; two extra pixels of width avoid it.
    """
    while _decord_misreads(width):
        width += 2
    return width


def _decord_misreads(width: int) -> bool:
    padded = -(-width // 64) * 64
    return padded != width and (3 * padded) % width == 0
