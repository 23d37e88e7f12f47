"""The distillation teacher: the same weights at many tokens per frame, cross-attention shut.

For each clip and generic prompt the teacher answers greedily, and its next-token distribution at
every answer position is kept as its top-k log-probabilities. Those are written to a safetensors
file per clip (`teacher-cache/<key>.safetensors`) keyed by the model files, the clip, the frame
sampling, the teacher settings and the prompts: the teacher runs once, however often the student
is trained.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from crosslmm_cli.training.frame_cache import ClipFrames


@dataclass(frozen=True)
class TeacherSettings:
    tokens_per_frame: int  # LLaVA-OneVision's own count for a conversion: 196
    pooling: str = "bilinear"  # LLaVA-OneVision's pooling
    max_new_tokens: int = 64
    top_k: int = 32

    def __post_init__(self) -> None:
        if self.top_k < 1 or self.max_new_tokens < 1:
            raise ValueError("teacher top-k and answer length must be >= 1")


@dataclass(frozen=True)
class TeacherTarget:
    """The teacher's answer to one prompt: ids (L,), top-k ids (L, k), their log-probs (L, k)."""

    prompt: str
    answer_ids: torch.Tensor
    topk_ids: torch.Tensor
    topk_logprobs: torch.Tensor


def model_fingerprint(model_dir: Path) -> list[Any]:
    """Identity of a checkpoint's weights: its config and weight files (name, size, mtime)."""
    files = sorted(p for p in model_dir.iterdir() if p.suffix in (".json", ".safetensors"))
    return [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]


def cache_key(model_dir: Path, video: Path, sampling: dict[str, Any], settings: TeacherSettings,
              prompts: tuple[str, ...]) -> str:
    stat = video.stat()
    identity = {"model": model_fingerprint(model_dir), "video": [str(video.resolve()), stat.st_size, stat.st_mtime_ns],
                "sampling": sampling, "teacher": asdict(settings), "prompts": list(prompts)}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:40]


def teacher_processor(processor: Any, tokens_per_frame: int) -> Any:
    """The student's processor with the teacher's placeholder length."""
    from crosslmm_cli.modeling.processing import CrossLMMProcessor

    return CrossLMMProcessor(processor.image_processor, processor.tokenizer, tokens_per_frame=tokens_per_frame,
                             video_newline=processor.video_newline, video_token=processor.video_token)


def run_teacher(model: Any, processor: Any, clip: ClipFrames, prompts: tuple[str, ...],
                settings: TeacherSettings, *, pixels: torch.Tensor | None = None) -> list[TeacherTarget]:
    """Greedy teacher answers to `prompts` about `clip` with their top-k next-token log-probs.

    `pixels`: the clip's image-processor output when a frame cache already made it (the student's
    `FrameLoader.pixels`: teacher and student then see the very same pixels); else from `clip.frames`."""
    import torch

    from crosslmm_cli.engine.encoding import encode_frames, encode_pixels
    from crosslmm_cli.engine.generation import greedy_kwargs, prompt_inputs

    processor_t = teacher_processor(processor, settings.tokens_per_frame)
    features = (encode_pixels(model, pixels) if pixels is not None else encode_frames(model, processor_t, clip.frames))[None]
    inputs = prompt_inputs(processor_t, prompts, clip, model.device)
    batch = len(prompts)
    kwargs = greedy_kwargs(model, processor, settings.max_new_tokens)
    with torch.no_grad():
        out = model.generate(**inputs, video_features=features.expand(batch, *features.shape[1:]),
                             tokens_per_frame=settings.tokens_per_frame, pooling=settings.pooling, cross_attention=[],
                             output_logits=True, return_dict_in_generate=True, **kwargs)
    new_tokens = out.sequences[:, inputs["input_ids"].shape[1]:].cpu()
    logprobs = torch.stack(out.logits, dim=1).float().log_softmax(-1).cpu()  # (B, L, V)
    k = min(settings.top_k, logprobs.shape[-1])
    top_logprobs, top_ids = logprobs.topk(k, dim=-1)
    stops = kwargs.get("eos_token_id", model.generation_config.eos_token_id)
    stops = set(stops if isinstance(stops, (list, tuple)) else [stops])
    targets = []
    for row, prompt in enumerate(prompts):
        ids = new_tokens[row].tolist()
        length = next((i + 1 for i, token in enumerate(ids) if token in stops), len(ids))  # through the first stop
        targets.append(TeacherTarget(prompt, new_tokens[row, :length].clone(), top_ids[row, :length].clone(),
                                     top_logprobs[row, :length].clone()))
    return targets


def save_targets(path: Path, targets: list[TeacherTarget]) -> None:
    from safetensors.torch import save_file

    tensors = {}
    for index, target in enumerate(targets):
        tensors[f"{index}/answer_ids"] = target.answer_ids.contiguous()
        tensors[f"{index}/topk_ids"] = target.topk_ids.contiguous()
        tensors[f"{index}/topk_logprobs"] = target.topk_logprobs.contiguous()
    metadata = {"prompts": json.dumps([t.prompt for t in targets])}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    save_file(tensors, str(partial), metadata=metadata)
    partial.replace(path)


def load_targets(path: Path) -> list[TeacherTarget] | None:
    """Cached targets, or None when absent or unreadable (then the teacher runs again)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            prompts = json.loads(handle.metadata()["prompts"])
            return [TeacherTarget(prompt, handle.get_tensor(f"{i}/answer_ids"), handle.get_tensor(f"{i}/topk_ids"),
                                  handle.get_tensor(f"{i}/topk_logprobs")) for i, prompt in enumerate(prompts)]
    except (OSError, KeyError, ValueError, RuntimeError):
        return None


def topk_kl(student_logits: torch.Tensor, topk_ids: torch.Tensor, topk_logprobs: torch.Tensor) -> torch.Tensor:
    """KL(teacher || student) per position over the teacher's top-k tokens plus one "rest" bucket.

    student_logits (n, V); topk_ids / topk_logprobs (n, k). Lumping the tokens outside the top-k
    into one bucket gives a proper KL between two (k+1)-way distributions: never above the full
    KL, equal to it when k covers the vocabulary. Returns (n,).
    """
    import torch

    log_q = student_logits.float().log_softmax(-1)
    log_q_top = log_q.gather(-1, topk_ids)
    log_p_top = topk_logprobs.float()
    p_top = log_p_top.exp()
    kl = (p_top * (log_p_top - log_q_top)).sum(-1)
    # The student's mass outside the top-k, summed from its own outside entries rather than as
    # 1 - sum(top-k): that difference is rounding noise (~1e-7) when the top-k hold nearly all the
    # mass, and its log then dominated the result. The top-k entries are set to the smallest
    # float, not -inf, so a full top-k still has a finite log and finite gradients.
    tiny = torch.finfo(torch.float32).tiny
    log_q_rest = log_q.scatter(-1, topk_ids, math.log(tiny)).logsumexp(-1)
    # The teacher's outside mass is known only as 1 - sum(top-k): below the rounding error of
    # that sum (k float32 epsilons) it is zero.
    p_rest = 1 - p_top.sum(-1)
    p_rest = torch.where(p_rest > topk_ids.shape[-1] * torch.finfo(torch.float32).eps, p_rest, torch.zeros_like(p_rest))
    rest = p_rest * (p_rest.clamp_min(tiny).log() - log_q_rest)
    return kl + torch.where(p_rest > 0, rest, torch.zeros_like(kl))
