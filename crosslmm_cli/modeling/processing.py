"""`CrossLMMProcessor`: from a question and sampled frames to the model's inputs.

It joins three parts: the image processor (frames -> `pixel_values_videos`), the tokenizer with
its chat template (question, times, subtitles, history -> prompt -> ids), and the placeholder
expansion: each `<video>` in the text becomes T·tokens_per_frame (+1 if video_newline) copies of
the video token, the positions where the model writes the pooled visual tokens.

A checkpoint directory holds `processor_config.json` (the fields below), `preprocessor_config.json`
(the image processor) and the tokenizer's files; `from_pretrained` loads them without ever running
code from the directory, and names the file when one is missing or broken.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np
import torch

from crosslmm_cli.modeling.checkpoint_files import (
    CheckpointFileError,
    read_json_object,
    require_directory,
    write_json_object,
)
from crosslmm_cli.modeling.image_processing import CrossLMMImageProcessor
from crosslmm_cli.modeling.prompting import Subtitle, Turn, build_messages

if TYPE_CHECKING:
    from transformers import BatchFeature, PreTrainedTokenizerBase

PROCESSOR_CONFIG_NAME = "processor_config.json"
PROCESSOR_CLASS = "CrossLMMProcessor"

Video = Union[np.ndarray, torch.Tensor]  # uint8 (T,H,W,C), or one frame (H,W,C)


def is_positive_int(value: Any) -> bool:
    """An int above 0 as JSON gives it (true and false are not numbers here)."""
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


class CrossLMMProcessor:
    """Prompt building, tokenization with video placeholder expansion, and frame preprocessing."""

    def __init__(
        self,
        image_processor: CrossLMMImageProcessor,
        tokenizer: PreTrainedTokenizerBase,
        *,
        tokens_per_frame: int,
        video_newline: bool,
        video_token: str = "<video>",
        num_frames: int | None = None,
    ) -> None:
        if num_frames is not None and not is_positive_int(num_frames):
            raise ValueError(f"num_frames must be a positive integer or absent, got {num_frames!r}")
        if not is_positive_int(tokens_per_frame):
            raise ValueError(f"tokens_per_frame must be a positive integer, got {tokens_per_frame!r}")
        if not isinstance(video_newline, bool):
            raise ValueError(f"video_newline must be true or false, got {video_newline!r}")
        if not (isinstance(video_token, str) and video_token):
            raise ValueError(f"video_token must be a non-empty string, got {video_token!r}")
        ids = tokenizer.encode(video_token, add_special_tokens=False)
        if len(ids) != 1 or ids[0] == tokenizer.unk_token_id:
            raise ValueError(
                f"the tokenizer has no single token for the video placeholder {video_token!r} "
                f"(it encodes to {len(ids)} ids): add it as a special token"
            )
        self.image_processor = image_processor
        self.tokenizer = tokenizer
        self.tokens_per_frame = tokens_per_frame
        self.video_newline = video_newline
        self.video_token = video_token
        self.video_token_id: int = ids[0]
        self.num_frames = num_frames  # the frames this checkpoint was trained on: commands' default

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(tokens_per_frame={self.tokens_per_frame}, video_newline={self.video_newline}, "
            f"video_token={self.video_token!r}, num_frames={self.num_frames}, output_size={self.image_processor.output_size})"
        )

    def num_video_tokens(self, num_frames: int) -> int:
        """How many placeholder ids one video of `num_frames` frames expands to."""
        return num_frames * self.tokens_per_frame + int(self.video_newline)

    # --- files -------------------------------------------------------------------------------

    @classmethod
    def from_pretrained(cls, directory: str | Path, **overrides: Any) -> CrossLMMProcessor:
        """Load from a checkpoint directory (local; downloads are `checkpoints.loader.load_model`'s business).

        `overrides` replace fields of processor_config.json (e.g. `tokens_per_frame` to match a
        model loaded with another count)."""
        directory = require_directory(directory)
        config_path = directory / PROCESSOR_CONFIG_NAME
        fields = {**_read_processor_config(config_path), **overrides}
        image_processor = CrossLMMImageProcessor.from_pretrained(directory)
        tokenizer, tokenizer_path = _load_tokenizer(directory)
        try:
            return cls(image_processor, tokenizer, **fields)
        except ValueError as err:
            raise CheckpointFileError(tokenizer_path, str(err)) from err

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write processor_config.json, preprocessor_config.json and the tokenizer files."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        write_json_object(
            directory / PROCESSOR_CONFIG_NAME,
            {
                "processor_class": PROCESSOR_CLASS,
                "tokens_per_frame": self.tokens_per_frame,
                "video_newline": self.video_newline,
                "video_token": self.video_token,
                **({"num_frames": self.num_frames} if self.num_frames is not None else {}),
            },
        )
        self.image_processor.save_pretrained(directory)
        self.tokenizer.save_pretrained(str(directory))
        return directory

    # --- prompts -----------------------------------------------------------------------------

    def build_messages(
        self,
        question: str,
        *,
        timestamps: Sequence[float],
        duration: float,
        subtitles: Sequence[Subtitle] | None = None,
        history: Sequence[Turn] | None = None,
        system: str | None = None,
        segment: tuple[float, float] | None = None,
    ) -> list[dict[str, str]]:
        """Chat messages for one question; see `crosslmm_cli.modeling.prompting.build_messages`."""
        return build_messages(
            question,
            timestamps=timestamps,
            duration=duration,
            video_token=self.video_token,
            subtitles=subtitles,
            history=history,
            system=system,
            segment=segment,
        )

    def build_prompt(
        self,
        question: str,
        *,
        timestamps: Sequence[float],
        duration: float,
        subtitles: Sequence[Subtitle] | None = None,
        history: Sequence[Turn] | None = None,
        system: str | None = None,
        segment: tuple[float, float] | None = None,
    ) -> str:
        """The templated prompt text, ending with the assistant's generation prompt.

        `timestamps`: seconds of each sampled frame; `duration`: the video's length in seconds;
        `subtitles`: (start, end, text) items (those overlapping `segment` are kept);
        `history`: earlier (question, answer) turns; `segment`: the sampled (start, end) span.
        """
        messages = self.build_messages(
            question,
            timestamps=timestamps,
            duration=duration,
            subtitles=subtitles,
            history=history,
            system=system,
            segment=segment,
        )
        if not getattr(self.tokenizer, "chat_template", None):
            raise ValueError("the tokenizer has no chat template; cannot build a chat prompt")
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    # --- model inputs ------------------------------------------------------------------------

    def __call__(
        self,
        text: str | Sequence[str],
        videos: Video | Sequence[Video] | None = None,
        *,
        num_frames: int | None = None,
        return_tensors: str = "pt",
        padding_side: str = "left",
        device: str | torch.device | None = None,
    ) -> BatchFeature:
        """Tokenize `text`, expanding each `<video>`, and preprocess `videos` (one per placeholder).

        Returns a BatchFeature with `input_ids` and `attention_mask` (B, L), padded on
        `padding_side` ("left" for generation), and `pixel_values_videos` (V,T,3,S,S) float32 for
        the V videos in placeholder order. Every video needs the same T. Without `videos`, pass
        `num_frames` to expand placeholders for precomputed video features.
        """
        from transformers import BatchFeature

        if return_tensors != "pt":
            raise ValueError(f"return_tensors must be 'pt', got {return_tensors!r}")
        if padding_side not in ("left", "right"):
            raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
        texts = _as_texts(text)
        video_list = _as_videos(videos)
        ids_per_text = self.tokenizer(texts, add_special_tokens=False)["input_ids"]  # one id per <video>
        num_markers = sum(ids.count(self.video_token_id) for ids in ids_per_text)
        frames_per_video = self._frames_per_video(video_list, num_markers, num_frames)

        expansion = [self.video_token_id] * self.num_video_tokens(frames_per_video) if num_markers else []
        sequences = [_expand(ids, self.video_token_id, expansion) for ids in ids_per_text]
        input_ids, attention_mask = self._pad(sequences, padding_side)
        data: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask}
        if video_list:
            data["pixel_values_videos"] = self._preprocess_videos(video_list, device)
        return BatchFeature(data=data)

    def _frames_per_video(self, videos: list[Video], num_markers: int, num_frames: int | None) -> int:
        if num_frames is not None and not is_positive_int(num_frames):
            raise ValueError(f"num_frames must be a positive integer, got {num_frames!r}")
        if not videos:
            if num_markers and num_frames is None:
                raise ValueError(
                    f"the text has {num_markers} {self.video_token} placeholder(s) but no videos were given "
                    "(pass videos=..., or num_frames=... with precomputed video features)"
                )
            if num_frames is not None and not num_markers:
                raise ValueError(f"num_frames was given but the text has no {self.video_token} placeholder")
            return num_frames or 0
        if num_markers != len(videos):
            raise ValueError(
                f"the text has {num_markers} {self.video_token} placeholder(s) but {len(videos)} video(s) were given"
            )
        counts = [self.image_processor.validate(video).shape[0] for video in videos]
        if len(set(counts)) != 1:
            raise ValueError(f"every video in a batch needs the same number of frames, got {counts}")
        if num_frames is not None and num_frames != counts[0]:
            raise ValueError(f"num_frames={num_frames} but the videos have {counts[0]} frames")
        return counts[0]

    def _pad(self, sequences: list[list[int]], side: str) -> tuple[torch.Tensor, torch.Tensor]:
        length = max(len(ids) for ids in sequences)
        pad_id = self.tokenizer.pad_token_id
        if pad_id is None and any(len(ids) != length for ids in sequences):
            raise ValueError("the tokenizer has no pad token, so texts of different lengths cannot be batched")
        input_ids = torch.full((len(sequences), length), pad_id if pad_id is not None else 0, dtype=torch.long)
        attention_mask = torch.zeros((len(sequences), length), dtype=torch.long)
        for row, ids in enumerate(sequences):
            span = slice(length - len(ids), length) if side == "left" else slice(0, len(ids))
            input_ids[row, span] = torch.tensor(ids, dtype=torch.long)
            attention_mask[row, span] = 1
        return input_ids, attention_mask

    def _preprocess_videos(self, videos: list[Video], device: str | torch.device | None) -> torch.Tensor:
        shapes = [self.image_processor.output_shape(video) for video in videos]
        if len(set(shapes)) != 1:
            raise ValueError(f"videos give frames of different sizes {sorted(set(shapes))}; enable do_resize")
        if device is None:
            device = videos[0].device if isinstance(videos[0], torch.Tensor) else "cpu"
        out = torch.empty((len(videos), *shapes[0]), dtype=torch.float32, device=device)  # (V,T,3,S,S)
        for index, video in enumerate(videos):
            self.image_processor(video, out=out[index])
        return out

    # --- decoding ----------------------------------------------------------------------------

    def decode(self, token_ids: Any, **kwargs: Any) -> str:
        return self.tokenizer.decode(token_ids, **kwargs)

    def batch_decode(self, sequences: Any, **kwargs: Any) -> list[str]:
        return self.tokenizer.batch_decode(sequences, **kwargs)


def _expand(ids: list[int], video_token_id: int, expansion: list[int]) -> list[int]:
    out: list[int] = []
    for token in ids:
        if token == video_token_id:
            out.extend(expansion)
        else:
            out.append(token)
    return out


def _as_texts(text: str | Sequence[str]) -> list[str]:
    texts = [text] if isinstance(text, str) else list(text) if isinstance(text, (list, tuple)) else None
    if not texts or not all(isinstance(t, str) for t in texts):
        raise ValueError(f"text must be a string or a non-empty list of strings, got {type(text).__name__}")
    return texts


def _as_videos(videos: Video | Sequence[Video] | None) -> list[Video]:
    if videos is None:
        return []
    if isinstance(videos, (np.ndarray, torch.Tensor)):
        return [videos]
    if isinstance(videos, (list, tuple)):
        return list(videos)
    raise ValueError(f"videos must be a uint8 array, a list of them, or None; got {type(videos).__name__}")


def _read_processor_config(path: Path) -> dict[str, Any]:
    data = read_json_object(path)
    if data.get("processor_class", PROCESSOR_CLASS) != PROCESSOR_CLASS:
        raise CheckpointFileError(path, f"processor_class is {data['processor_class']!r}, expected {PROCESSOR_CLASS!r}")
    fields: dict[str, Any] = {}
    for name, check, expected in (
        ("tokens_per_frame", is_positive_int, "a positive integer"),
        ("video_newline", lambda v: isinstance(v, bool), "true or false"),
    ):
        if name not in data:
            raise CheckpointFileError(path, f"field {name!r} is missing")
        if not check(data[name]):
            raise CheckpointFileError(path, f"field {name!r}: expected {expected}, got {data[name]!r}")
        fields[name] = data[name]
    video_token = data.get("video_token", "<video>")
    if not (isinstance(video_token, str) and video_token):
        raise CheckpointFileError(path, f"field 'video_token': expected a non-empty string, got {video_token!r}")
    fields["video_token"] = video_token
    num_frames = data.get("num_frames")
    if num_frames is not None:
        if not is_positive_int(num_frames):
            raise CheckpointFileError(path, f"field 'num_frames': expected a positive integer, got {num_frames!r}")
        fields["num_frames"] = num_frames
    return fields


def checkpoint_default_frames(directory: str | Path) -> int | None:
    """The `num_frames` a checkpoint directory's processor_config.json gives, without loading anything
    (None: the file does not say, or there is no such file; a broken value is the loader's to report)."""
    path = Path(directory) / PROCESSOR_CONFIG_NAME
    try:
        value = read_json_object(path).get("num_frames")
    except CheckpointFileError:
        return None
    return value if is_positive_int(value) else None


def _load_tokenizer(directory: Path) -> tuple[PreTrainedTokenizerBase, Path]:
    """AutoTokenizer on a local directory, never running code from it; errors name the file."""
    from transformers import AutoTokenizer

    config_path = directory / "tokenizer_config.json"
    read_json_object(config_path)  # missing or corrupt: an error naming tokenizer_config.json
    tokenizer_path = directory / "tokenizer.json"
    if tokenizer_path.exists():
        read_json_object(tokenizer_path)  # corrupt: named here rather than deep in the tokenizers library
    else:
        tokenizer_path = config_path
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(directory), trust_remote_code=False, local_files_only=True)
    except Exception as err:  # transformers raises many types (OSError, ValueError, Exception from Rust)
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointFileError(tokenizer_path, f"cannot load the tokenizer: {message}") from err
    return tokenizer, tokenizer_path
