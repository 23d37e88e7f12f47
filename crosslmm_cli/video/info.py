"""`VideoInfo`: what a video is, read from its header (no decoding)."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class VideoInfo:
    """Facts about one input.

    `width`/`height` are the displayed size, after rotation. `rotation` is the clockwise turn in
    degrees (0, 90, 180, 270) that the file's display matrix asks for, and that decoding applies.
    `duration` is in seconds. `num_frames` comes from the packet index when it was read, else it
    is estimated from duration x fps (`num_frames_exact` says which). `container` is the format
    as ffmpeg names it, narrowed to the file's extension when that is one of the names
    ("mp4" rather than "mov,mp4,m4a,3gp,3g2,mj2").
    """

    path: str
    duration: float
    num_frames: int
    fps: float
    width: int
    height: int
    rotation: int = 0
    codec: str = "unknown"
    container: str = "unknown"
    is_image: bool = False
    num_frames_exact: bool = False

    def with_index(self, *, duration: float, num_frames: int) -> VideoInfo:
        """The same info with the exact frame count and duration of the packet index."""
        return replace(self, duration=duration, num_frames=num_frames, num_frames_exact=True)

    def describe(self) -> str:
        """One line for humans, e.g. `12.0 s, 360 frames at 30 fps, 1280x720, h264 in mp4`."""
        frames = f"{'' if self.num_frames_exact else '~'}{self.num_frames} frame{'s' if self.num_frames != 1 else ''}"
        rotation = f", rotated {self.rotation} deg" if self.rotation else ""
        if self.is_image and self.num_frames == 1:
            return f"image, {self.width}x{self.height}, {self.codec}"
        return (
            f"{self.duration:.1f} s, {frames} at {self.fps:.3g} fps, {self.width}x{self.height}"
            f"{rotation}, {self.codec} in {self.container}"
        )
