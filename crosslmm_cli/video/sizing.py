"""The size frames are decoded at, shared by every backend so their outputs match pixel for pixel.

Decoders scale inside their own pipeline (swscale), which is much cheaper than decoding full
resolution and resizing in numpy: a 1080p frame shrinks 14x in bytes before it is ever copied.
(Some decord builds cannot deliver some widths; the decord backend detects that itself and
reports the width it used: `decord_backend.readable_width`.)
"""

from __future__ import annotations


def output_size(width: int, height: int, size: int | tuple[int, int] | None) -> tuple[int, int]:
    """(width, height) to decode a `width` x `height` (displayed, after rotation) video at.

    size=None keeps the stored size; an int scales the shorter side to it, keeping the aspect
    ratio and never upscaling; (w, h) is taken as is.
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
    return out_w, out_h

