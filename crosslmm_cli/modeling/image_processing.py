"""Frame preprocessing for the vision encoder, in torch, from a checkpoint's `preprocessor_config.json`.

transformers 5's SigLIP / LLaVA-OneVision image processors need torchvision, which cannot sit beside
every torch build and which users should not need. This module reads the same config file and does
the same arithmetic (resize as PIL does, rescale, normalize) on whole batches of frames.

Video frames become one square tile each, as LLaVA-OneVision's video processor does: fields for
multi-tile images (`image_grid_pinpoints`, `do_pad`, ...) are read past and ignored.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch

from crosslmm_cli.modeling.checkpoint_files import (
    CheckpointFileError,
    is_finite_number,
    read_json_object,
    write_json_object,
)
from crosslmm_cli.modeling.image_resize import PIL_RESAMPLE, RESAMPLE_BY_NAME, resize_uint8

PREPROCESSOR_CONFIG_NAME = "preprocessor_config.json"
IMAGE_PROCESSOR_TYPE = "CrossLMMImageProcessor"

FrameArray = Union[np.ndarray, torch.Tensor]


@dataclass(frozen=True)
class ImageProcessorConfig:
    """What `preprocessor_config.json` says about turning frames into encoder input.

    Size: either `height`/`width` (resize straight to that tile, SigLIP / LLaVA-OneVision) or
    `shortest_edge` (CLIP style: with `do_center_crop`, resize the short side keeping the aspect
    ratio, then crop `crop_height` x `crop_width`; without a crop, a square `shortest_edge` tile,
    since the encoder needs one fixed grid). Defaults are SigLIP's at 384 pixels.
    """

    height: int | None = 384
    width: int | None = 384
    shortest_edge: int | None = None
    resample: int = 3  # PIL enum: 0 nearest, 1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming
    do_resize: bool = True
    do_center_crop: bool = False
    crop_height: int | None = None
    crop_width: int | None = None
    do_rescale: bool = True
    rescale_factor: float = 1 / 255
    do_normalize: bool = True
    image_mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    image_std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    do_convert_rgb: bool = True

    def __post_init__(self) -> None:
        if self.shortest_edge is not None:
            if self.height is not None or self.width is not None:
                raise ValueError("size: give either height/width or shortest_edge, not both")
            _check_positive_int("size.shortest_edge", self.shortest_edge)
        else:
            _check_positive_int("size.height", self.height)
            _check_positive_int("size.width", self.width)
        if self.resample not in PIL_RESAMPLE:
            raise ValueError(f"resample: expected a PIL filter {sorted(PIL_RESAMPLE)}, got {self.resample!r}")
        if self.do_center_crop:
            _check_positive_int("crop_size.height", self.crop_height)
            _check_positive_int("crop_size.width", self.crop_width)
            if self.shortest_edge is not None and min(self.crop_height, self.crop_width) > self.shortest_edge:
                raise ValueError(
                    f"crop_size: {self.crop_height}x{self.crop_width} is larger than shortest_edge {self.shortest_edge}"
                )
        if not (is_finite_number(self.rescale_factor) and self.rescale_factor > 0):
            raise ValueError(f"rescale_factor: expected a positive number, got {self.rescale_factor!r}")
        for name in ("image_mean", "image_std"):
            values = getattr(self, name)
            if len(values) != 3 or not all(is_finite_number(v) for v in values):
                raise ValueError(f"{name}: expected 3 finite numbers, got {values!r}")
        if not all(v > 0 for v in self.image_std):
            raise ValueError(f"image_std: expected positive numbers, got {self.image_std!r}")

    @property
    def output_size(self) -> tuple[int, int] | None:
        """(height, width) of every output frame; None if it follows the input (no resize, no crop)."""
        if self.do_center_crop:
            return (self.crop_height, self.crop_width)
        if not self.do_resize:
            return None
        if self.shortest_edge is not None:
            return (self.shortest_edge, self.shortest_edge)
        return (self.height, self.width)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageProcessorConfig:
        """Read the fields we use from a transformers-style dict; ignore the others.

        Raises ValueError naming the field for values we cannot honour.
        """
        kwargs: dict[str, Any] = {}
        size = data.get("size")
        if size is None:
            pass  # SigLIP default 384x384
        elif isinstance(size, dict) and set(size) == {"height", "width"}:
            kwargs.update(height=size["height"], width=size["width"])
        elif isinstance(size, dict) and set(size) == {"shortest_edge"}:
            kwargs.update(height=None, width=None, shortest_edge=size["shortest_edge"])
        elif isinstance(size, int) and not isinstance(size, bool):
            if data.get("do_center_crop"):  # CLIP's legacy int size means the shortest edge, then a crop
                kwargs.update(height=None, width=None, shortest_edge=size)
            else:
                kwargs.update(height=size, width=size)
        else:
            raise ValueError(
                f"size: expected {{'height', 'width'}} or {{'shortest_edge'}}, got {size!r}"
            )
        if "resample" in data and data["resample"] is not None:
            kwargs["resample"] = _parse_resample(data["resample"])
        for flag in ("do_resize", "do_center_crop", "do_rescale", "do_normalize", "do_convert_rgb"):
            if data.get(flag) is not None:
                if not isinstance(data[flag], bool):
                    raise ValueError(f"{flag}: expected true or false, got {data[flag]!r}")
                kwargs[flag] = data[flag]
        if kwargs.get("do_center_crop"):
            crop = data.get("crop_size")
            if isinstance(crop, int) and not isinstance(crop, bool):
                crop = {"height": crop, "width": crop}
            if not (isinstance(crop, dict) and set(crop) == {"height", "width"}):
                raise ValueError(f"crop_size: expected {{'height', 'width'}} with do_center_crop, got {crop!r}")
            kwargs.update(crop_height=crop["height"], crop_width=crop["width"])
        if data.get("rescale_factor") is not None:
            kwargs["rescale_factor"] = data["rescale_factor"]
        for name in ("image_mean", "image_std"):
            if data.get(name) is not None:
                kwargs[name] = _parse_triple(name, data[name])
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """The transformers-style dict that `from_dict` reads back to an equal config."""
        size = (
            {"shortest_edge": self.shortest_edge}
            if self.shortest_edge is not None
            else {"height": self.height, "width": self.width}
        )
        data: dict[str, Any] = {
            "image_processor_type": IMAGE_PROCESSOR_TYPE,
            "size": size,
            "resample": self.resample,
            "do_resize": self.do_resize,
            "do_center_crop": self.do_center_crop,
            "do_rescale": self.do_rescale,
            "rescale_factor": self.rescale_factor,
            "do_normalize": self.do_normalize,
            "image_mean": list(self.image_mean),
            "image_std": list(self.image_std),
            "do_convert_rgb": self.do_convert_rgb,
        }
        if self.do_center_crop:
            data["crop_size"] = {"height": self.crop_height, "width": self.crop_width}
        return data


class CrossLMMImageProcessor:
    """uint8 frames (T,H,W,C) -> float32 encoder input (T,3,S,S), batched over frames in chunks.

    Frames are resized on the uint8 grid (as PIL does), `chunk_size` frames at a time, straight
    into the preallocated output: 256 full-HD frames never need a full-resolution float copy
    (on CPU no full-resolution float exists at all; the float path used on GPUs holds one chunk).
    """

    def __init__(self, config: ImageProcessorConfig | None = None, *, chunk_size: int = 16) -> None:
        if not (isinstance(chunk_size, int) and chunk_size > 0):
            raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
        self.config = config if config is not None else ImageProcessorConfig()
        self.chunk_size = chunk_size
        mean = torch.tensor(self.config.image_mean, dtype=torch.float64)
        std = torch.tensor(self.config.image_std, dtype=torch.float64)
        rescale = self.config.rescale_factor if self.config.do_rescale else 1.0
        # out = (x * rescale - mean) / std, fused to one multiply-add per value (computed in float64)
        if self.config.do_normalize:
            scale, shift = rescale / std, -mean / std
        else:
            scale, shift = torch.full((3,), rescale, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
        self._scale = scale.to(torch.float32).view(1, 3, 1, 1)
        self._shift = shift.to(torch.float32).view(1, 3, 1, 1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config})"

    @property
    def output_size(self) -> tuple[int, int] | None:
        return self.config.output_size

    # --- files -------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: dict[str, Any], **kwargs: Any) -> CrossLMMImageProcessor:
        return cls(ImageProcessorConfig.from_dict(data), **kwargs)

    @classmethod
    def from_json_file(cls, path: str | Path, **kwargs: Any) -> CrossLMMImageProcessor:
        """Load from one JSON file (e.g. a `video_preprocessor_config.json`)."""
        data = read_json_object(path)
        try:
            return cls.from_dict(data, **kwargs)
        except ValueError as err:
            raise CheckpointFileError(path, str(err)) from err

    @classmethod
    def from_pretrained(cls, directory: str | Path, **kwargs: Any) -> CrossLMMImageProcessor:
        """Load `<directory>/preprocessor_config.json` (a llava-hf / SigLIP one or our own)."""
        return cls.from_json_file(Path(directory) / PREPROCESSOR_CONFIG_NAME, **kwargs)

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write `<directory>/preprocessor_config.json`; returns its path."""
        return write_json_object(Path(directory) / PREPROCESSOR_CONFIG_NAME, self.config.to_dict())

    def to_dict(self) -> dict[str, Any]:
        return self.config.to_dict()

    # --- pixels ------------------------------------------------------------------------------

    def __call__(
        self,
        frames: FrameArray,
        *,
        device: str | torch.device | None = None,
        out: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Preprocess uint8 frames (T,H,W,C) or one image (H,W,C); C is 3 (or 1/4 with do_convert_rgb).

        Returns float32 (T,3,S_h,S_w) on `device` (default: the input's device; numpy -> CPU).
        Resizing runs on that device too, so a GPU can do it for long videos. `out`: a float32
        tensor of that shape to fill (lets a caller stack videos without a second copy).
        """
        frames = self.validate(frames)  # (T,H,W,C) uint8, not copied
        if device is None:
            device = out.device if out is not None else (frames.device if isinstance(frames, torch.Tensor) else "cpu")
        device = torch.device(device)
        shape = (frames.shape[0], 3, *self._output_size_for(frames.shape[1], frames.shape[2]))
        if out is None:
            out = torch.empty(shape, dtype=torch.float32, device=device)
        elif tuple(out.shape) != shape or out.dtype != torch.float32 or out.device != device:
            raise ValueError(f"out must be float32 {shape} on {device}, got {out.dtype} {tuple(out.shape)} on {out.device}")
        scale, shift = self._scale.to(device), self._shift.to(device)
        for start in range(0, frames.shape[0], self.chunk_size):
            chunk = _chunk_as_tensor(frames[start : start + self.chunk_size]).to(device)  # (t,H,W,C) uint8
            chunk = _to_rgb(chunk).permute(0, 3, 1, 2)  # (t,3,H,W), channels-last in memory
            chunk = self._resize_and_crop(chunk)  # (t,3,S_h,S_w) uint8
            torch.addcmul(shift, chunk.float(), scale, out=out[start : start + chunk.shape[0]])
        return out

    def validate(self, frames: FrameArray) -> FrameArray:
        """Check frames without processing them: uint8, (T,H,W,C) or (H,W,C) -> (T,H,W,C), no copy."""
        frames = _validate_frames(frames)
        if not self.config.do_convert_rgb and frames.shape[-1] != 3:
            raise ValueError(f"frames have {frames.shape[-1]} channels and do_convert_rgb is off: expected 3 (RGB)")
        return frames

    def output_shape(self, frames: FrameArray) -> tuple[int, int, int, int]:
        """(T,3,S_h,S_w) that `self(frames)` returns, without processing anything."""
        frames = self.validate(frames)
        return (frames.shape[0], 3, *self._output_size_for(frames.shape[1], frames.shape[2]))

    def _output_size_for(self, height: int, width: int) -> tuple[int, int]:
        size = self.config.output_size
        return size if size is not None else (height, width)

    def _resize_target(self, height: int, width: int) -> tuple[int, int]:
        cfg = self.config
        if cfg.shortest_edge is None:
            return (cfg.height, cfg.width)
        if not cfg.do_center_crop:
            return (cfg.shortest_edge, cfg.shortest_edge)
        # transformers' get_resize_output_image_size(default_to_square=False): short side -> s,
        # long side int(s * long / short) (truncated, as transformers does).
        short, long = (height, width) if height <= width else (width, height)
        new_short, new_long = cfg.shortest_edge, int(cfg.shortest_edge * long / short)
        return (new_short, new_long) if height <= width else (new_long, new_short)

    def _resize_and_crop(self, chunk: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        if cfg.do_resize:
            chunk = resize_uint8(chunk, self._resize_target(*chunk.shape[-2:]), cfg.resample)
        if cfg.do_center_crop:
            height, width = chunk.shape[-2:]
            if height < cfg.crop_height or width < cfg.crop_width:
                raise ValueError(f"cannot center-crop {height}x{width} frames to {cfg.crop_height}x{cfg.crop_width}")
            top, left = (height - cfg.crop_height) // 2, (width - cfg.crop_width) // 2
            chunk = chunk[..., top : top + cfg.crop_height, left : left + cfg.crop_width]
        return chunk


def _validate_frames(frames: FrameArray) -> FrameArray:
    """Check dtype and layout; a single image (H,W,C) becomes (1,H,W,C). Never copies pixels."""
    if isinstance(frames, np.ndarray):
        if frames.dtype != np.uint8:
            raise TypeError(f"frames must be uint8, got numpy {frames.dtype}")
    elif isinstance(frames, torch.Tensor):
        if frames.dtype != torch.uint8:
            raise TypeError(f"frames must be uint8, got torch {frames.dtype}")
    else:
        raise TypeError(f"frames must be a uint8 numpy array or torch tensor, got {type(frames).__name__}")
    shape = tuple(frames.shape)
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] not in (1, 3, 4):
        raise ValueError(f"expected channels-last frames (T,H,W,3) or one image (H,W,3), got shape {shape}")
    if 0 in frames.shape:
        raise ValueError(f"no pixels to process: frames have shape {shape}")
    return frames


def _chunk_as_tensor(chunk: FrameArray) -> torch.Tensor:
    """A chunk of frames as a uint8 tensor, sharing memory with numpy input when its layout allows."""
    if isinstance(chunk, torch.Tensor):
        return chunk
    chunk = np.ascontiguousarray(chunk)  # copies only odd layouts (e.g. negative strides), chunk-sized
    with warnings.catch_warnings():
        # Decoders often return read-only arrays; we only read them, so torch's warning does not apply.
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(chunk)


def _to_rgb(frames: torch.Tensor) -> torch.Tensor:
    """(t,H,W,C) uint8 -> (t,H,W,3): grey repeated; alpha composited on white, as PIL does."""
    channels = frames.shape[-1]
    if channels == 3:
        return frames
    if channels == 1:
        return frames.expand(*frames.shape[:-1], 3)
    rgb, alpha = frames[..., :3].to(torch.int32), frames[..., 3:].to(torch.int32)
    # PIL alpha_composite over opaque white: round((c*a + 255*(255-a)) / 255), exact in integers
    return ((rgb * alpha + 255 * (255 - alpha) + 127) // 255).to(torch.uint8)


def _parse_resample(value: Any) -> int:
    if isinstance(value, str) and value.lower() in RESAMPLE_BY_NAME:
        return RESAMPLE_BY_NAME[value.lower()]
    if isinstance(value, int) and not isinstance(value, bool) and value in PIL_RESAMPLE:
        return value
    raise ValueError(f"resample: expected a PIL filter {sorted(PIL_RESAMPLE)} or its name, got {value!r}")


def _parse_triple(name: str, value: Any) -> tuple[float, float, float]:
    if is_finite_number(value):
        return (float(value),) * 3
    if isinstance(value, (list, tuple)) and len(value) == 3 and all(is_finite_number(v) for v in value):
        return tuple(float(v) for v in value)
    raise ValueError(f"{name}: expected a number or 3 numbers, got {value!r}")


def _check_positive_int(name: str, value: Any) -> None:
    if not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
